"""Both per-frame cores under one suite: a test that takes ``core`` runs once per core.

``core`` is ``"python"`` or ``"compiled"`` (``protocols.compiled``). The compiled run is
skipped, with the reason, only where its extension is not built in the tree being tested (a
plain ``pip install .`` builds it into site-packages, not into the checkout: ``pip install -e``
builds it in place). It is a parameter, not a fixture, so hypothesis tests take it too.
"""

from __future__ import annotations

import importlib

import pytest

EXTENSIONS = ("actors._l2book", "protocols.mexc._depth", "protocols._levels", "protocols._jsondepth")


def _built(name: str) -> str | None:
    """None when the extension imports, else why not."""
    try:
        importlib.import_module(name)
    except ImportError as exc:
        return f"{name} is not built here ({exc}); pip install -e . builds it in place"
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "core" not in metafunc.fixturenames:
        return
    missing = next(filter(None, map(_built, EXTENSIONS)), None)
    compiled = pytest.param("compiled", id="compiled",
                            marks=[pytest.mark.skip(reason=missing)] if missing else [])
    metafunc.parametrize("core", [pytest.param("python", id="python"), compiled])
