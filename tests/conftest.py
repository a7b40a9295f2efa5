"""Marks tests by directory and keeps unit tests pure (pip's conftest does the same)."""
from __future__ import annotations

import os

import pytest

# Fixtures that start real processes; a unit test asking for one is a mistake.
INTEGRATION_FIXTURES = {"user", "engine", "registry", "images", "auth_registry", "token_registry"}
HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    for item in items:
        path = str(item.fspath)
        if path.startswith(os.path.join(HERE, "unit") + os.sep):
            item.add_marker(pytest.mark.unit)
            bad = INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            if bad:
                raise pytest.UsageError(f"unit test {item.nodeid} uses integration fixtures: {sorted(bad)}")
        elif path.startswith(os.path.join(HERE, "integration") + os.sep):
            item.add_marker(pytest.mark.integration)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: fast, pure tests")
