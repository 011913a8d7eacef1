"""Request signing for each venue, exactly as documented (shared/venues). Pure functions,
shared by the REST adapters and the simulator, which verifies what the adapters sign."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping


def hmac_sha256_hex(secret: str, payload: str) -> str:
    """MEXC and Binance: lowercase hex HMAC-SHA256 of ``query + body`` (no separator)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


class HmacSha256:
    """``hmac_sha256_hex`` keyed once (RFC 2104, as the pure-Python ``hmac`` module computes it):
    the inner and outer SHA-256 states after the padded key are kept and copied per message,
    two digest copies instead of a new HMAC (or an OpenSSL HMAC context copy, which costs twice
    as much, more when cold: an order is signed once per opportunity, so from cold caches).
    ``fed(head)``: the same key with a constant message head already hashed in."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, secret: str) -> None:
        key = secret.encode()
        if len(key) > 64:  # the block size: a longer key is hashed first
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner, self._outer = hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))

    def fed(self, head: str) -> HmacSha256:
        out = HmacSha256.__new__(HmacSha256)
        out._inner, out._outer = self._inner.copy(), self._outer
        out._inner.update(head.encode())
        return out

    def hexdigest(self, message: str) -> str:
        """Of the head fed so far followed by ``message``."""
        inner = self._inner.copy()
        inner.update(message.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def total_params(query: str, body: str) -> str:
    """MEXC/Binance signed payload: the query string concatenated with the body, no ``&``."""
    return query + body


def gate_sign(secret: str, method: str, path: str, query: str, body: str, timestamp_s: str) -> str:
    """Gate.io APIv4: hex HMAC-SHA512 over METHOD, path (with /api/v4), raw query, SHA-512 of the
    body and the timestamp in seconds, joined by newlines."""
    body_hash = hashlib.sha512(body.encode()).hexdigest()
    message = "\n".join((method.upper(), path, query, body_hash, timestamp_s))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha512).hexdigest()


def binance_ws_payload(params: Mapping[str, object]) -> str:
    """Binance WebSocket API signed payload (private.md §1.4): every param but ``signature``,
    sorted by name, ``k=v`` joined by ``&``, NOT percent-encoded."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")


def gate_ws_channel_sign(secret: str, channel: str, event: str, time_s: int) -> str:
    """Gate.io private channel ``auth.SIGN`` (private.md §2.1): hex HMAC-SHA512 of
    ``channel=<channel>&event=<event>&time=<time>``."""
    message = f"channel={channel}&event={event}&time={time_s}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha512).hexdigest()


def gate_ws_api_sign(secret: str, channel: str, req_param: str, timestamp_s: str, event: str = "api") -> str:
    """Gate.io WebSocket API (private.md §2.5): hex HMAC-SHA512 of
    ``<event>\\n<channel>\\n<req_param>\\n<timestamp>`` (``req_param`` is "" for ``spot.login``)."""
    message = f"{event}\n{channel}\n{req_param}\n{timestamp_s}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha512).hexdigest()
