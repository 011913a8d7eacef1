"""cryptofeed's raw capture files (its ``raw_data_collection`` recorder), read as capture records.

``EXCHANGE.ws.N.M`` holds one WebSocket session per line group::

    wss://stream.binance.com:9443/stream?streams=nknusdt@depth@100ms/... <-> 1633998511.159679
    1633998512.0633569: {"stream":"nknusdt@depth@100ms","data":{...}}          (Binance)
    wss://api.gateio.ws/ws/v4/ <- 1619093532.7708359: {"time":...,"channel":...}  (Gate.io)

(``<->`` a connect; ``<-`` a frame received, ``->`` one sent; a line without the URL is a frame
received on the last connection). ``EXCHANGE.http.N.M`` holds one REST reply per line::

    https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000 -> 1633998512.320639: {...}

Times are wall-clock seconds; records get them in ns, exactly (``to_ns``). The markets are
read from what was subscribed: Binance's stream names in the URL (``nknusdt@depth`` →
``NKN/USDT``, split on a known quote asset), Gate's ``spot.order_book_update`` or ``spot.obu``
subscribe replies (``INK_USDT`` → ``INK/USDT``; the channel becomes the adapter's
``book_channel``, so the replay applies that channel's sync rule). A line that does not parse
raises ``ValueError`` naming
the file, the line number and an excerpt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from protocols.capture import REST, WS, Market, Record

KINDS = {"BINANCE": "binance", "GATEIO": "gateio"}
NAME = re.compile(r"^(?P<exchange>[A-Z]+)\.(?P<kind>ws|http)\.\d+\.\d+$")
# Longest first, so "BUSD" wins over "USD"-like suffixes and "USDT" over "USD".
QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "GBP", "AUD", "BRL",
          "DAI", "USD", "RUB", "UAH", "BIDR", "IDRT", "NGN", "ZAR", "PAX", "XRP", "TRX", "DOGE")


def is_cryptofeed(path: str | Path) -> bool:
    return bool(NAME.match(Path(path).name))


def kind_of(path: str | Path) -> tuple[str, str]:
    """``(venue kind, "ws"|"http")`` from a file name like ``BINANCE.ws.1.0``."""
    m = NAME.match(Path(path).name)
    if m is None or m["exchange"] not in KINDS:
        raise ValueError(f"{path}: not a cryptofeed capture of {'/'.join(KINDS)} (EXCHANGE.ws.N.M / EXCHANGE.http.N.M)")
    return KINDS[m["exchange"]], m["kind"]


def split_binance(name: str) -> str:
    """``nknusdt`` → ``NKN/USDT``."""
    upper = name.upper()
    for quote in QUOTES:
        if upper.endswith(quote) and len(upper) > len(quote):
            return f"{upper[:-len(quote)]}/{quote}"
    raise ValueError(f"cannot split the Binance symbol {name!r} into BASE/QUOTE")


def to_ns(seconds: str) -> int:
    """``"1633998512.0633569"`` → ns, exactly (no float rounding)."""
    whole, _, frac = seconds.strip().partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise ValueError(f"not a time in seconds: {seconds!r}")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def read(path: str | Path) -> Iterator[Record]:
    """The file's frames (``WS``) or replies (``REST``) as capture records, in file order."""
    venue, kind = kind_of(path)
    conn = -1
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            try:
                if kind == "http":
                    url, _, rest = line.partition(" -> ")
                    ts, _, body = rest.partition(": ")
                    parts = urlsplit(url)
                    yield (REST, venue, 0, to_ns(ts), f"GET {parts.path}?{parts.query}", body.encode())
                    continue
                if " <-> " in line.split(": ", 1)[0]:
                    conn += 1
                    continue
                head, sep, payload = line.partition(": ")
                if not sep:
                    raise ValueError("no ': ' between the time and the frame")
                if " -> " in head:
                    continue  # a frame we sent (a subscription): not market data
                ts = head.rsplit(" <- ", 1)[-1]
                yield (WS, venue, max(conn, 0), to_ns(ts), "", payload)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: {exc}: {line[:120]!r}") from None


def markets(path: str | Path) -> dict[str, Market]:
    """What the capture subscribed, as ``{venue: Market}`` (empty for an http file)."""
    venue, kind = kind_of(path)
    if kind != "ws":
        return {}
    symbols: dict[str, None] = {}
    options: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            head = line.split(": ", 1)[0]
            if venue == "binance" and " <-> " in head:
                query = urlsplit(head.split(" <-> ")[0]).query
                for stream in query.removeprefix("streams=").split("/"):
                    name, _, channel = stream.partition("@")
                    if channel.startswith("depth"):
                        symbols[split_binance(name)] = None
            elif venue == "gateio" and '"event":"subscribe"' in line:
                reply = json.loads(line.split(": ", 1)[1])
                channel, payload = reply.get("channel"), reply.get("payload") or []
                if channel == "spot.order_book_update" and payload:
                    symbols[payload[0].replace("_", "/")] = None
                elif channel == "spot.obu" and payload:  # "ob.BTC_USDT.50"
                    symbols[payload[0].split(".")[1].replace("_", "/")] = None
                else:
                    continue
                options["book_channel"] = channel  # the sync rule follows the channel recorded
    return {venue: Market(kind=venue, symbols=tuple(symbols), options=options)}
