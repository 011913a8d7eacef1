"""MEXC spot v3: protobuf market data (codec.py), the 7-step book rule (sync.py), REST (rest.py)."""

from protocols.mexc.rest import MexcVenue

__all__ = ["MexcVenue"]
