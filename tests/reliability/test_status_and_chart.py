"""Issue 16, "also seen": a source whose every request failed is not shown as idle, and the
Discovery chart survives an anomaly threshold of p = 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from astrolens.domain.errors import UnreadableImageError
from astrolens.domain.sources import SourceState
from astrolens.sources import registry
from tests.sources.fake_services import FakeServices, Fault, online_configs

CUTOUT = "/dr18/SkyServerWS/ImgCutout/getjpeg"


async def test_a_source_whose_every_request_failed_is_not_idle(
    fake_services: FakeServices,
) -> None:
    source = registry.create("sdss", config=online_configs(fake_services)["sdss"])
    tasks = await source.plan(3)
    fake_services.inject(CUTOUT, Fault("html"), times=len(tasks))
    for task in tasks:
        with pytest.raises(UnreadableImageError):
            await source.fetch(task)
    status = source.status()
    assert status.state is SourceState.ERROR, status
    assert "3 requests failed" in status.describe() and "HTML page" in status.describe()
    await source.fetch(tasks[0])  # the service is back: one success clears it
    assert source.status().state is not SourceState.ERROR
    await source.aclose()


@pytest.mark.parametrize(("anomaly_p", "near_miss_p"), [(0.0, 0.0), (0.0, 0.05), (1.0, 1.0)])
def test_histogram_paints_with_a_zero_threshold(
    qtbot: object, tmp_path: Path, anomaly_p: float, near_miss_p: float
) -> None:
    from astrolens.ui.charts import ScoreHistogram

    chart = ScoreHistogram()
    qtbot.addWidget(chart)  # type: ignore[attr-defined]
    chart.resize(600, 220)
    chart.set_p_values([*list(np.linspace(0.001, 1.0, 50)), 0.0, 1.0], anomaly_p, near_miss_p)
    image = chart.grab().toImage()  # runs paintEvent; an exception there fails the test
    assert not image.isNull()
    assert all(np.isfinite(x) for x, _, _ in chart.lines)
    if anomaly_p == 0.0:
        assert "p = 0" in chart.axis
    # Painting again works: the painter was closed properly the first time.
    assert not chart.grab().toImage().isNull()
