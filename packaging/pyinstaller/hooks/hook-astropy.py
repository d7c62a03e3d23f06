"""Replaces the contrib hook for astropy (PyInstaller hook search puts ours first).

The stock hook collects every astropy submodule, and importing astropy.visualization.wcsaxes
(matplotlib) or the test modules (pytest plugins) aborts the build where pytest is installed
without matplotlib. AstroLens needs neither: skip them, keep everything else the stock hook
does (data files, the PLY parser tables loaded as files, version metadata).
"""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata


def _wanted(name: str) -> bool:
    parts = name.split(".")
    return not (
        ("tests" in parts and name not in ("astropy.tests", "astropy.tests.runner"))
        or name.startswith("astropy.visualization.wcsaxes")
        or name.startswith("astropy.conftest")
        or name.startswith("astropy.samp")  # SAMP hub: a desktop-interop server we never start
    )


hiddenimports = [*collect_submodules("astropy", filter=_wanted), "numpy.lib.recfunctions"]
datas = collect_data_files("astropy", excludes=["**/tests/**"])
datas += [
    (path, target)
    for path, target in collect_data_files("astropy", include_py_files=True)
    if path.endswith(("_parsetab.py", "_lextab.py"))
]
datas += copy_metadata("astropy") + copy_metadata("numpy")
# astropy.tests.runner (imported by astropy/__init__) stays; pytest itself is never needed.
excludedimports = ["astropy.visualization.wcsaxes", "matplotlib", "pytest"]
