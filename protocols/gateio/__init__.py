"""Gate.io spot v4: WebSocket codec (``spot.obu`` by default, or ``spot.order_book_update``),
their sync rules, signed REST."""

from protocols.gateio.rest import GateVenue

__all__ = ["GateVenue"]
