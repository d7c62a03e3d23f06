"""How domain values read in the UI: one place, so the tray, the gallery and the
notification agree."""

from __future__ import annotations

from astrolens.domain.candidates import Candidate
from astrolens.domain.crossmatch import CatalogVerdict, MatchStatus
from astrolens.domain.labels import LabelValue
from astrolens.domain.scoring import Verdict

VERDICT_TEXT = {
    Verdict.ANOMALY: "Anomaly",
    Verdict.NEAR_MISS: "Near-miss",
    # A normal image is shown only when kept for review: a first run's most unusual few
    Verdict.NORMAL: "Most unusual so far, not yet significant",
}

CATALOG_TEXT = {
    CatalogVerdict.KNOWN_OBJECT: "Known object",
    CatalogVerdict.KNOWN_FIELD: "Catalogued, unclassified",
    CatalogVerdict.POSSIBLE_DISCOVERY: "Possible discovery",
    CatalogVerdict.PENDING: "Catalogs pending",
    CatalogVerdict.INCOMPLETE: "Catalog check incomplete",
    CatalogVerdict.NO_POSITION: "No sky position",
}

MATCH_TEXT = {
    MatchStatus.MATCH: "match",
    MatchStatus.NO_MATCH: "no match",
    MatchStatus.ERROR: "error",
    MatchStatus.PENDING: "pending",
}

LABEL_TEXT = {
    LabelValue.TRUE_POSITIVE: "True positive",
    LabelValue.FALSE_POSITIVE: "False positive",
    LabelValue.UNSURE: "Unsure",
}


def short_summary(candidate: Candidate) -> str:
    r = candidate.result
    return f"score {r.score:.2f} · p={r.p_value:.2g} · {CATALOG_TEXT[candidate.catalog_verdict]}"
