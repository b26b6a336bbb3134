"""practice domain."""
