"""Decoded depth levels out of the cyclic collector's young generation, at decode time.

``untrack_levels(bids, asks)`` is the compiled ``protocols._levels`` where it is built
(``protocols.compiled``; ``CORE`` says which), else ``None``: the JSON codecs call it on every
delta they decode, when it is there. It untracks the two-float level tuples (and a side made
only of them), which CPython would untrack itself at the first collection that saw them, so
the young collections no longer walk the levels of the frames queued in the mailboxes (see
``protocols/_levels.pyx`` for what it measured). Without it the results are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocols import compiled

_compiled, CORE = compiled.load("protocols._levels")
untrack_levels: Callable[[Any, Any], None] | None = _compiled.untrack_levels if _compiled is not None else None
