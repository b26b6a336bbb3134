"""Every test builds an app and so an advanced-alchemy config; the library's recursive search for a free app-state key
went one level deeper per config and failed with RecursionError past ~950 configs in one process (the suite's size)."""

from __future__ import annotations

from scheduler.db import CarebookAlchemyConfig


def test_thousands_of_configs_in_one_process_each_get_a_unique_key() -> None:
    keys = {
        CarebookAlchemyConfig(connection_string="sqlite+aiosqlite:///:memory:").session_scope_key for _ in range(1500)
    }
    assert len(keys) == 1500
