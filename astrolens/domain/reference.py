"""Which stored images count as a detector's reference: the images it may treat as normal.

One rule, written once, so the store's reference query and its refit counter cannot drift
apart, and so the rule can be read and tested without a database. The store turns the rule
into the parameters of its query (store/embeddings.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from astrolens.domain.labels import LabelValue
from astrolens.domain.scoring import Verdict


@dataclass(frozen=True, slots=True)
class ReferenceRule:
    """An image counts as reference by its latest verdict and its latest label.

    A person's word beats a score: a label in `vetoed` keeps the image out whatever its
    score (fitting on a confirmed anomaly teaches the detector to miss the next one), and a
    label in `vouched` lets it in whatever its score (a false positive is normal by a human's
    word). Otherwise an image is in when its latest verdict is one of `verdicts`, or when it
    is not scored yet and `unscored` allows it (the bootstrap reference).

    With `kind`, only images of that look-alike kind (domain/lookalike.py) count; an image
    with no stored kind (stored before kinds existed) is then left out.
    """

    verdicts: frozenset[Verdict] = frozenset({Verdict.NORMAL})
    unscored: bool = True
    vouched: frozenset[LabelValue] = frozenset({LabelValue.FALSE_POSITIVE})
    vetoed: frozenset[LabelValue] = frozenset({LabelValue.TRUE_POSITIVE})
    kind: str | None = None

    def admits(
        self, verdict: Verdict | None, label: LabelValue | None, kind: str | None = None
    ) -> bool:
        """Whether an image with this latest verdict (None: never scored), latest label
        (None: unlabelled) and stored kind counts as reference."""
        if self.kind is not None and kind != self.kind:
            return False
        if label is not None and label in self.vetoed:
            return False
        if label is not None and label in self.vouched:
            return True
        if verdict is None:
            return self.unscored
        return verdict in self.verdicts

    def of_kind(self, kind: str | None) -> ReferenceRule:
        """The same rule narrowed to one look-alike kind (None: every kind)."""
        return dataclasses.replace(self, kind=kind)


# The rule discovery fits its detectors by.
REFERENCE = ReferenceRule()
