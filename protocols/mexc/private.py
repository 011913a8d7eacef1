"""MEXC spot private stream (shared/venues/private.md §3): a listenKey from
``POST /api/v3/userDataStream`` (kept alive with ``PUT`` every 30 min: it lapses 60 min after the
last one), ``wss://wbs-api.mexc.com/ws?listenKey=<key>``, ``SUBSCRIPTION`` to
``spot@private.account.v3.api.pb``; pushes are protobuf ``PushDataV3ApiWrapper`` frames whose
``privateAccount`` (307) holds one asset's ABSOLUTE available/frozen balance.
"""

from __future__ import annotations

from typing import Any

import msgspec
from google.protobuf.message import DecodeError as ProtobufError

from protocols.errors import DecodeError
from protocols.messages import Balance
from protocols.mexc import push_pb2
from protocols.private import StreamEvent, StreamReply

VENUE = "mexc"
ACCOUNT = "spot@private.account.v3.api.pb"
KEEPALIVE_S = 30 * 60.0  # the doc's advice; the key lapses after 60 min without one
_pb: Any = push_pb2  # generated at run time: no static attributes
_parse = _pb.PushDataV3ApiWrapper.FromString


class MexcPrivate:
    """``PrivateCodec`` for MEXC; ``prepare``/``keepalive`` manage the listenKey over REST."""

    venue = VENUE
    keepalive_s = KEEPALIVE_S

    def __init__(self, *, venue: Any, ws_url: str) -> None:
        self._venue, self._ws_url = venue, ws_url.split("?")[0]
        self.listen_key = ""
        self.url = ""

    async def prepare(self) -> None:
        """A fresh listenKey for this connection (a reconnect never reuses a lapsed one)."""
        self.listen_key = await self._venue.listen_key()
        self.url = f"{self._ws_url}?listenKey={self.listen_key}"

    async def keepalive(self) -> None:
        await self._venue.listen_key(keepalive=self.listen_key)

    def subscribe_frames(self, now_ms: int) -> list[str]:
        return [msgspec.json.encode({"method": "SUBSCRIPTION", "params": [ACCOUNT]}).decode()]

    def decode(self, frame: str | bytes) -> StreamReply | list[StreamEvent] | None:
        if isinstance(frame, str):
            try:
                msg = msgspec.json.decode(frame)
            except msgspec.DecodeError as exc:
                raise DecodeError(VENUE, f"invalid JSON: {exc}", frame) from None
            text = str(msg.get("msg", "")) if isinstance(msg, dict) else ""
            if text == ACCOUNT:
                return StreamReply(ok=True)
            if "Not Subscribed" in text or text == "wrong format":
                return StreamReply(ok=False, message=text)
            return None  # PONG
        try:
            wrapper = _parse(frame)
        except ProtobufError as exc:
            raise DecodeError(VENUE, f"invalid protobuf: {exc}", frame) from None
        if wrapper.WhichOneof("body") != "privateAccount":
            return []
        a = wrapper.privateAccount
        try:
            return [Balance(venue=VENUE, asset=a.vcoinName, free=float(a.balanceAmount or 0),
                            locked=float(a.frozenAmount or 0))]
        except ValueError as exc:
            raise DecodeError(VENUE, f"bad privateAccount amount: {exc}", frame) from None
