"""The notifier for headless runs: it logs what it would have shown."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from astrolens.domain.candidates import Candidate

log = logging.getLogger(__name__)


class NullNotifier:
    def __init__(self) -> None:
        self.sent: list[int] = []

    async def available(self) -> tuple[bool, str]:
        return False, "notifications are off (headless)"

    async def notify_candidates(self, candidates: Sequence[Candidate], scanned: str = "") -> None:
        if scanned and candidates:
            log.info("%d anomalies in %s", len(candidates), scanned)
        for c in candidates:
            self.sent.append(c.id)
            log.info("anomaly #%d: %s", c.id, c.result.explain())
