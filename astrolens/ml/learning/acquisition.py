"""What to ask the user next ("Label next").

Only the top of the ranking would be greedy: it keeps confirming what the labels already say
and never learns where the unsupervised score is wrong. Only the most uncertain would waste the
user's time on boring images. The acquisition value mixes three things, per unlabelled row:

- exploit: the blended score (what the user will most likely find interesting);
- uncertainty: 4 l (1 - l) of the learned probability, high where labels disagree;
- novelty: (1 - trust) x prior, a high unsupervised score in a region no label covers yet.

Every `explore_every`-th request (counting the labels so far; the first request exploits)
takes the best information value instead of the blended score, so exploration has a fixed,
small cost in the user's time.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import numpy.typing as npt

from astrolens.ml.learning.reranker import Ranking


def information_value(ranking: Ranking) -> npt.NDArray[np.float64]:
    uncertainty = 4.0 * ranking.learned * (1.0 - ranking.learned)
    novelty = (1.0 - ranking.trust) * ranking.prior
    return np.asarray(0.5 * uncertainty + novelty + 0.25 * ranking.score)


def label_next(
    ranking: Ranking,
    labelled: Collection[int],
    n: int = 1,
    *,
    labels_so_far: int | None = None,
    explore_every: int = 4,
) -> list[int]:
    """Pool rows to ask about next, most useful first; never a row already labelled."""
    count = len(ranking.score)
    available = np.ones(count, dtype=bool)
    taken = [i for i in labelled if 0 <= i < count]
    available[taken] = False
    done = len(taken) if labels_so_far is None else labels_so_far
    exploit = np.where(available, ranking.score, -np.inf)
    explore = np.where(available, information_value(ranking), -np.inf)
    chosen: list[int] = []
    for step in range(min(n, int(available.sum()))):
        explore_now = explore_every > 0 and (done + step + 1) % explore_every == 0
        value = explore if explore_now else exploit
        pick = int(np.argmax(value))
        chosen.append(pick)
        exploit[pick] = explore[pick] = -np.inf
    return chosen
