"""``python -m supervisor [COMMAND]``: run the engine, or drive a running one.

With no command (or ``run``) the engine starts from ``--config`` (default: the embedded
simulator) through ``supervisor.app.run_engine``. Every other command talks to a running
engine's control endpoint, found through its config (``control.json`` / ``control.sock``
next to the journal) or given with ``--socket`` / ``--url --token-file``.

Exit codes: 0 done; 1 no engine running, unknown path, refused request, or the engine failed;
2 bad config or bad usage; the engine also exits 3 when a component cannot work for a reason
a restart will not fix (``PermanentFailure``) and 4 when a venue refuses the credentials.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

import aiohttp
import msgspec

import config
from protocols.errors import ConfigError
from supervisor import cli_render as render
from supervisor import latency, replay_cli
from supervisor.control_api import (
    ADDRESS_FILE,
    ControlAddress,
    ErrorReply,
    InspectReply,
    MarketsReply,
    OkReply,
    PsReply,
    TreeReply,
)
from supervisor.selection import SORT_KEYS, PsQuery

T = TypeVar("T")

CLIENT_COMMANDS = ("ps", "tree", "inspect", "restart", "stop", "subscribe", "unsubscribe", "metrics", "watch",
                   "markets", "summary")

class CliFailure(Exception):
    """A command could not be done; the message is printed as is and the exit code is 1."""

class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    where: str  # for messages: "unix socket /x/control.sock" or the URL
    unix_path: str | None = None
    url: str | None = None
    token_file: str | None = None

# --- finding and talking to the engine ------------------------------------------------------

def find_endpoint(args: argparse.Namespace) -> Endpoint:
    """``--socket`` or ``--url`` win; otherwise the engine of ``--config`` (default config)."""
    socket, url = getattr(args, "socket", None), getattr(args, "url", None)
    if socket:
        return Endpoint(where=f"unix socket {socket}", unix_path=socket)
    if url:
        return Endpoint(where=url, url=url, token_file=getattr(args, "token_file", None))
    cfg = config.load(getattr(args, "config", None))
    state_dir = Path(cfg.control.state_dir or ".")
    address_file = state_dir / ADDRESS_FILE
    if address_file.exists():
        address = msgspec.json.decode(address_file.read_bytes(), type=ControlAddress)
        if address.transport == "tcp" and address.url:
            return Endpoint(where=address.url, url=address.url, token_file=address.token_file)
        if address.unix_path:
            return Endpoint(where=f"unix socket {address.unix_path}", unix_path=address.unix_path)
    if cfg.control.transport == "unix" and cfg.control.unix_path:
        return Endpoint(where=f"unix socket {cfg.control.unix_path}", unix_path=cfg.control.unix_path)
    raise CliFailure(f"no engine running: {address_file} does not exist (start one with `python -m supervisor`)")

class Client:
    """One aiohttp session to the control endpoint; errors become ``CliFailure``."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        ep = self.endpoint
        headers = {}
        if ep.token_file:
            try:
                headers["Authorization"] = "Bearer " + Path(ep.token_file).read_text().strip()
            except OSError as exc:
                raise CliFailure(
                    f"no engine running: cannot read token file {ep.token_file} ({exc.strerror})") from None
        if ep.unix_path is not None:
            if not Path(ep.unix_path).exists():
                raise CliFailure(f"no engine running: no control socket at {ep.unix_path} "
                                 "(start one with `python -m supervisor`)")
            connector: aiohttp.BaseConnector = aiohttp.UnixConnector(path=ep.unix_path)
            base = "http://arbor"
        else:
            connector, base = aiohttp.TCPConnector(), (ep.url or "").rstrip("/")
        self._base = base
        self._session = aiohttp.ClientSession(connector=connector, headers=headers,
                                              timeout=aiohttp.ClientTimeout(total=10))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, route: str, *, body: Any = None,
                      params: dict[str, str] | None = None) -> bytes:
        assert self._session is not None
        data = msgspec.json.encode(body) if body is not None else None
        try:
            async with self._session.request(method, self._base + route, data=data, params=params,
                                             headers={"Content-Type": "application/json"}) as resp:
                payload = await resp.read()
                status = resp.status
        except aiohttp.ClientConnectionError as exc:  # refused, reset, socket gone
            raise CliFailure(f"no engine running at {self.endpoint.where} ({exc})") from None
        except TimeoutError:
            raise CliFailure(f"the engine at {self.endpoint.where} did not answer in time") from None
        if status == 401:
            raise CliFailure(f"refused by {self.endpoint.where}: wrong or missing token (HTTP 401)")
        if status >= 400:
            try:
                error = msgspec.json.decode(payload, type=ErrorReply).error
            except msgspec.DecodeError:
                error = payload[:200].decode("utf-8", "replace")
            raise CliFailure(f"error: {error} (HTTP {status})")
        return payload

    async def get(self, route: str, type_: type[T], **params: str) -> T:
        return msgspec.json.decode(await self.request("GET", route, params=params or None), type=type_)

    async def post(self, route: str, body: Any = None) -> OkReply:
        return msgspec.json.decode(await self.request("POST", route, body=body or {}), type=OkReply)

# --- commands -------------------------------------------------------------------------------

async def _client_command(args: argparse.Namespace, out: TextIO) -> int:
    async with Client(find_endpoint(args)) as client:
        match args.command:
            case "ps":
                if args.json:
                    reply = await _ps(client, args)
                    out.write(msgspec.json.format(msgspec.json.encode(reply.actors)).decode() + "\n")
                else:
                    out.write(await _ps_text(client, args) + "\n")
            case "watch":
                count = 0
                while True:
                    out.write("\x1b[H\x1b[2J" + await _ps_text(client, args) + "\n")
                    out.flush()
                    count += 1
                    if args.count and count >= args.count:
                        return 0
                    await asyncio.sleep(args.interval)  # a refresh period, not a wait for a condition
            case "tree":
                tree = await client.get("/v1/tree", TreeReply)
                root, shown, total = render.prune_tree(tree.root, path=args.path, state=args.state, kind=args.kind,
                                                       top=args.top, sort=args.sort)
                if shown != total:
                    out.write(f"{shown} of {total} actors match (drawn with their supervisors)\n")
                out.write((render.tree_text(root) if root is not None else "(no actor matches)") + "\n")
            case "summary":
                body = await client.request("GET", "/v1/summary")
                if args.json:
                    out.write(msgspec.json.format(body).decode() + "\n")
                else:
                    out.write(render.summary_text(msgspec.json.decode(body)) + "\n")
            case "inspect":
                body = await client.request("GET", "/v1/inspect", params={"path": args.path})
                if args.json:
                    out.write(msgspec.json.format(body).decode() + "\n")
                else:
                    out.write(render.inspect_text(msgspec.json.decode(body, type=InspectReply)) + "\n")
            case "restart":
                out.write((await client.post("/v1/restart", {"path": args.path})).detail + "\n")
            case "subscribe" | "unsubscribe":
                reply_ok = await client.post(f"/v1/{args.command}", {"venue": args.venue, "symbol": args.symbol})
                out.write(reply_ok.detail + "\n")
            case "metrics":
                out.write((await client.request("GET", "/metrics")).decode())
            case "markets":
                params = {"limit": str(args.limit), **({"symbol": args.symbol} if args.symbol else {})}
                body = await client.request("GET", "/v1/markets", params=params)
                if args.json:
                    out.write(msgspec.json.format(body).decode() + "\n")
                else:
                    out.write(render.markets_text(msgspec.json.decode(body, type=MarketsReply)) + "\n")
            case "stop":
                out.write((await client.post("/v1/stop")).detail + "\n")
                if args.wait:
                    await _wait_gone(client, args.timeout)
                    out.write("stopped\n")
    return 0

async def _ps(client: Client, args: argparse.Namespace) -> PsReply:
    """The rows to show, selected by the engine (it takes the full stats of those rows only)."""
    query = PsQuery(path=args.path, state=args.state, kind=args.kind, top=args.top, sort=args.sort)
    return await client.get("/v1/ps", PsReply, **query.params())


async def _ps_text(client: Client, args: argparse.Namespace) -> str:
    """The summary header over the rows; both asked at once (on a busy engine each request
    waits its turns on the engine's loop)."""
    reply, summary = await asyncio.gather(_ps(client, args), client.request("GET", "/v1/summary"))
    return (render.summary_header(msgspec.json.decode(summary), len(reply.actors), reply.total) + "\n"
            + render.ps_table(reply.actors, sort=args.sort))


async def _wait_gone(client: Client, timeout_s: float) -> None:
    """Poll until the endpoint stops answering (the engine has exited), with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        try:
            await client.request("GET", "/v1/summary")
        except CliFailure:
            return
        await asyncio.sleep(0.1)
    raise CliFailure(f"the engine at {client.endpoint.where} was still answering after {timeout_s}s")

def _run_engine(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    if getattr(args, "capture", None):
        cfg = msgspec.structs.replace(cfg, capture=msgspec.structs.replace(cfg.capture, dir=args.capture))
    from supervisor.app import run_engine  # lazily: the engine assembly pulls in every actor

    return int(run_engine(cfg, duration_s=args.duration, log_format=args.log_format, live=args.live))

# --- argument parsing -----------------------------------------------------------------------

SUBSCRIBE_NOTE = "The change lasts until the process stops; the config file is not rewritten."

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m supervisor",
        description="Run the Arbor engine (no COMMAND, or `run`), or drive a running one.",
        epilog="Exit codes: 0 ok; 1 no engine running / unknown path / refused / engine failed; "
               "2 bad config or usage; 3 the engine cannot work (permanent failure, reason logged); "
               "4 a venue refused the credentials.")
    _run_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _run_options(sub.add_parser("run", help="run the engine (the default)"), suppress=True)

    endpoint = argparse.ArgumentParser(add_help=False)
    group = endpoint.add_argument_group("finding the engine")
    group.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                       help="the engine's config (its control files sit next to its journal)")
    group.add_argument("--socket", metavar="PATH", default=argparse.SUPPRESS, help="control unix socket")
    group.add_argument("--url", metavar="URL", default=argparse.SUPPRESS, help="control URL (TCP)")
    group.add_argument("--token-file", metavar="F", default=argparse.SUPPRESS, help="bearer token file (TCP)")
    sort = dict(choices=SORT_KEYS, default="path", help="sort column (numbers: largest first)")

    p = sub.add_parser("ps", parents=[endpoint], help="one row per actor")
    p.add_argument("--sort", **sort)  # type: ignore[arg-type]
    p.add_argument("--json", action="store_true", help="the raw stats as JSON")
    _filters(p)
    p = sub.add_parser("watch", parents=[endpoint], help="ps refreshed in place until Ctrl-C")
    p.add_argument("--sort", **sort)  # type: ignore[arg-type]
    _filters(p)
    p.add_argument("--interval", type=float, default=1.0, metavar="S", help="seconds between refreshes")
    p.add_argument("--count", type=int, default=0, metavar="N", help="stop after N refreshes (0: never)")
    p = sub.add_parser("tree", parents=[endpoint], help="the supervision tree: strategies, intensity, states")
    _filters(p)
    p.add_argument("--sort", choices=tuple(render.TREE_SORTS), default="rate", help="what --top ranks by")
    p = sub.add_parser("summary", parents=[endpoint],
                       help="books in sync, time until all were, markets (shared/active/quarantined), trading")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("inspect", parents=[endpoint], help="one actor's stats and describe()")
    p.add_argument("path", help="tree path, e.g. venues/mexc/books/BTCUSDT")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("restart", parents=[endpoint], help="restart one actor through its supervisor")
    p.add_argument("path")
    p = sub.add_parser("stop", parents=[endpoint], help="graceful shutdown of the engine")
    p.add_argument("--no-wait", dest="wait", action="store_false", help="return once the stop is accepted")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="how long to wait for the exit")
    for name, verb in (("subscribe", "add"), ("unsubscribe", "remove")):
        p = sub.add_parser(name, parents=[endpoint], help=f"{verb} a market at run time. {SUBSCRIBE_NOTE}",
                           description=f"{verb.capitalize()} a market at run time. {SUBSCRIBE_NOTE}")
        p.add_argument("venue", help="venue name from the config, e.g. mexc")
        p.add_argument("symbol", help='"BASE/QUOTE", e.g. BTC/USDT')
    sub.add_parser("metrics", parents=[endpoint], help="Prometheus text (also served at /metrics)")
    p = sub.add_parser("markets", parents=[endpoint],
                       help="markets added, removed and quarantined (from the journal), newest first")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="at most N changes")
    p.add_argument("--symbol", metavar="BASE/QUOTE", help="only this market's changes")
    p.add_argument("--json", action="store_true")
    replay_cli.add_parser(sub)
    latency.add_parser(sub)
    return parser

def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--path", metavar="GLOB", help="tree path glob, e.g. 'venues/mexc/*' (or a subtree)")
    p.add_argument("--state", help="running, restarting, stopped, ...")
    p.add_argument("--kind", help="actor class, e.g. BookActor")
    p.add_argument("--top", type=int, metavar="N", help="only the first N rows after sorting (--sort rate|depth)")


def _run_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = (lambda value: argparse.SUPPRESS) if suppress else (lambda value: value)
    parser.add_argument("--config", metavar="FILE", default=default(None),
                        help="TOML config (default: the embedded simulator)")
    parser.add_argument("--duration", type=float, metavar="S", default=default(None), help="exit after S seconds")
    parser.add_argument("--log-format", choices=("text", "json"), default=default("text"))
    parser.add_argument("--live", action="store_true", default=default(False),
                        help="send real orders (also needs credentials in the environment)")
    parser.add_argument("--capture", metavar="DIR", default=default(None),
                        help="record raw frames and REST snapshots into DIR for replay ([capture] in the config)")

def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """The process entry point. Returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command in (None, "run"):
            return _run_engine(args)
        if args.command == "replay":
            return replay_cli.run(args)
        if args.command == "latency":
            return latency.run(args)
        return asyncio.run(_client_command(args, out or sys.stdout))
    except (ConfigError, CliFailure) as exc:
        return _report(exc)
    except KeyboardInterrupt:  # Ctrl-C ends `watch`; not an error
        return 0

async def main_async(argv: Sequence[str], *, out: TextIO | None = None) -> int:
    """``main`` for a caller that already runs an event loop (tests, embedding); client
    commands only."""
    args = build_parser().parse_args(argv)
    if args.command in (None, "run"):
        raise ValueError("main_async drives a running engine; use main() to run one")
    try:
        return await _client_command(args, out or sys.stdout)
    except (ConfigError, CliFailure) as exc:
        return _report(exc)

def _report(exc: ConfigError | CliFailure) -> int:
    """Print the one-line reason; ConfigError exits 2, everything else 1."""
    if isinstance(exc, ConfigError):
        print(f"config error ({getattr(exc, 'source', 'config')}): {exc}", file=sys.stderr)
        return 2
    print(exc, file=sys.stderr)
    return 1
