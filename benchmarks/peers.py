"""Optional peers measured beside Arbor: which are importable, and their versions.

A peer is an optional package (the ``bench`` extra). A missing one is reported as
skipped, ``not installed (pip install ...)``, never as a failure. ``PEERS`` maps the peer's name to the module
the benchmarks import and the distribution that provides it (``pip install <dist>``).
"""

from __future__ import annotations

import importlib.util
from importlib import metadata

PEERS: dict[str, tuple[str, str]] = {
    # name: (module to import, distribution on PyPI)
    "pykka": ("pykka", "pykka"),
    "ccxt": ("ccxt", "ccxt"),
    "order-book": ("order_book", "order-book"),
    "nautilus_trader": ("nautilus_trader", "nautilus_trader"),
}

# the packages whose versions the results quote beside the peers'
CORE = ("msgspec", "uvloop", "picows", "sortedcontainers", "protobuf")


def missing(name: str) -> str | None:
    """None when the peer imports, else the reason it is skipped."""
    module, dist = PEERS[name]
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:
        found = False
    return None if found else f"not installed (pip install {dist})"


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """Versions of the core packages and of every peer distribution."""
    return {dist: version(dist) for dist in (*CORE, *(d for _, d in PEERS.values()))}
