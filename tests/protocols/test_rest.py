"""The shared REST client (protocols/rest.py) against a loopback server: exact queries, error
mapping hand-off, rate-limit pauses, and aiohttp's failures becoming NetworkError."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Mapping

import pytest
from aiohttp import web

from protocols.errors import ExchangeError, NetworkError, RateLimited
from protocols.ratelimit import RateLimits, TokenBucket
from protocols.rest import RestClient, retry_after
from testkit import FakeClock


class Server:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes, str | None, int]] = []  # method, raw path, body, header, peer port
        self.status, self.body, self.headers = 200, b'{"ok":true}', {"X-MBX-USED-WEIGHT-1M": "5"}
        self.release = asyncio.Event()
        self.hang = False

    async def handle(self, request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername")[1] if request.transport else -1
        self.seen.append((request.method, request.raw_path, await request.read(), request.headers.get("X-Key"), peer))
        if self.hang:
            await self.release.wait()
        return web.Response(status=self.status, body=self.body, headers=self.headers)


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    srv = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", srv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield srv, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        srv.release.set()
        await runner.cleanup()


def Clock() -> FakeClock[float]:
    return FakeClock(0.0)


def limits() -> RateLimits:
    clock = Clock()
    return RateLimits({"default": TokenBucket(100, 60, clock=clock), "orders": TokenBucket(10, 1, clock=clock)})


class Mapper:
    """Records what the client hands to the venue's error mapping."""

    def __init__(self, error: ExchangeError | None = None) -> None:
        self.calls: list[tuple[int, bytes, Mapping[str, str]]] = []
        self.error = error

    def __call__(self, status: int, body: bytes, headers: Mapping[str, str]) -> ExchangeError:
        self.calls.append((status, body, headers))
        return self.error or ExchangeError("test", status, body.decode(), status=status)


@pytest.fixture
async def client(server: tuple[Server, str]) -> AsyncIterator[RestClient]:
    rest = RestClient("test", server[1] + "/", limits=limits(), map_error=Mapper(), timeout_s=5.0)
    try:
        yield rest
    finally:
        await rest.close()


async def test_query_is_sent_exactly_as_signed_never_re_encoded(server, client) -> None:
    query = "symbols=%5B%22BTCUSDT%22%5D&symbol=%EF%BC%91&signature=abc"
    response = await client.request("POST", "/api/v3/order", query=query, body=b"x=1", headers={"X-Key": "k"})
    method, raw_path, body, key, _ = server[0].seen[0]
    assert (method, raw_path, body, key) == ("POST", "/api/v3/order?" + query, b"x=1", "k")
    assert response.status == 200 and response.body == b'{"ok":true}'
    assert response.headers["X-MBX-USED-WEIGHT-1M"] == "5"


async def test_a_request_spends_its_weight_on_its_bucket(client) -> None:
    await client.request("GET", "/x", bucket="default", weight=40)
    await client.request("GET", "/x", bucket="orders", weight=1)
    assert client.limits.bucket("default").wait_time(60) == 0 and client.limits.bucket("default").wait_time(61) > 0
    assert client.limits.bucket("orders").wait_time(9) == 0 and client.limits.bucket("orders").wait_time(10) > 0


async def test_an_error_status_goes_to_the_venue_mapper_and_its_error_is_raised(server) -> None:
    server[0].status, server[0].body, server[0].headers = 400, b'{"code":-1121}', {"X-Thing": "1"}
    mapper = Mapper()
    rest = RestClient("test", server[1], limits=limits(), map_error=mapper)
    try:
        with pytest.raises(ExchangeError) as info:
            await rest.request("GET", "/x")
    finally:
        await rest.close()
    assert info.value.status == 400
    [(status, body, headers)] = mapper.calls
    assert (status, body, headers["X-Thing"]) == (400, b'{"code":-1121}', "1")


async def test_a_rate_limited_reply_pauses_every_bucket_for_retry_after(server) -> None:
    server[0].status = 429
    rest = RestClient("test", server[1], limits=limits(),
                      map_error=Mapper(RateLimited("test", 429, "slow down", retry_after_s=7, status=429)))
    try:
        with pytest.raises(RateLimited):
            await rest.request("GET", "/x")
    finally:
        await rest.close()
    assert rest.limits.bucket("default").wait_time(1) == 7 and rest.limits.bucket("orders").wait_time(1) == 7


async def test_connection_refused_is_a_network_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on any more
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rest = RestClient("test", f"http://127.0.0.1:{port}", limits=limits(), map_error=Mapper())
    try:
        with pytest.raises(NetworkError, match="GET /x"):
            await rest.request("GET", "/x")
    finally:
        await rest.close()


async def test_a_timeout_is_a_network_error_because_the_outcome_is_unknown(server) -> None:
    server[0].hang = True
    rest = RestClient("test", server[1], limits=limits(), map_error=Mapper(), timeout_s=0.2)
    try:
        with pytest.raises(NetworkError, match="Timeout"):
            await rest.request("POST", "/api/v3/order")
    finally:
        await rest.close()


async def test_requests_share_one_pooled_connection(server, client) -> None:
    await client.request("GET", "/a")
    await client.request("GET", "/b")
    assert server[0].seen[0][4] == server[0].seen[1][4]  # same client port: the connection was reused


async def test_close_releases_the_session_and_a_later_request_opens_a_new_one(server, client) -> None:
    await client.request("GET", "/a")
    await client.close()
    await client.close()  # idempotent
    await client.request("GET", "/b")
    assert len(server[0].seen) == 2


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"Retry-After": "7"}, 7.0), ({"Retry-After": "0.5"}, 0.5), ({}, 1.0), ({"Retry-After": "-3"}, 0.0),
     ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 1.0), ({"Retry-After": ""}, 1.0),
     ({"Retry-After": "inf"}, 1.0), ({"Retry-After": "nan"}, 1.0)],
)
def test_retry_after_reads_seconds_and_falls_back_to_the_default(headers: dict, expected: float) -> None:
    assert retry_after(headers) == expected
