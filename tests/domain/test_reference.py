"""Which images count as a detector's reference, by the rule alone (no database)."""

from __future__ import annotations

import pytest

from astrolens.domain.labels import LabelValue
from astrolens.domain.reference import REFERENCE, ReferenceRule
from astrolens.domain.scoring import Verdict


@pytest.mark.parametrize(
    ("verdict", "label", "admitted"),
    [
        (Verdict.NORMAL, None, True),
        (None, None, True),  # not scored yet: the bootstrap reference
        (Verdict.ANOMALY, None, False),
        (Verdict.NEAR_MISS, None, False),
        (Verdict.ANOMALY, LabelValue.FALSE_POSITIVE, True),  # a person said it is normal
        (Verdict.NORMAL, LabelValue.TRUE_POSITIVE, False),  # a confirmed anomaly never
        (None, LabelValue.TRUE_POSITIVE, False),
        (Verdict.NORMAL, LabelValue.UNSURE, True),  # unsure changes nothing
        (Verdict.ANOMALY, LabelValue.UNSURE, False),
    ],
)
def test_the_default_rule(
    verdict: Verdict | None, label: LabelValue | None, admitted: bool
) -> None:
    assert REFERENCE.admits(verdict, label) is admitted


def test_a_veto_beats_a_vouch() -> None:
    both = ReferenceRule(
        vouched=frozenset({LabelValue.TRUE_POSITIVE}), vetoed=frozenset({LabelValue.TRUE_POSITIVE})
    )
    assert not both.admits(Verdict.NORMAL, LabelValue.TRUE_POSITIVE)


def test_unscored_images_can_be_left_out() -> None:
    scored_only = ReferenceRule(unscored=False)
    assert not scored_only.admits(None, None)
    assert scored_only.admits(Verdict.NORMAL, None)
    assert scored_only.admits(None, LabelValue.FALSE_POSITIVE)


def test_a_kind_admits_only_images_of_that_kind() -> None:
    galaxies = REFERENCE.of_kind("galaxy")
    assert galaxies.admits(Verdict.NORMAL, None, kind="galaxy")
    assert not galaxies.admits(Verdict.NORMAL, None, kind="star")
    assert not galaxies.admits(Verdict.NORMAL, None, kind=None)  # stored before kinds existed
    assert REFERENCE.admits(Verdict.NORMAL, None, kind=None)
    assert galaxies.of_kind(None) == REFERENCE


def test_other_verdicts_can_count_as_normal() -> None:
    lenient = ReferenceRule(verdicts=frozenset({Verdict.NORMAL, Verdict.NEAR_MISS}))
    assert lenient.admits(Verdict.NEAR_MISS, None)
    assert not lenient.admits(Verdict.ANOMALY, None)
