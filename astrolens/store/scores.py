"""Scores and the calibrations they were judged by.

Implements ``astrolens.domain.store_ports.ScoreStore``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from peewee import fn

from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogVerdict
from astrolens.domain.images import ImageGroup, ImageRecord
from astrolens.domain.reference import REFERENCE, ReferenceRule
from astrolens.domain.scoring import Calibration, ScoreResult
from astrolens.store import convert
from astrolens.store.base import SqliteStoreBase, bound, chunks
from astrolens.store.candidates import CANDIDATE_VERDICTS, load_candidates, new_candidate_row
from astrolens.store.models import (
    CalibrationRow,
    CandidateRow,
    ImageRow,
    ScoreRow,
    utcnow,
)


class SqliteScores(SqliteStoreBase):
    """``ScoreStore`` on SQLite."""

    @bound
    def add_score(self, image_id: int, model_id: str, result: ScoreResult) -> Candidate | None:
        """Store a score; returns the image's candidate when it has one (as it now stands)."""
        with self._db.atomic():
            return self._insert_score(image_id, model_id, result)

    @bound
    def add_scores(
        self, model_id: str, scored: Sequence[tuple[int, ScoreResult]]
    ) -> list[tuple[ImageRecord, Candidate | None]]:
        """Many scores of stored images in one transaction (a bootstrap batch), each with
        its image and its candidate, so the caller reads nothing back."""
        out: list[tuple[ImageRecord, Candidate | None]] = []
        with self._db.atomic():
            rows = {}
            with_candidate: set[int] = set()
            for chunk in chunks([image_id for image_id, _ in scored]):
                rows.update({r.id: r for r in ImageRow.select().where(ImageRow.id.in_(chunk))})
                # One query for the chunk instead of one per image: a bootstrap batch is
                # new images, almost none of which has a candidate yet.
                found = CandidateRow.select(CandidateRow.image).where(CandidateRow.image.in_(chunk))
                with_candidate.update(int(c.image_id) for c in found)
            for image_id, result in scored:
                row = rows.get(image_id)
                if row is None:  # deleted meanwhile: nothing to score
                    continue
                candidate = self._insert_score(
                    image_id,
                    model_id,
                    result,
                    image=row,
                    has_candidate=image_id in with_candidate,
                )
                out.append((convert.image_record(row), candidate))
        return out

    def _insert_score(
        self,
        image_id: int,
        model_id: str,
        result: ScoreResult,
        *,
        image: ImageRow | None = None,
        new_image: bool = False,
        has_candidate: bool | None = None,
    ) -> Candidate | None:
        """Insert the score row and create or move the candidate. `image` saves a read;
        `new_image` says it was inserted in this transaction (no label or answer yet), so
        its candidate is built here rather than read back. `has_candidate` is whether the
        image has a candidate already, when the caller knows."""
        thresholds = result.thresholds
        score_row = ScoreRow.create(
            image=image_id,
            model_id=model_id,
            score=float(result.score),
            p_value=float(result.p_value),
            verdict=result.verdict.value,
            detector_scores_json=convert.dumps(
                {k: float(v) for k, v in result.detector_scores.items()}
            ),
            calibration_version=result.calibration_version,
            anomaly_p=thresholds.anomaly_p if thresholds else None,
            near_miss_p=thresholds.near_miss_p if thresholds else None,
        )
        # `has_candidate` False: the caller looked (for a whole batch) and there is none.
        looked_for = new_image or has_candidate is False
        existing = None if looked_for else CandidateRow.get_or_none(CandidateRow.image == image_id)
        if existing is None and result.verdict not in CANDIDATE_VERDICTS:
            return None
        # A candidate follows its image's latest score, even one that turned normal after a
        # recalibration: its labels and cross-matches stay, and the gallery filters it out.
        now = utcnow()
        if existing is None:
            image = image if image is not None else ImageRow.get_by_id(image_id)
            created = new_candidate_row(
                image, score_row, model_id, result.verdict.value, float(result.score), now
            )
            if new_image:
                return Candidate(
                    image=convert.image_record(image),
                    result=convert.score_result(score_row),
                    model_id=model_id,
                    catalog_verdict=CatalogVerdict(created.catalog_verdict),
                )
            return load_candidates([created])[0]
        CandidateRow.update(
            score_row=score_row.id,
            model_id=model_id,
            verdict=result.verdict.value,
            score=float(result.score),
            updated_at=now,
        ).where(CandidateRow.id == existing.id).execute()
        return load_candidates([CandidateRow.get_by_id(existing.id)])[0]

    @bound
    def latest_score(self, image_id: int, model_id: str) -> ScoreResult | None:
        row = (
            ScoreRow.select()
            .where((ScoreRow.image == image_id) & (ScoreRow.model_id == model_id))
            .order_by(ScoreRow.id.desc())
            .first()
        )
        return convert.score_result(row) if row is not None else None

    @bound
    def recent_scores(self, model_id: str, limit: int = 500) -> list[ScoreResult]:
        """The latest `limit` judgements by one model, newest first, with the thresholds each
        was judged by: the histogram after a restart, and the cut that was really applied."""
        rows = (
            ScoreRow.select()
            .where(ScoreRow.model_id == model_id)
            .order_by(ScoreRow.id.desc())  # type: ignore[attr-defined]
            .limit(limit)
        )
        return [convert.score_result(row) for row in rows]

    @bound
    def save_calibration(self, calibration: Calibration) -> Calibration:
        """Store with the next version number (global, so a score's version is unambiguous)."""
        with self._db.atomic():
            version = int(CalibrationRow.select(fn.MAX(CalibrationRow.version)).scalar() or 0) + 1
            CalibrationRow.create(
                version=version,
                model_id=calibration.model_id,
                image_group=calibration.group,
                reference_size=calibration.reference_size,
                fdr=calibration.fdr,
                anomaly_p=calibration.thresholds.anomaly_p,
                near_miss_p=calibration.thresholds.near_miss_p,
                bootstrap=calibration.bootstrap,
                created_at=calibration.created_at,
            )
        return dataclasses.replace(calibration, version=version)

    @bound
    def latest_calibration(self, model_id: str, group: ImageGroup) -> Calibration | None:
        row = (
            CalibrationRow.select()
            .where((CalibrationRow.model_id == model_id) & (CalibrationRow.image_group == group))
            .order_by(CalibrationRow.version.desc())
            .first()
        )
        return convert.calibration(row) if row is not None else None

    @bound
    def calibration_by_version(self, version: int) -> Calibration | None:
        row = CalibrationRow.get_or_none(CalibrationRow.version == version)
        return convert.calibration(row) if row is not None else None

    @bound
    def count_normal_scores(
        self, model_id: str, calibration_version: int, *, rule: ReferenceRule = REFERENCE
    ) -> int:
        """How many images this calibration judged normal by `rule`'s verdicts (its refit
        schedule counts the new reference images)."""
        return int(
            ScoreRow.select()
            .where(
                (ScoreRow.model_id == model_id)
                & (ScoreRow.calibration_version == calibration_version)
                & ScoreRow.verdict.in_(sorted(v.value for v in rule.verdicts))
            )
            .count()
        )
