"""Where the app's read-only resources (icons, bundled models) live, frozen or not.

The one place that knows the layout: from a source checkout or wheel they sit beside the
package (astrolens/resources/...); in a PyInstaller bundle the spec copies them to the same
relative path under the bundle's data folder (sys._MEIPASS). Pure path arithmetic, no I/O, so
every layer may use it, the UI included.
"""

from __future__ import annotations

import sys
from pathlib import Path

RESOURCES_PACKAGE_PATH = ("astrolens", "resources")


def is_frozen() -> bool:
    """True inside a PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def resources_root() -> Path:
    if is_frozen():
        return Path(getattr(sys, "_MEIPASS")).joinpath(*RESOURCES_PACKAGE_PATH)  # noqa: B009
    return Path(__file__).resolve().parents[1] / RESOURCES_PACKAGE_PATH[-1]


def resource_path(*parts: str) -> Path:
    """`resource_path("icons", "astrolens.svg")` -> the file, wherever the app runs from."""
    return resources_root().joinpath(*parts)


def icons_dir() -> Path:
    return resource_path("icons")


def bundled_models_dir() -> Path:
    """Ready-made model files shipped with the app (the bundle's ONNX graph); may not exist."""
    return resource_path("models")
