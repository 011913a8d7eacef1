"""Protocol tests: ``venue_edge`` (a venue's REST edge on loopback) is importable by name, and
``bench`` is the production adapter of each venue against it (module scope: one server each)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # `import venue_edge` (no __init__.py here)

from venue_edge import REPLIES, Bench


@pytest.fixture(scope="module", params=sorted(REPLIES))
def bench(request: pytest.FixtureRequest) -> Iterator[Bench]:
    b = Bench(request.param)
    try:
        yield b
    finally:
        b.close()
