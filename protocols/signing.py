"""Request signing for each venue, exactly as documented (shared/venues). Pure functions,
shared by the REST adapters and the simulator, which verifies what the adapters sign."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping


def hmac_sha256_hex(secret: str, payload: str) -> str:
    """MEXC and Binance: lowercase hex HMAC-SHA256 of ``query + body`` (no separator)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


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
