"""Benchmarks that print ratios against a floor (the bare query or library doing the same work)."""
