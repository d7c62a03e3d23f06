"""Pure types and rules. No Qt, no torch, no I/O: only the standard library and numpy."""
