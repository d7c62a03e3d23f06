"""Draw AstroLens's icons as SVG: the app icon and one tray icon per agent state.

Run `python tools/make_icons.py` after changing a colour; the SVGs are committed under
astrolens/resources/icons. The tray's unread badge is drawn at runtime (it carries a number).
"""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "astrolens" / "resources" / "icons"

# state -> (lens rim colour, glint colour, overlay)
STATES = {
    "running": ("#38bdf8", "#fde68a", ""),
    "paused": ("#94a3b8", "#cbd5e1", "pause"),
    "offline": ("#64748b", "#475569", "slash"),
    "error": ("#f87171", "#fecaca", "bang"),
    "starting": ("#38bdf8", "#94a3b8", "dots"),
}


def _overlay(kind: str) -> str:
    if kind == "pause":
        return (
            '<rect x="40" y="38" width="7" height="20" rx="2" fill="#e2e8f0"/>'
            '<rect x="51" y="38" width="7" height="20" rx="2" fill="#e2e8f0"/>'
        )
    if kind == "slash":
        return '<line x1="14" y1="14" x2="58" y2="58" stroke="#e2e8f0" stroke-width="6"/>'
    if kind == "bang":
        return (
            '<circle cx="48" cy="48" r="14" fill="#dc2626"/>'
            '<rect x="45.5" y="38" width="5" height="12" rx="2" fill="#fff"/>'
            '<circle cx="48" cy="54.5" r="2.8" fill="#fff"/>'
        )
    if kind == "dots":
        return "".join(f'<circle cx="{x}" cy="54" r="3" fill="#e2e8f0"/>' for x in (38, 47, 56))
    return ""


def icon_svg(rim: str, glint: str, overlay: str) -> str:
    # A lens (ring) over a dark sky with a four-pointed star: legible at 16 px.
    star = "M30 16 L33 27 L44 30 L33 33 L30 44 L27 33 L16 30 L27 27 Z"  # sparkle at the centre
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
        '<circle cx="30" cy="30" r="26" fill="#0b1220"/>'
        f'<circle cx="30" cy="30" r="23" fill="none" stroke="{rim}" stroke-width="6"/>'
        f'<path d="{star}" fill="{glint}"/>'
        f'<line x1="47" y1="47" x2="60" y2="60" stroke="{rim}" stroke-width="7" '
        'stroke-linecap="round"/>'
        f"{_overlay(overlay)}</svg>\n"
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for state, (rim, glint, overlay) in STATES.items():
        (OUT / f"tray-{state}.svg").write_text(icon_svg(rim, glint, overlay))
    (OUT / "astrolens.svg").write_text(icon_svg("#38bdf8", "#fde68a", ""))


if __name__ == "__main__":
    main()
