"""booking domain."""
