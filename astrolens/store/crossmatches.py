"""Catalog answers per image and service, and the candidates still waiting for one.

Implements ``astrolens.domain.store_ports.CrossMatchStore``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogVerdict, CrossMatch, MatchStatus, catalog_verdict
from astrolens.domain.scoring import Verdict
from astrolens.store import convert
from astrolens.store.base import SqliteStoreBase, bound
from astrolens.store.candidates import load_candidates
from astrolens.store.models import (
    CandidateRow,
    CrossMatchRow,
    ImageRow,
    utcnow,
)


def default_retry_delay(attempts: int) -> timedelta:
    """How long to wait before asking a failed catalog again: 5 min doubling, capped at a day."""
    return min(timedelta(minutes=5) * (1 << max(0, attempts - 1)), timedelta(days=1))


class SqliteCrossMatches(SqliteStoreBase):
    """``CrossMatchStore`` on SQLite."""

    @bound
    def save_crossmatch(self, image_id: int, result: CrossMatch) -> None:
        """Keep each service's latest answer; an error schedules its own retry."""
        with self._db.atomic():
            self._save_crossmatch(image_id, result)

    @bound
    def save_crossmatches(self, image_id: int, results: Sequence[CrossMatch]) -> Candidate | None:
        """Every catalog's answer for one image in one transaction; returns the candidate
        as it now stands (with its new catalog verdict), or None if it has none."""
        with self._db.atomic():
            for result in results:
                self._save_crossmatch(image_id, result)
            row = CandidateRow.get_or_none(CandidateRow.image == image_id)
            return load_candidates([row])[0] if row is not None else None

    def _save_crossmatch(self, image_id: int, result: CrossMatch) -> None:
        now = utcnow()
        previous = CrossMatchRow.get_or_none(
            (CrossMatchRow.image == image_id) & (CrossMatchRow.service == result.service)
        )
        attempts = (previous.attempts if previous is not None else 0) + 1
        failed = result.status is MatchStatus.ERROR
        retry_at = now + self._retry_delay(attempts) if failed else None
        values = {
            "catalog": result.catalog,
            "status": result.status.value,
            "radius_arcsec": result.radius_arcsec,
            "objects_json": convert.dumps(
                [convert.catalog_object_to_dict(o) for o in result.objects]
            ),
            "reason": result.reason,
            "attempts": attempts,
            "checked_at": result.checked_at or now,
            "next_retry_at": retry_at,
        }
        if previous is None:
            CrossMatchRow.create(image=image_id, service=result.service, **values)
        else:
            CrossMatchRow.update(**values).where(CrossMatchRow.id == previous.id).execute()
        answers = [
            convert.crossmatch(r)
            for r in CrossMatchRow.select().where(CrossMatchRow.image == image_id)
        ]
        CandidateRow.update(catalog_verdict=catalog_verdict(answers).value, updated_at=now).where(
            CandidateRow.image == image_id
        ).execute()

    @bound
    def pending_crossmatches(
        self, limit: int, verdicts: Sequence[Verdict] = (Verdict.ANOMALY,)
    ) -> list[Candidate]:
        """Candidates with a sky position whose catalog answer is missing or due for a retry.

        A candidate waits while any of its failed services is inside its back-off window.
        Anomalies come first, then by score.
        """
        now = utcnow()
        waiting = CrossMatchRow.select(CrossMatchRow.image).where(
            (CrossMatchRow.status == MatchStatus.ERROR.value) & (CrossMatchRow.next_retry_at > now)
        )
        rows = (
            CandidateRow.select(CandidateRow)
            .join(ImageRow)
            .where(
                CandidateRow.verdict.in_([v.value for v in verdicts])
                & CandidateRow.catalog_verdict.in_(
                    [CatalogVerdict.PENDING.value, CatalogVerdict.INCOMPLETE.value]
                )
                & ImageRow.ra_deg.is_null(False)
                & ImageRow.dec_deg.is_null(False)
                & CandidateRow.image.not_in(waiting)
            )
            .order_by(
                (CandidateRow.verdict == Verdict.ANOMALY.value).desc(), CandidateRow.score.desc()
            )
            .limit(limit)
        )
        return load_candidates(list(rows))
