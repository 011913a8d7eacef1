"""Which per-frame core runs: the compiled extensions, or the pure-Python modules they mirror.

``pip install .`` builds the Cython extensions where Cython and a C compiler are present
(``setup.py``; they are optional, so the install succeeds without them): ``actors._l2book``
(the L2 book), ``protocols.mexc._depth`` (the MEXC aggregated-depth decode),
``protocols._jsondepth`` (the Binance and Gate.io depth decode) and ``protocols._levels``
(decoded levels untracked). Each pure module (``actors.l2book``, ``protocols.mexc.codec``, the
Binance and Gate.io codecs, ``protocols.levels``) asks ``load`` for its extension at import,
uses it when it is there and says which in its ``CORE``; the results are the same either way (one test suite runs both).

``ARBOR_PURE_PYTHON=1`` selects the pure-Python core even where the extensions are built (read
once, at import). ``python -m supervisor`` logs which core each part runs.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

ENV = "ARBOR_PURE_PYTHON"


def pure_selected() -> bool:
    return os.environ.get(ENV, "").strip().lower() in ("1", "true", "yes", "on")


def load(name: str) -> tuple[ModuleType | None, str]:
    """``(extension, core)``: the built extension module ``name`` and ``"compiled"``, or
    ``None`` and ``"python (<why>)"`` when the pure core is selected or it is not built."""
    if pure_selected():
        return None, f"python ({ENV}=1)"
    try:
        return importlib.import_module(name), "compiled"
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise  # the extension is there but needs something missing: not a build question
        return None, "python (not built)"
    except ImportError as exc:  # built for another interpreter or ABI: the pure core still runs
        return None, f"python (cannot load {name}: {exc})"

