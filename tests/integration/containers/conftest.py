"""Container tests share one pulled busybox image per run."""
from __future__ import annotations

import pytest

from tests.integration.conftest import Engine


@pytest.fixture(scope="session")
def busybox(engine: Engine, images) -> str:  # type: ignore[no-untyped-def]
    """The test busybox image, pulled into the session engine once."""
    engine.docker("pull", "-q", images.busybox, timeout=300)
    return images.busybox
