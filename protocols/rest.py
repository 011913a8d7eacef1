"""One pooled aiohttp client per venue: rate limits, timeouts, and the single place where
aiohttp's errors become Arbor's (``NetworkError``) and HTTP errors go to the venue's mapper."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from protocols.errors import ExchangeError, NetworkError, RateLimited
from protocols.ratelimit import RateLimits

# venue-specific: (HTTP status, body, headers) -> the error to raise
ErrorMapper = Callable[[int, bytes, Mapping[str, str]], ExchangeError]
# a recorder of public replies: ("GET /path?query", receive time ns, body)
RestTap = Callable[[str, int, bytes], None]
_SECRET_HINTS = ("key", "sign", "token", "auth")


class Response:
    """What the adapters read of a reply: status, headers, raw body (decoded by msgspec)."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: CIMultiDictProxy[str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


class RestClient:
    """Sends requests to one venue. The session is created on first use inside the running
    loop and shared by every request (connection pooling); ``close()`` releases it."""

    def __init__(self, venue: str, base_url: str, *, limits: RateLimits, map_error: ErrorMapper,
                 timeout_s: float = 10.0) -> None:
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.limits = limits
        self._map_error = map_error
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self.tap: RestTap | None = None  # set by a capture: public GET replies are recorded

    def _session_or_new(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def request(self, method: str, path: str, *, query: str = "", body: bytes | None = None,
                      headers: Mapping[str, str] | None = None, bucket: str = "default",
                      weight: float = 1.0) -> Response:
        """Send and return a 2xx response; anything else raises from the hierarchy.

        ``query`` is sent exactly as given (it is what was signed), never re-encoded.
        """
        await self.limits.acquire(bucket, weight)
        url = self.base_url + path + (f"?{query}" if query else "")
        try:
            async with self._session_or_new().request(
                method, URL(url, encoded=True), data=body, headers=headers
            ) as resp:
                payload = await resp.read()
                status, resp_headers = resp.status, resp.headers
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise NetworkError(self.venue, f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if status < 400:
            if self.tap is not None and method == "GET" and is_public(query, headers):
                self.tap(f"GET {path}?{query}", time.monotonic_ns(), payload)
            return Response(status, resp_headers, payload)
        error = self._map_error(status, payload, resp_headers)
        if isinstance(error, RateLimited):
            self.limits.pause_all(error.retry_after_s)
        raise error

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def is_public(query: str, headers: Mapping[str, str] | None) -> bool:
    """A request carrying nothing secret: no signature in the query, no key in the headers.
    Only these replies are ever recorded (a capture never holds account data or a signature)."""
    if "signature=" in query:
        return False
    return not any(hint in name.lower() for name in (headers or {}) for hint in _SECRET_HINTS)


def retry_after(headers: Mapping[str, str], default_s: float = 1.0) -> float:
    """Seconds from a ``Retry-After`` header (as Binance and MEXC send with 418/429)."""
    try:
        seconds = float(headers.get("Retry-After", default_s))
    except ValueError:  # the HTTP-date form: no venue of ours sends it
        return default_s
    return max(0.0, seconds) if math.isfinite(seconds) else default_s  # "inf" would pause forever
