"""Start AstroLens at login, per OS: an XDG autostart entry (Linux), a LaunchAgent (macOS),
or the per-user Run key (Windows). The templates mirror packaging/."""

from __future__ import annotations

import contextlib
import os
import plistlib
import shlex
import shutil
import sys
from pathlib import Path

from astrolens.domain.resources import is_frozen

ENTRY_NAME = "astrolens.desktop"
LAUNCH_AGENT = "org.astrolens.agent"
RUN_VALUE = "AstroLens"

DESKTOP_ENTRY = """[Desktop Entry]
Type=Application
Name=AstroLens
Comment=Autonomous astronomical anomaly discovery
Exec={exec}
Icon=astrolens
Terminal=false
Categories=Science;Astronomy;
X-GNOME-Autostart-enabled=true
X-GNOME-Autostart-Delay=10
"""


def launch_command() -> list[str]:
    """The bundle's own executable when frozen (the AppImage file if run from one), else the
    installed `astrolens` script when there is one, else this interpreter."""
    if is_frozen():
        return [os.environ.get("APPIMAGE") or sys.executable]
    script = shutil.which("astrolens")
    if script:
        return [script]
    return [sys.executable, "-m", "astrolens.app.cli"]


def _xdg_autostart_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autostart"


def _launch_agents_dir() -> Path:
    return Path.home() / "Library" / "LaunchAgents"


def autostart_path(platform: str = sys.platform) -> Path | None:
    if platform == "darwin":
        return _launch_agents_dir() / f"{LAUNCH_AGENT}.plist"
    if platform == "win32":
        return None  # a registry value, not a file
    return _xdg_autostart_dir() / ENTRY_NAME


def set_autostart(enabled: bool, platform: str = sys.platform) -> None:
    cmd = launch_command()
    if platform == "win32":
        _set_windows_run(enabled, subprocess_line(cmd))
        return
    path = autostart_path(platform)
    assert path is not None
    if not enabled:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    if platform == "darwin":
        data = {
            "Label": LAUNCH_AGENT,
            "ProgramArguments": cmd,
            "RunAtLoad": True,
            "ProcessType": "Interactive",
        }
        tmp.write_bytes(plistlib.dumps(data))
    else:
        tmp.write_text(DESKTOP_ENTRY.format(exec=shlex.join(cmd)))
    tmp.replace(path)


def autostart_enabled(platform: str = sys.platform) -> bool:
    if platform == "win32":
        return _get_windows_run() is not None
    path = autostart_path(platform)
    return path is not None and path.exists()


def subprocess_line(cmd: list[str]) -> str:
    return " ".join(f'"{c}"' if " " in c else c for c in cmd)


def _set_windows_run(enabled: bool, command: str) -> None:  # pragma: no cover - Windows only
    if sys.platform != "win32":  # also tells mypy, on other systems, that winreg is absent
        raise OSError("the Run key is in the Windows registry: Windows only")
    import winreg

    key = winreg.OpenKey(
        winreg.HKEY_CURRENT_USER,
        r"Software\Microsoft\Windows\CurrentVersion\Run",
        0,
        winreg.KEY_SET_VALUE,
    )
    with key:
        if enabled:
            winreg.SetValueEx(key, RUN_VALUE, 0, winreg.REG_SZ, command)
        else:
            with contextlib.suppress(FileNotFoundError):
                winreg.DeleteValue(key, RUN_VALUE)


def _get_windows_run() -> str | None:  # pragma: no cover - Windows only
    if sys.platform != "win32":  # also tells mypy, on other systems, that winreg is absent
        raise OSError("the Run key is in the Windows registry: Windows only")
    import winreg

    try:
        with winreg.OpenKey(
            winreg.HKEY_CURRENT_USER, r"Software\Microsoft\Windows\CurrentVersion\Run"
        ) as key:
            return str(winreg.QueryValueEx(key, RUN_VALUE)[0])
    except FileNotFoundError:
        return None
