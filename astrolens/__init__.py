"""AstroLens: autonomous astronomical anomaly discovery for the desktop."""

__version__ = "0.1.0"
