"""Gate.io spot v4: WebSocket ``spot.order_book_update`` codec, the §4.3 sync rule, signed REST."""

from protocols.gateio.rest import GateVenue

__all__ = ["GateVenue"]
