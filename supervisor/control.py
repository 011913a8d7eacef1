"""The control endpoint: an actor in the tree (path ``control``) serving JSON over HTTP.

Inbox: nothing (it is driven by HTTP requests). It listens on a unix socket by default, or on
a loopback TCP port with a bearer token generated at start; the token goes to a 0600
``control.token`` and the address to a 0600 ``control.json`` in ``ControlConfig.state_dir``
(next to the journal) so the CLI can find the engine. The socket and those files live in
directories that are ours and 0700 (``supervisor.private``: created so, or verified; never a
symlink), the socket is created 0600 and the files with O_EXCL|O_NOFOLLOW, so no other local
user can connect or read the token, not even while the endpoint starts. It refuses a non-loopback bind unless
``allow_non_loopback`` is set, and it never shows secrets: it serves stats and ``describe()``
structs only, and redacts any describe field whose name looks like a credential.

Failure mode: a directory that cannot be made private, a socket path over the AF_UNIX limit,
a non-loopback host not allowed, or a socket another live engine is using is a
``PermanentFailure`` (the engine exits 3 with the reason); other bind errors crash
``on_start`` and its supervisor decides. A request for a path not in the tree is a 404, never a crash.

Endpoints (all JSON except /metrics; bodies are the Structs below)::

    GET  /v1/ps?path=G&state=S&kind=K&sort=KEY&top=N    PsReply (the rows selected, sorted)
    GET  /v1/tree                TreeReply
    GET  /v1/inspect?path=P      InspectReply
    GET  /v1/summary             the engine's summary Struct
    GET  /v1/markets?limit=N&symbol=S    MarketsReply (the journal's market changes)
    POST /v1/restart     {"path"}            OkReply
    POST /v1/stop                            OkReply
    POST /v1/subscribe   {"venue","symbol"}  OkReply
    POST /v1/unsubscribe {"venue","symbol"}  OkReply
    GET  /metrics                Prometheus text
    errors: ErrorReply with 400 (bad request), 401 (token), 404 (unknown route or path)

The reply Structs live in ``supervisor.control_api`` (the CLI decodes with the same types).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any, Protocol

import msgspec
from aiohttp import web

from actors import Actor
from actors.stats import ActorStats
from config import ControlConfig, is_loopback
from config.schema import UNIX_PATH_MAX
from protocols.errors import ConfigError, PermanentFailure
from protocols.messages import GetMarketEvents, MarketEvents
from protocols.venue import split_symbol
from supervisor import prom
from supervisor.control_api import (
    ADDRESS_FILE,
    TOKEN_FILE,
    ControlAddress,
    ControlStatus,
    ErrorReply,
    InspectReply,
    MarketRequest,
    MarketsReply,
    OkReply,
    PathRequest,
    PsReply,
    TreeNode,
    TreeReply,
)
from supervisor.private import bind_private_socket, private_dir, write_private
from supervisor.selection import NEEDS_WAITS, PsQuery, select
from supervisor.spec import RestartChild

_SECRET_NAME = re.compile(r"secret|token|passw|api_?key|credential", re.I)


# --- what the endpoint needs from the engine --------------------------------------------------


class TreeView(Protocol):
    """The part of the supervisor's running tree the control endpoint reads and drives."""

    def stats(self, *, waits: bool = True) -> list[ActorStats]: ...
    def which_children(self, path: str) -> list[Any]: ...
    def lookup(self, path: str) -> Any: ...
    def describe(self, path: str) -> Any: ...  # a Struct or None (or an awaitable of one)
    async def restart(self, path: str, reason: str = "manual") -> None: ...


class EngineHandle(Protocol):
    """What the engine gives its control endpoint. Unknown venues/paths raise LookupError."""

    @property
    def tree(self) -> TreeView: ...
    async def subscribe(self, venue: str, symbol: str) -> None: ...
    async def unsubscribe(self, venue: str, symbol: str) -> None: ...
    def request_stop(self) -> None: ...
    def summary(self) -> msgspec.Struct: ...


# --- the actor ------------------------------------------------------------------------------


class ControlActor(Actor[msgspec.Struct]):
    """The HTTP control endpoint as an actor; its ``on_stop`` closes the server and files."""

    def __init__(self, *, engine: EngineHandle, config: ControlConfig) -> None:
        self._engine = engine
        self._config = config
        # The loader always fills state_dir; a hand-built ControlConfig falls back to the
        # socket's directory or ~/.arbor, never the current directory.
        fallback = Path(config.unix_path).parent if config.unix_path else Path("~/.arbor")
        self._state_dir = Path(config.state_dir or fallback).expanduser()
        self._runner: web.AppRunner | None = None
        self._token: str | None = None
        self._address = ""
        self._requests = self._errors = 0
        self._since = 0.0
        self._encoder = msgspec.json.Encoder()
        self._files: list[Path] = []
        self._exposition = prom.Exposition()  # keeps the aggregated counters monotonic

    # lifecycle ------------------------------------------------------------------------------
    async def on_start(self) -> None:
        cfg = self._config
        if cfg.transport == "tcp" and not cfg.allow_non_loopback and not is_loopback(cfg.host):
            raise _permanent(ConfigError("control.host", "a loopback address (or control.allow_non_loopback = true)",
                                         cfg.host))
        private_dir(self._state_dir)
        app = web.Application(middlewares=[self._errors_and_auth])
        app.router.add_get("/v1/ps", self._ps)
        app.router.add_get("/v1/tree", self._tree)
        app.router.add_get("/v1/inspect", self._inspect)
        app.router.add_get("/v1/summary", self._summary)
        app.router.add_get("/v1/markets", self._markets)
        app.router.add_post("/v1/restart", self._restart)
        app.router.add_post("/v1/stop", self._stop)
        app.router.add_post("/v1/subscribe", self._subscribe)
        app.router.add_post("/v1/unsubscribe", self._unsubscribe)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        bound = False
        try:
            address = await (self._bind_unix() if cfg.transport == "unix" else self._bind_tcp())
            bound = True
        finally:
            if not bound:  # a failed start leaves no socket, token or runner behind
                await self._close()
        write_private(self._state_dir / ADDRESS_FILE, msgspec.json.encode(address))
        self._files.append(self._state_dir / ADDRESS_FILE)
        self._since = time.time()

    async def on_stop(self) -> None:
        await self._close()

    async def receive(self, msg: msgspec.Struct) -> None:
        return None  # driven by HTTP; nothing is sent to it

    def describe(self) -> ControlStatus:
        return ControlStatus(transport=self._config.transport, address=self._address,
                             requests=self._requests, errors=self._errors, listening_since=self._since)

    async def _bind_unix(self) -> ControlAddress:
        assert self._runner is not None
        path = Path(self._config.unix_path or self._state_dir / "control.sock").expanduser()
        if len(os.fsencode(path)) > UNIX_PATH_MAX:
            raise _permanent(ConfigError("control.unix_path", f"a path of at most {UNIX_PATH_MAX} bytes", str(path)))
        private_dir(path.parent)  # nobody else can even reach the socket, whatever its mode
        await _remove_stale_socket(path)
        site = web.SockSite(self._runner, bind_private_socket(path))  # created 0600, never chmod'ed later
        self._files.append(path)
        await site.start()
        self._address = f"unix:{path}"
        return ControlAddress(transport="unix", pid=os.getpid(), unix_path=str(path))

    async def _bind_tcp(self) -> ControlAddress:
        assert self._runner is not None
        self._token = secrets.token_urlsafe(32)
        token_file = self._state_dir / TOKEN_FILE
        write_private(token_file, self._token.encode())
        self._files.append(token_file)
        site = web.TCPSite(self._runner, self._config.host, self._config.port)
        await site.start()
        host, port = self._runner.addresses[0][:2]  # the port the OS chose for port 0
        url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        self._address = url
        return ControlAddress(transport="tcp", pid=os.getpid(), url=url, token_file=str(token_file))

    async def _close(self) -> None:
        runner, self._runner = self._runner, None
        try:
            if runner is not None:
                await runner.cleanup()
        finally:
            for file in self._files:
                file.unlink(missing_ok=True)
            self._files.clear()

    # HTTP -----------------------------------------------------------------------------------
    @web.middleware
    async def _errors_and_auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self._requests += 1
        if self._token is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self._token}".encode()):
                return self._error(401, "missing or wrong bearer token")
        try:
            return await handler(request)
        except web.HTTPException as exc:  # aiohttp's own 404/405: answer in our JSON shape
            return self._error(exc.status, exc.reason)
        except LookupError as exc:  # the tree or the engine does not know that path/venue
            return self._error(404, _lookup_text(exc))
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
            return self._error(400, str(exc))

    def _error(self, status: int, text: str) -> web.Response:
        self._errors += 1
        return self._json(ErrorReply(error=text, status=status), status=status)

    def _json(self, body: Any, status: int = 200) -> web.Response:
        return web.Response(body=self._encoder.encode(body), status=status, content_type="application/json")

    async def _ps(self, request: web.Request) -> web.Response:
        query = msgspec.convert(dict(request.query), PsQuery, strict=False)  # ValidationError: 400
        return self._json(ps_reply(self._engine.tree, query))

    async def _tree(self, request: web.Request) -> web.Response:
        return self._json(TreeReply(root=build_tree(self._engine.tree)))

    async def _inspect(self, request: web.Request) -> web.Response:
        path = _norm(request.query.get("path", ""))
        tree = self._engine.tree
        stats = _stats_of(tree, path)
        described = tree.describe(path)
        if inspect.isawaitable(described):
            described = await described
        running_supervisor = stats.strategy is not None and stats.state == "running"
        children = [c.path for c in tree.which_children(path)] if running_supervisor else []
        return self._json(InspectReply(
            path=stats.path, stats=stats, children=children,
            describe_type=type(described).__name__ if described is not None else None,
            describe=redact(msgspec.to_builtins(described)) if described is not None else None))

    async def _summary(self, request: web.Request) -> web.Response:
        return self._json(self._engine.summary())

    async def _markets(self, request: web.Request) -> web.Response:
        tree = self._engine.tree
        limit = int(request.query.get("limit", "50"))  # ValueError: 400
        events: MarketEvents = await tree.lookup("execution/journal").ask(
            GetMarketEvents(limit=limit, symbol=request.query.get("symbol")))
        try:
            status = tree.describe("markets")  # whole-market mode only
        except LookupError:
            status = None
        if inspect.isawaitable(status):
            status = await status
        return self._json(MarketsReply(status=msgspec.to_builtins(status) if status is not None else None,
                                       events=list(events.events), counts=events.counts))

    async def _restart(self, request: web.Request) -> web.Response:
        body = msgspec.json.decode(await request.read(), type=PathRequest)
        path = _norm(body.path)
        _stats_of(self._engine.tree, path)  # 404 before asking the supervisor
        own = self.ref.path
        if own == path or own.startswith(path + "/"):
            # Restarting this endpoint (or its parent): awaiting the restart would wait for our own
            # shutdown, which waits for this very request to finish. Post the restart to the
            # supervisor and answer now; the endpoint is back once the restart completes.
            parent, _, name = path.rpartition("/")
            self._engine.tree.lookup(parent).tell(RestartChild(name=name, reason="manual"))
            return self._json(OkReply(detail=f"restarting {path} (this endpoint): back in a moment"))
        await self._engine.tree.restart(path, reason="manual")
        return self._json(OkReply(detail=f"restarted {path}"))

    async def _stop(self, request: web.Request) -> web.Response:
        # The tree (and this actor) stops after the reply is written: aiohttp's runner cleanup
        # lets in-flight requests finish.
        self._engine.request_stop()
        return self._json(OkReply(detail="stopping"))

    async def _subscribe(self, request: web.Request) -> web.Response:
        body = await self._market(request)
        await self._engine.subscribe(body.venue, body.symbol)
        return self._json(OkReply(detail=f"subscribed {body.venue} {body.symbol} (until the process stops)"))

    async def _unsubscribe(self, request: web.Request) -> web.Response:
        body = await self._market(request)
        await self._engine.unsubscribe(body.venue, body.symbol)
        return self._json(OkReply(detail=f"unsubscribed {body.venue} {body.symbol}"))

    async def _market(self, request: web.Request) -> MarketRequest:
        body = msgspec.json.decode(await request.read(), type=MarketRequest)
        split_symbol(body.symbol)  # ValueError → 400 with the expected form
        return body

    async def _metrics(self, request: web.Request) -> web.Response:
        text = self._exposition.render(self._engine.tree.stats(), self._engine.summary())
        return web.Response(text=text, headers={"Content-Type": prom.CONTENT_TYPE})


# --- helpers (pure) -------------------------------------------------------------------------


def _norm(path: str) -> str:
    return path.strip().strip("/")


def ps_reply(tree: TreeView, query: PsQuery) -> PsReply:
    """Filter and sort every actor's cheap row, then take the full stats (queue waits) of the
    rows shown only, unless the sort itself needs every row's waits."""
    waits = query.sort in NEEDS_WAITS
    every = tree.stats(waits=waits)
    rows = select(every, path=query.path, state=query.state, kind=query.kind, top=query.top, sort=query.sort)
    if not waits:
        rows = [tree.lookup(row.path).stats() for row in rows]
    return PsReply(actors=rows, total=len(every))


def _stats_of(tree: TreeView, path: str) -> ActorStats:
    """One actor's stats; LookupError (404) if nothing is at ``path``."""
    return tree.lookup(path).stats()


def _lookup_text(exc: LookupError) -> str:
    return str(exc.args[0]) if exc.args and isinstance(exc.args[0], str) else str(exc)


def build_tree(tree: TreeView) -> TreeNode:
    """Nest the depth-first ``stats()`` list by path; restart types come from which_children."""
    all_stats = tree.stats(waits=False)  # a tree shows no queue waits
    by_path = {_norm(s.path): s for s in all_stats}
    children: dict[str, list[str]] = {}
    for path in by_path:
        if path:
            parent = path.rpartition("/")[0]
            while parent and parent not in by_path:  # hang it on the nearest known ancestor
                parent = parent.rpartition("/")[0]
            children.setdefault(parent, []).append(path)
    restart_types: dict[str, str] = {}
    for path, stats in by_path.items():
        if stats.strategy is not None:
            for info in tree.which_children(path):
                kind = getattr(info, "restart", None)
                if isinstance(kind, str):
                    restart_types[_norm(info.path)] = kind

    def node(path: str) -> TreeNode:
        s = by_path[path]
        return TreeNode(name=path.rpartition("/")[2] or "/", path=path or "/", kind=s.kind, state=s.state,
                        restarts=s.restarts, restart_type=restart_types.get(path), strategy=s.strategy,
                        max_restarts=s.max_restarts, within_s=s.within_s, restarts_in_window=s.restarts_in_window,
                        children=[node(c) for c in children.get(path, [])], mailbox_depth=s.mailbox_depth,
                        rate_per_s=s.rate_per_s)

    if "" in by_path:
        return node("")
    # No stats row for the root itself: a synthetic root holding the top-level children.
    return TreeNode(name="/", path="/", kind="Supervisor", state="running", restarts=0,
                    children=[node(c) for c in children.get("", [])])


def redact(value: Any) -> Any:
    """Replace any field whose name looks like a credential with "<hidden>", recursively."""
    if isinstance(value, dict):
        return {k: "<hidden>" if _SECRET_NAME.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


async def _remove_stale_socket(path: Path) -> None:
    """A socket file left by a dead engine is removed; one a live engine answers on is an error."""
    if not path.exists():
        return
    try:
        _, writer = await asyncio.open_unix_connection(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)  # nobody listens: stale
        return
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    raise _permanent(ConfigError("control.unix_path", "a socket no running engine is using", str(path)))


def _permanent(exc: ConfigError) -> PermanentFailure:
    """A control endpoint that cannot be set up as configured will not be by a restart either."""
    failure = PermanentFailure(str(exc))
    failure.__cause__ = exc
    return failure
