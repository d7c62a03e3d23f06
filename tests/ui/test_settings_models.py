"""Every backbone the Settings panel offers is a spec the registry can read."""

from __future__ import annotations

import pytest

from astrolens.domain.embedder_spec import EmbedderSpec
from astrolens.ui.settings_panel import MODELS


@pytest.mark.parametrize("spec", MODELS)
def test_every_offered_model_parses_and_round_trips(spec: str) -> None:
    assert EmbedderSpec.parse(spec).format() == spec
