"""The whole error hierarchy of Arbor.

::

    ArborError
    ├─ ConfigError                  field path and what was expected
    ├─ ProtocolError                a venue spoke something we cannot use
    │   ├─ DecodeError              a frame that does not parse (bounded excerpt of it)
    │   ├─ SequenceGap              a book missed updates (expected, got)
    │   └─ SubscriptionFailed       the venue refused a subscription
    ├─ ExchangeError                venue, code, message
    │   ├─ RateLimited              retry_after_s
    │   ├─ AuthError
    │   ├─ OrderRejected
    │   │   └─ InsufficientBalance
    │   ├─ OrderNotFound
    │   └─ NetworkError             the request's outcome is unknown
    ├─ StaleData                    a book too old or out of sync to decide on
    ├─ DuplicateId                  the journal refuses a second row under an id it holds
    │   ├─ DuplicateClientOrderId   an order intent
    │   └─ DuplicateOpportunityId   an opportunity
    ├─ PermanentFailure             a component cannot work, and a restart will not change that
    └─ RuntimeFault                 the actor runtime's own faults
        ├─ MailboxFull
        ├─ AskTimeout
        ├─ ActorStopped
        └─ RestartIntensityExceeded

Who raises what, and what happens next, is in each class's docstring. Third-party errors
(aiohttp, msgspec, protobuf) are translated into these in exactly one place per boundary,
with ``raise ... from exc``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

EXCERPT_BYTES = 200


def excerpt(frame: bytes | str, limit: int = EXCERPT_BYTES) -> str:
    """A bounded, printable excerpt of a frame for an error message."""
    if isinstance(frame, bytes):
        text = frame[:limit].hex() if _is_binary(frame[:limit]) else frame[:limit].decode("utf-8", "replace")
        size = len(frame)
    else:
        text, size = frame[:limit], len(frame)
    return text + (f"... ({size} bytes)" if size > limit else "")


def _is_binary(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return any(b < 9 for b in data)


class ArborError(Exception):
    """Base of every error Arbor raises on purpose."""


class ConfigError(ArborError):
    """A config value is wrong. Raised by ``config.load``; the process exits with code 2."""

    def __init__(self, path: str, expected: str, got: object = None) -> None:
        self.path, self.expected, self.got = path, expected, got
        text = f"{path}: expected {expected}"
        if got is not None:
            text += f", got {got!r}"
        super().__init__(text)


class ProtocolError(ArborError):
    """A venue sent something we cannot use. Crashes the connection or book actor that saw
    it; its supervisor restarts it and the book resyncs."""


class DecodeError(ProtocolError):
    """A frame failed to decode. Raised by the venue codecs; carries a bounded excerpt."""

    def __init__(self, venue: str, reason: str, frame: bytes | str) -> None:
        self.venue, self.reason, self.excerpt = venue, reason, excerpt(frame)
        super().__init__(f"{venue}: cannot decode frame ({reason}): {self.excerpt}")


class SequenceGap(ProtocolError):
    """A book saw a delta that does not continue its sequence. Raised by the book actor; the
    supervisor restarts it and it resyncs from a fresh snapshot (never patched in place)."""

    def __init__(self, venue: str, symbol: str, expected: int, got: int) -> None:
        self.venue, self.symbol, self.expected, self.got = venue, symbol, expected, got
        super().__init__(f"{venue} {symbol}: sequence gap, expected {expected}, got {got}")


class SubscriptionFailed(ProtocolError):
    """The venue refused a subscription (its reply text is kept). Crashes the connection."""

    def __init__(self, venue: str, detail: str) -> None:
        self.venue, self.detail = venue, detail
        super().__init__(f"{venue}: subscription failed: {detail}")


class ExchangeError(ArborError):
    """The venue answered with an error. Raised by the venue REST adapters (one mapping per
    venue); what is not one of the subclasses crashes the calling actor."""

    def __init__(self, venue: str, code: int | str | None, message: str, *, status: int | None = None) -> None:
        self.venue, self.code, self.message, self.status = venue, code, message, status
        super().__init__(f"{venue} error {code} (HTTP {status}): {message}")


class RateLimited(ExchangeError):
    """HTTP 429/418 or the venue's rate-limit code. The caller waits ``retry_after_s`` and may
    retry (the one named recovery); the REST client also waits before sending again."""

    def __init__(self, venue: str, code: int | str | None, message: str, *, retry_after_s: float,
                 status: int | None = None) -> None:
        super().__init__(venue, code, message, status=status)
        self.retry_after_s = retry_after_s


class AuthError(ExchangeError):
    """Bad key, bad signature, or a timestamp outside the venue's window. Not retried."""


class OrderRejected(ExchangeError):
    """The venue refused an order (filters, price, unknown symbol...). The executor journals it
    with the venue's code and does not retry."""


class InsufficientBalance(OrderRejected):
    """The venue refused an order for lack of funds."""


class OrderNotFound(ExchangeError):
    """A query or cancel named an order the venue does not know. On reconciliation this means
    the order never reached the venue."""


class NetworkError(ExchangeError):
    """Timeout, connection reset or 5xx: the request's outcome is unknown. For an order the
    executor must query it by client id before doing anything else."""

    def __init__(self, venue: str, message: str, *, status: int | None = None) -> None:
        super().__init__(venue, None, message, status=status)


class DuplicateId(ArborError):
    """Raised by ``actors.journal.write`` when the journal refused the write (rolled back
    alone) because it reuses an id the journal holds: an order is never sent twice under one
    client id, and an earlier row is never overwritten. The executor drops the opportunity
    (the same one again, e.g. after a detector restart); elsewhere it crashes the asker."""

    kind: ClassVar[str] = "id"

    def __init__(self, id_: str) -> None:
        super().__init__(f"{self.kind} {id_} is already journaled")
        self.id = id_


class DuplicateClientOrderId(DuplicateId):
    """An order intent under a client order id the journal holds."""

    kind: ClassVar[Literal["client_order_id"]] = "client_order_id"


class DuplicateOpportunityId(DuplicateId):
    """An opportunity under an id the journal holds."""

    kind: ClassVar[Literal["opportunity_id"]] = "opportunity_id"


class StaleData(ArborError):
    """A decision would use a book that is out of sync or older than ``max_book_age_ms``."""


class PermanentFailure(ArborError):
    """A component cannot start (or go on) for a reason no restart will fix: the journal's path
    is not writable, a venue refuses our credentials, a configured market is not listed.

    Raised by an actor's ``on_start``/``receive`` (or by the engine's start-up calls). A
    supervisor never restarts a child that exits with it: it fails at once with this same error,
    and so on up to the root, so the process exits with a distinct code and this one-line reason
    instead of crash-looping. ``path`` is the tree path where it was first raised (set by the
    supervisor). Chain the cause (``raise PermanentFailure(...) from exc``): an ``AuthError``
    cause gives the process its own exit code.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.path: str | None = None

    def __str__(self) -> str:
        text = super().__str__()
        return f"{self.path}: {text}" if self.path else text


class RuntimeFault(ArborError):
    """Faults of the actor runtime itself."""


class MailboxFull(RuntimeFault):
    """Raised in the *sender* by a ``fail``-policy mailbox that is full."""


class AskTimeout(RuntimeFault):
    """``ask`` got no reply in time. A late reply is discarded, never given to a later ask."""


class ActorStopped(RuntimeFault):
    """The target actor is not running; raised at once by ``tell``/``send``/``ask``."""


class RestartIntensityExceeded(RuntimeFault):
    """A supervisor saw more than ``max_restarts`` within ``within_s``: it fails, and its parent
    handles that like any child crash; at the root the process exits non-zero."""
