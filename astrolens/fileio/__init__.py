"""File-system helpers shared by the adapters (which may not import each other)."""
