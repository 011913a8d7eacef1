"""Binance spot: combined-stream diff depth, the §3.2 book procedure, signed REST (binance.md)."""

from protocols.binance.rest import BinanceVenue

__all__ = ["BinanceVenue"]
