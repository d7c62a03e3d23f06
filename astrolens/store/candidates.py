"""The review queue: candidates, their filters and their learned ranking.

Implements ``astrolens.domain.store_ports.CandidateStore``; `load_candidates` builds the
domain candidates every part of the store returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogVerdict, CrossMatch
from astrolens.domain.labels import Label
from astrolens.domain.records import (
    DEFAULT_CANDIDATE_VERDICTS,
    CandidateFilter,
    CandidateOrder,
    LabelState,
)
from astrolens.domain.scoring import Verdict
from astrolens.store import convert
from astrolens.store.base import SqliteStoreBase, bound, chunks
from astrolens.store.database import execute_many
from astrolens.store.models import (
    CandidateRow,
    CrossMatchRow,
    ImageRow,
    LabelRow,
    ScoreRow,
    utcnow,
)

# The verdicts that put an image into the review queue.
CANDIDATE_VERDICTS = frozenset({Verdict.ANOMALY, Verdict.NEAR_MISS})


def new_candidate_row(
    image: ImageRow,
    score_row: ScoreRow,
    model_id: str,
    verdict: str,
    score: float,
    now: datetime | None = None,
) -> CandidateRow:
    """A new review-queue row for `image`, judged by `score_row`. Without a sky position no
    catalog can be asked: it says so instead of "pending" forever."""
    now = now or utcnow()
    positioned = image.ra_deg is not None and image.dec_deg is not None
    return CandidateRow.create(
        image=image.id,
        score_row=score_row.id,
        model_id=model_id,
        source_id=image.source_id,
        catalog_verdict=(
            CatalogVerdict.PENDING if positioned else CatalogVerdict.NO_POSITION
        ).value,
        verdict=verdict,
        score=score,
        created_at=now,
        updated_at=now,
    )


def load_candidates(candidate_rows: Sequence[CandidateRow]) -> list[Candidate]:
    """Build domain candidates for one page: three queries, whatever the page size (call
    with the models bound, inside a `bound` method)."""
    if not candidate_rows:
        return []
    image_ids = [c.image_id for c in candidate_rows]
    images: dict[int, ImageRow] = {}
    scores: dict[int, ScoreRow] = {}
    matches: dict[int, list[CrossMatch]] = {}
    labels: dict[int, Label] = {}
    score_ids = [c.score_row_id for c in candidate_rows]
    for chunk in chunks(image_ids):
        images.update({r.id: r for r in ImageRow.select().where(ImageRow.id.in_(chunk))})
        for xm in (
            CrossMatchRow.select()
            .where(CrossMatchRow.image.in_(chunk))
            .order_by(CrossMatchRow.service)
        ):
            matches.setdefault(xm.image_id, []).append(convert.crossmatch(xm))
        for lab in LabelRow.select().where(LabelRow.image.in_(chunk)).order_by(LabelRow.id):
            labels[lab.image_id] = convert.label(lab)  # ascending: the latest wins
    for chunk in chunks(score_ids):
        scores.update({r.id: r for r in ScoreRow.select().where(ScoreRow.id.in_(chunk))})
    return [
        Candidate(
            image=convert.image_record(images[c.image_id]),
            result=convert.score_result(scores[c.score_row_id]),
            model_id=c.model_id,
            crossmatches=tuple(matches.get(c.image_id, ())),
            catalog_verdict=CatalogVerdict(c.catalog_verdict),
            label=labels.get(c.image_id),
            rank_score=c.rank_score,
        )
        for c in candidate_rows
    ]


class SqliteCandidates(SqliteStoreBase):
    """``CandidateStore`` on SQLite."""

    @bound
    def keep_for_review(self, image_ids: Sequence[int], model_id: str) -> int:
        """Put images into the review queue whatever their verdict (their latest score of
        `model_id`): the most unusual of a first scan, which no FDR test can pass yet, so a
        new user has something to look at and label. Returns how many were added."""
        added = 0
        with self._db.atomic():
            for image_id in image_ids:
                if CandidateRow.get_or_none(CandidateRow.image == image_id) is not None:
                    continue
                score_row = (
                    ScoreRow.select()
                    .where((ScoreRow.image == image_id) & (ScoreRow.model_id == model_id))
                    .order_by(ScoreRow.id.desc())
                    .first()
                )
                image = ImageRow.get_or_none(ImageRow.id == image_id)
                if score_row is None or image is None:
                    continue
                new_candidate_row(
                    image, score_row, model_id, score_row.verdict, float(score_row.score)
                )
                added += 1
        return added

    def _filtered(self, flt: CandidateFilter) -> Any:
        query = CandidateRow.select()
        if flt.verdicts:
            query = query.where(CandidateRow.verdict.in_([v.value for v in flt.verdicts]))
        if flt.source_id is not None:
            query = query.where(CandidateRow.source_id == flt.source_id)
        if flt.label_state is LabelState.UNLABELLED:
            query = query.where(CandidateRow.label_value.is_null())
        elif flt.label_state is LabelState.LABELLED:
            query = query.where(CandidateRow.label_value.is_null(False))
        elif flt.label_state is not LabelState.ANY:
            query = query.where(CandidateRow.label_value == flt.label_state.value)
        if flt.catalog_verdicts:
            query = query.where(
                CandidateRow.catalog_verdict.in_([c.value for c in flt.catalog_verdicts])
            )
        if flt.min_score is not None:
            query = query.where(CandidateRow.score >= flt.min_score)
        return query

    @bound
    def query_candidates(
        self, flt: CandidateFilter | None = None, limit: int = 100, offset: int = 0
    ) -> list[Candidate]:
        flt = flt or CandidateFilter()
        query = self._filtered(flt)
        if flt.order is CandidateOrder.RANK_SCORE:
            query = query.order_by(
                CandidateRow.rank_score.desc(nulls="LAST"), CandidateRow.score.desc()
            )
        elif flt.order is CandidateOrder.NEWEST:
            query = query.order_by(CandidateRow.created_at.desc(), CandidateRow.id.desc())
        else:
            query = query.order_by(CandidateRow.score.desc(), CandidateRow.id.desc())
        return load_candidates(list(query.limit(limit).offset(offset)))

    @bound
    def count_candidates(self, flt: CandidateFilter | None = None) -> int:
        return int(self._filtered(flt or CandidateFilter()).count())

    def candidates(
        self,
        verdicts: Sequence[Verdict] = DEFAULT_CANDIDATE_VERDICTS,
        limit: int = 100,
        offset: int = 0,
        *,
        source_id: str | None = None,
        label_state: LabelState = LabelState.ANY,
        catalog_verdicts: Sequence[CatalogVerdict] = (),
        min_score: float | None = None,
        order: CandidateOrder = CandidateOrder.SCORE,
    ) -> list[Candidate]:
        flt = CandidateFilter(
            verdicts=tuple(verdicts),
            source_id=source_id,
            label_state=label_state,
            catalog_verdicts=tuple(catalog_verdicts),
            min_score=min_score,
            order=order,
        )
        return self.query_candidates(flt, limit, offset)

    @bound
    def get_candidate(self, image_id: int) -> Candidate | None:
        row = CandidateRow.get_or_none(CandidateRow.image == image_id)
        return load_candidates([row])[0] if row is not None else None

    @bound
    def set_rank_score(self, image_id: int, rank_score: float | None) -> None:
        """The learned ranking of a candidate (from the user's labels)."""
        CandidateRow.update(rank_score=rank_score, updated_at=utcnow()).where(
            CandidateRow.image == image_id
        ).execute()

    @bound
    def set_rank_scores(self, scores: Sequence[tuple[int, float]]) -> None:
        """A whole re-ranked queue in one transaction (one commit, not one per candidate)."""
        table = CandidateRow._meta.table_name  # type: ignore[attr-defined]
        now = CandidateRow.updated_at.db_value(utcnow())  # type: ignore[no-untyped-call]
        rows = [(float(score), now, int(image_id)) for image_id, score in scores]
        with self._db.atomic():
            execute_many(
                self._db,
                f"UPDATE {table} SET rank_score = ?, updated_at = ? WHERE image_id = ?",
                rows,
            )
