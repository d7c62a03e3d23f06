"""Each remote service's URL, timeout and rate policy come from its one CatalogConf."""

from __future__ import annotations

import dataclasses

import pytest

from astrolens.catalogs.matcher import CatalogCrossMatcher
from astrolens.catalogs.ned import NedClient
from astrolens.catalogs.rate import DEFAULT_POLICIES
from astrolens.catalogs.report import default_clients
from astrolens.catalogs.simbad import SimbadClient
from astrolens.catalogs.vizier import VizierClient
from astrolens.domain.catalog_conf import NED, REMOTE_CATALOGS, SIMBAD, VIZIER
from astrolens.domain.errors import ConfigurationError
from astrolens.domain.settings import Settings


def test_clients_take_their_service_url_and_timeout_from_the_conf() -> None:
    clients = {c.service: c for c in default_clients()}
    assert clients["simbad"].tap_url == SIMBAD.url  # type: ignore[attr-defined]
    assert clients["ned"].base_url == NED.url  # type: ignore[attr-defined]
    assert clients["vizier"].server_url == VIZIER.url  # type: ignore[attr-defined]
    assert {SimbadClient.service, NedClient.service, VizierClient.service} == set(REMOTE_CATALOGS)
    for session, conf in (
        (clients["simbad"]._simbad._session, SIMBAD),  # type: ignore[attr-defined]
        (clients["ned"]._ned._session, NED),  # type: ignore[attr-defined]
        (clients["vizier"]._vizier._session, VIZIER),  # type: ignore[attr-defined]
    ):
        assert session.get_adapter("https://x.test/")._timeout == conf.timeout_s


def test_the_rate_gates_follow_the_conf() -> None:
    assert {s: c.rate for s, c in REMOTE_CATALOGS.items()} == DEFAULT_POLICIES
    assert SIMBAD.rate.serialised and SIMBAD.rate.max_calls / SIMBAD.rate.period < 5
    slow = dataclasses.replace(NED.rate, max_calls=1, period=9.0)
    matcher = CatalogCrossMatcher([NedClient()], policies={"ned": slow})
    assert matcher._gates["ned"].policy == slow


def test_settings_accept_a_mirror_only_for_a_known_service() -> None:
    Settings(catalog_urls={name: "https://mirror.test/" for name in REMOTE_CATALOGS}).validate()
    with pytest.raises(ConfigurationError, match="unknown services"):
        Settings(catalog_urls={"sesame": "https://mirror.test/"}).validate()
