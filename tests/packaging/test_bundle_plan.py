"""The bundle's contents are computed from the source: check the computation without building."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "packaging" / "pyinstaller"))

import bundle_plan  # noqa: E402
import platform_icons  # noqa: E402


def _modules_on_disk(package_dir: Path) -> set[str]:
    names = set()
    for path in package_dir.rglob("*.py"):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.add(".".join(parts))
    return names


@pytest.mark.parametrize(
    "package", ["astrolens/ml/detectors", "astrolens/ml/scoring", "astrolens/ml/embedders"]
)
def test_every_module_of_the_registry_packages_is_a_hidden_import(package: str) -> None:
    """A detector added on another branch ships without anyone editing the spec."""
    hidden = set(bundle_plan.hidden_imports())
    missing = _modules_on_disk(REPO / package) - hidden
    assert not missing, missing


def test_every_builtin_source_is_a_hidden_import() -> None:
    from astrolens.sources.registry import BUILTIN_MODULES

    assert set(BUILTIN_MODULES) <= set(bundle_plan.hidden_imports())
    assert "astrolens.app.desktop" in bundle_plan.hidden_imports()


def test_the_lean_build_excludes_the_torch_stack_and_test_suites() -> None:
    for name in ("torch", "torchvision", "open_clip", "triton", "pytest", "dask", "pyarrow"):
        assert bundle_plan.is_excluded(name)
        assert bundle_plan.is_excluded(name + ".something")
    assert bundle_plan.is_excluded("scipy.linalg.tests.test_basic")
    assert bundle_plan.is_excluded("sklearn.conftest")
    assert not bundle_plan.is_excluded("numpy.testing")  # imported by libraries at run time
    assert not bundle_plan.is_excluded("astropy.tests.runner")  # astropy/__init__ needs it
    assert not bundle_plan.is_excluded("onnxruntime")
    assert not bundle_plan.is_excluded("astrolens.ml.embedders.onnx_embedder")


def test_windows_version_resource_carries_the_package_version(tmp_path: Path) -> None:
    from astrolens import __version__

    assert bundle_plan.version_tuple("1.2.3") == (1, 2, 3, 0)
    assert bundle_plan.version_tuple("0.4.0rc1") == (0, 4, 0, 0)
    text = bundle_plan.windows_version_file(REPO, tmp_path, __version__).read_text()
    assert f"StringStruct('ProductVersion', '{__version__}')" in text
    assert "{version" not in text
    compile(text.split("\n", 2)[2], "version_info", "eval")  # PyInstaller evals it


def test_platform_icons_are_rendered_from_the_svg(tmp_path: Path) -> None:
    from PIL import Image

    icons = platform_icons.build_icons(
        REPO / "astrolens" / "resources" / "icons" / "astrolens.svg", tmp_path
    )
    ico = Image.open(icons["ico"])
    assert ico.format == "ICO" and (256, 256) in ico.info["sizes"]
    assert Image.open(icons["icns"]).format == "ICNS"
    png = Image.open(icons["png"]).convert("RGBA")
    assert png.size == (512, 512)
    alpha = png.getchannel("A")
    assert alpha.getextrema() == (0, 255)  # transparent corners, an opaque drawing


def test_macos_info_plist_makes_a_menu_bar_agent() -> None:
    import plistlib

    with (REPO / "packaging" / "macos" / "Info.plist").open("rb") as handle:
        info = plistlib.load(handle)
    assert info["LSUIElement"] is True
    assert info["CFBundleIdentifier"] == "org.astrolens.agent"
