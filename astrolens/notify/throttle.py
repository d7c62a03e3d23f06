"""When to show anomalies one by one and when to group them.

A burst must not bury the user: a few anomalies a minute each get their own notification;
beyond that they are held and shown together as one grouped notification, at most one group
per window. Pure logic with an injected clock, so the rules are tested without waiting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outgoing(Generic[T]):
    items: tuple[T, ...]

    @property
    def grouped(self) -> bool:
        return len(self.items) > 1


@dataclass
class NotificationThrottle(Generic[T]):
    max_individual: int = 3  # per window, shown one by one
    window_s: float = 60.0
    _sent_at: deque[float] = field(default_factory=deque)
    _group_at: float | None = None
    _pending: list[T] = field(default_factory=list)

    def offer(self, items: Sequence[T], now: float) -> None:
        self._pending.extend(items)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self, now: float) -> tuple[list[Outgoing[T]], float | None]:
        """What to show now, and when to call again (None: nothing is held)."""
        while self._sent_at and now - self._sent_at[0] >= self.window_s:
            self._sent_at.popleft()
        if not self._pending:
            return [], None
        budget = self.max_individual - len(self._sent_at)
        if len(self._pending) <= budget:
            out = [Outgoing((item,)) for item in self._pending]
            self._sent_at.extend([now] * len(self._pending))
            self._pending.clear()
            return out, None
        group_ok = self._group_at is None or now - self._group_at >= self.window_s
        if len(self._pending) > 1 and group_ok:
            # Too many for one-by-one: one grouped notification for all that is held.
            group = Outgoing(tuple(self._pending))
            self._pending.clear()
            self._group_at = now
            return [group], None
        # Hold: until a one-by-one slot frees up, or a group is allowed again.
        next_slot = self._sent_at[0] + self.window_s if self._sent_at else now
        next_group = self._group_at + self.window_s if self._group_at is not None else now
        return [], max(now, min(next_slot, next_group) if len(self._pending) > 1 else next_slot)
