"""Raster icons for the OS packages, rendered from the committed SVG at build time.

Windows wants .ico and macOS .icns; both are derived from astrolens/resources/icons/
astrolens.svg (drawn by tools/make_icons.py), so no binary icon is committed and a colour
change in make_icons.py reaches every platform. Qt renders the SVG (offscreen, no display
needed), Pillow writes the containers.
"""

from __future__ import annotations

import os
from pathlib import Path

SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)


def render_png(svg: Path, size: int, out: Path) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtCore import Qt
    from PyQt6.QtGui import QGuiApplication, QImage, QPainter
    from PyQt6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(svg)).render(painter)
    painter.end()
    if not image.save(str(out), "PNG"):
        raise OSError(f"could not write {out}")
    return out


def build_icons(svg: Path, out_dir: Path) -> dict[str, Path]:
    """Write astrolens.png (512 px), astrolens.ico and astrolens.icns under out_dir."""
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = {size: render_png(svg, size, out_dir / f"astrolens-{size}.png") for size in SIZES}
    largest = Image.open(pngs[1024])
    ico = out_dir / "astrolens.ico"
    largest.save(ico, sizes=[(s, s) for s in SIZES if s <= 256])
    icns = out_dir / "astrolens.icns"
    largest.save(icns)
    png = out_dir / "astrolens.png"
    Image.open(pngs[512]).save(png)
    return {"png": png, "ico": ico, "icns": icns}
