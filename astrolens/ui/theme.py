"""The dark theme: a Fusion palette plus a stylesheet, so it looks the same on every OS."""

from __future__ import annotations

from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QApplication

BG = "#0f172a"
PANEL = "#111c33"
RAISED = "#1e293b"
BORDER = "#334155"
TEXT = "#e2e8f0"
MUTED = "#94a3b8"
ACCENT = "#38bdf8"
ANOMALY = "#f472b6"
NEAR_MISS = "#fbbf24"
GOOD = "#4ade80"
BAD = "#f87171"

STYLESHEET = f"""
QWidget {{ background: {BG}; color: {TEXT}; font-size: 10pt; }}
QMainWindow::separator {{ background: {BORDER}; width: 1px; }}
QFrame#card {{ background: {PANEL}; border: 1px solid {BORDER}; border-radius: 8px; }}
QLabel#muted {{ color: {MUTED}; }}
QLabel#counter {{ font-size: 20pt; font-weight: 600; color: {TEXT}; background: transparent; }}
QLabel#counterCaption {{ color: {MUTED}; background: transparent; }}
QLabel#banner {{ background: #3b2f10; color: #fde68a; border: 1px solid #a16207;
    border-radius: 6px; padding: 8px; }}
QLabel#heading {{ font-size: 13pt; font-weight: 600; }}
QListWidget#nav {{ background: {PANEL}; border: none; border-right: 1px solid {BORDER};
    padding-top: 8px; }}
QListWidget#nav::item {{ padding: 10px 14px; border-radius: 6px; margin: 2px 8px; }}
QListWidget#nav::item:selected {{ background: {RAISED}; color: {ACCENT}; }}
QPushButton {{ background: {RAISED}; border: 1px solid {BORDER}; border-radius: 6px;
    padding: 5px 12px; }}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:pressed {{ background: {BORDER}; }}
QPushButton:disabled {{ color: #475569; }}
QPushButton#primary {{ background: #0369a1; border-color: #0284c7; color: white; }}
QPushButton#tp {{ background: #14532d; border-color: #166534; }}
QPushButton#fp {{ background: #7f1d1d; border-color: #991b1b; }}
QPushButton#unsure {{ background: #422006; border-color: #854d0e; }}
QLineEdit, QComboBox, QDateEdit, QPlainTextEdit {{
    background: {RAISED}; border: 1px solid {BORDER}; border-radius: 5px; padding: 4px 6px; }}
QLineEdit:focus, QComboBox:focus {{ border-color: {ACCENT}; }}
/* Spin boxes are left to Fusion and the dark palette: a style sheet border on them hides the
   up/down arrows (nothing said the field could be stepped). */
QAbstractSpinBox {{ padding: 3px 4px; min-height: 20px; }}
QComboBox QAbstractItemView {{ background: {RAISED}; selection-background-color: #0369a1; }}
QTableWidget, QTableView, QListView {{ background: {PANEL}; alternate-background-color: #14213d;
    border: 1px solid {BORDER}; border-radius: 6px; gridline-color: {BORDER}; }}
QListView::item:selected {{ background: #0c4a6e; border-radius: 6px; }}
QHeaderView::section {{ background: {RAISED}; color: {MUTED}; border: none;
    border-bottom: 1px solid {BORDER}; padding: 4px 6px; }}
QScrollBar:vertical {{ background: {BG}; width: 10px; }}
QScrollBar::handle:vertical {{ background: {BORDER}; border-radius: 5px; min-height: 24px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ height: 0; width: 0; }}
QLabel, QCheckBox, QRadioButton {{ background: transparent; }}
QCheckBox::indicator, QTableView::indicator {{ width: 14px; height: 14px; border-radius: 3px;
    border: 1px solid #64748b; background: {RAISED}; }}
QCheckBox::indicator:checked, QTableView::indicator:checked {{ background: {ACCENT};
    border-color: {ACCENT}; }}
QGroupBox {{ border: 1px solid {BORDER}; border-radius: 8px; margin-top: 14px;
    padding-top: 8px; background: {PANEL}; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {MUTED}; }}
QGraphicsView {{ background: #020617; border: 1px solid {BORDER}; border-radius: 6px; }}
QToolTip {{ background: {RAISED}; color: {TEXT}; border: 1px solid {BORDER}; }}
QMenu {{ background: {RAISED}; border: 1px solid {BORDER}; padding: 4px; }}
QMenu::item {{ padding: 5px 22px; border-radius: 4px; }}
QMenu::item:selected {{ background: #0369a1; }}
QMenu::item:disabled {{ color: {MUTED}; }}
QStatusBar {{ color: {MUTED}; }}
"""


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, BG),
        (QPalette.ColorRole.WindowText, TEXT),
        (QPalette.ColorRole.Base, PANEL),
        (QPalette.ColorRole.AlternateBase, RAISED),
        (QPalette.ColorRole.Text, TEXT),
        (QPalette.ColorRole.Button, RAISED),
        (QPalette.ColorRole.ButtonText, TEXT),
        (QPalette.ColorRole.Highlight, "#0369a1"),
        (QPalette.ColorRole.HighlightedText, "#ffffff"),
        (QPalette.ColorRole.ToolTipBase, RAISED),
        (QPalette.ColorRole.ToolTipText, TEXT),
        (QPalette.ColorRole.Link, ACCENT),
        (QPalette.ColorRole.PlaceholderText, MUTED),
    ):
        pal.setColor(role, QColor(colour))
    app.setPalette(pal)
    app.setStyleSheet(STYLESHEET)
