"""The composition root satisfies the services' one dependency, checked at run time too."""

from __future__ import annotations

import inspect
from pathlib import Path

from astrolens.app.context import AstroLensApp
from astrolens.services.context import ServiceContext
from astrolens.settings.paths import app_paths


def test_the_app_has_every_member_a_service_may_use(tmp_path: Path) -> None:
    app = AstroLensApp(app_paths(tmp_path / "home"))
    try:
        wanted = {
            name for name, _ in inspect.getmembers(ServiceContext) if not name.startswith("_")
        } | set(ServiceContext.__annotations__)
        missing = sorted(name for name in wanted if not hasattr(app, name))
        assert not missing
        assert app.db(lambda repo: repo.count_images()) == 0  # db() runs on the db thread
    finally:
        app.close()
