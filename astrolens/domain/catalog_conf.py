"""Each remote catalog service's connection values in one place (astroquery's `Conf` idea):
where it answers, how long to wait for it, how often it may be asked. The clients take
their defaults from here, the cross-matcher its rate gates, settings the service names a
user may point at a mirror (`catalog_urls`)."""

from __future__ import annotations

from dataclasses import dataclass

from astrolens.domain.politeness import RatePolicy

# An explicit timeout on every request: astroquery's defaults are 60 s (NED, VizieR) and none
# at all for SIMBAD's TAP calls through pyvo (catalogs/http_session.py applies it).
DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class CatalogConf:
    service: str
    url: str  # the service's own endpoint; settings' catalog_urls may name a mirror instead
    rate: RatePolicy
    timeout_s: float = DEFAULT_TIMEOUT_S


# SIMBAD: 5 per 1.1 s, below its ~6/s blacklist threshold. The limiter books *start* times
# on our side; the extra 0.1 s absorbs connection set-up and network jitter, so that the
# server, which counts arrivals, also never sees more than 5 in any second (measured in
# tests/catalogs: with a 1.0 s window the server saw 6). It counts the whole client, so one
# request is in flight at a time, across every AstroLens process of the user.
SIMBAD = CatalogConf(
    "simbad",
    "https://simbad.cds.unistra.fr/simbad/sim-tap",  # the TAP endpoint
    RatePolicy(5, 1.1, serialised=True, across_processes=True),
)
# NED and VizieR publish no hard figure; these are conservative.
NED = CatalogConf("ned", "https://ned.ipac.caltech.edu/cgi-bin/", RatePolicy(2, 1.0))
VIZIER = CatalogConf("vizier", "https://vizier.cds.unistra.fr", RatePolicy(5, 1.0))

REMOTE_CATALOGS: dict[str, CatalogConf] = {c.service: c for c in (SIMBAD, NED, VIZIER)}
