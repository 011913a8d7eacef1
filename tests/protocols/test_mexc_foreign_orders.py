"""An account holding orders Arbor did not place (by hand, another bot): MEXC reports their
``clientOrderId`` as null, and the adapter still lists and cancels them."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import aiohttp

from protocols.mexc import MexcVenue
from protocols.mexc.rest import sign
from simulator import SimConfig, Simulator

SYMBOL = "BTC/USDT"


async def test_open_orders_and_cancel_all_handle_an_order_placed_without_a_client_id() -> None:
    async with Simulator(SimConfig(seed=4, symbols=(SYMBOL,), venues=("mexc",), levels=50)) as sim:
        server = sim.venues["mexc"]
        creds = server.credentials
        bid = server.book(SYMBOL)[0][0][0]
        query = urlencode({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001",
                           "price": f"{bid * 0.9:.2f}", "timestamp": str(int(time.time() * 1000))})
        url = f"{server.rest_url}/api/v3/order?{query}&signature={sign(creds.secret, query)}"
        async with aiohttp.ClientSession() as http, \
                http.post(url, headers={"X-MEXC-APIKEY": creds.api_key}) as r:  # a manual order: no client id
            assert r.status == 200, await r.text()
            foreign_id = (await r.json())["orderId"]
        venue = MexcVenue(rest_url=server.rest_url, ws_url=server.ws_url, symbols=[SYMBOL], credentials=creds)
        try:
            (listed,) = await venue.open_orders(SYMBOL)
            assert (listed.order_id, listed.client_order_id, listed.status) == (foreign_id, "", "new")
            (cancelled,) = await venue.cancel_all(SYMBOL)
            assert (cancelled.order_id, cancelled.client_order_id, cancelled.status) == (foreign_id, "", "canceled")
            assert await venue.open_orders(SYMBOL) == []
        finally:
            await venue.close()
