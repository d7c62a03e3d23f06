"""Server-sent events: pipeline events as `event: <kind>` + JSON lines, one queue per client.

A slow client never slows the agent: its queue is bounded and, when full, the oldest events
are dropped (the client sees a `dropped` count in the next message).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from astrolens.domain.events import (
    AnnotationAdded,
    CandidateFound,
    CatalogChecked,
    CycleFinished,
    Event,
    ImageScored,
    LabelAdded,
    PipelineStateChanged,
)

QUEUE_SIZE = 1000
KEEPALIVE_S = 15.0
_CLOSED = object()


def event_payload(event: Event) -> tuple[str, dict[str, Any]] | None:
    """(SSE event name, JSON data) for the events a client cares about; None for the rest."""
    match event:
        case ImageScored() as e:
            return "image_scored", {
                "image_id": e.image_id,
                "source": e.source_id,
                "verdict": e.verdict.value,
                "score": e.score,
                "p_value": e.p_value,
            }
        case CandidateFound(candidate=c):
            return "candidate_found", {
                "image_id": c.id,
                "verdict": c.result.verdict.value,
                "score": c.result.score,
                "p_value": c.result.p_value,
            }
        case CatalogChecked(image_id=i, verdict=v):
            return "catalog_checked", {"image_id": i, "catalog_verdict": v.value}
        case LabelAdded(label=label):
            return "label_added", {
                "image_id": label.image_id,
                "value": label.value.value,
                "note": label.note,
                "origin": label.origin,
            }
        case AnnotationAdded(annotation=a):
            return "annotation_added", {
                "image_id": a.image_id,
                "provider": a.provider,
                "model": a.model,
            }
        case PipelineStateChanged(state=state, message=message):
            return "state", {"state": state.value, "message": message}
        case CycleFinished() as e:
            return "cycle_finished", {
                "cycle": e.cycle,
                "ingested": e.ingested,
                "anomalies": e.anomalies,
                "near_misses": e.near_misses,
            }
    return None


class EventHub:
    """Subscribes to the controller once; fans events out to every connected client."""

    def __init__(self, subscribe: Callable[[Callable[[Event], None]], Callable[[], None]]):
        self._queues: set[asyncio.Queue[Any]] = set()
        self._seq = 0
        self._unsubscribe = subscribe(self._on_event)

    @property
    def clients(self) -> int:
        return len(self._queues)

    def _on_event(self, event: Event) -> None:
        payload = event_payload(event)
        if payload is None or not self._queues:
            return
        self._seq += 1
        item = (self._seq, *payload)
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()  # drop the oldest: a stuck client must not hold memory
            queue.put_nowait(item)

    async def stream(self) -> AsyncIterator[str]:
        queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield ": connected\n\n"  # lets a client know the stream is open
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if item is _CLOSED:
                    return
                seq, name, data = item
                yield f"id: {seq}\nevent: {name}\ndata: {json.dumps(data)}\n\n"
        finally:
            self._queues.discard(queue)

    def close(self) -> None:
        """End every stream (the server is stopping) and stop listening to the agent."""
        self._unsubscribe()
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(_CLOSED)
