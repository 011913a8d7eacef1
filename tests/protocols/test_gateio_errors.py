"""Gate.io error mapping: HTTP status + label → Arbor's hierarchy, one row per documented case."""

import pytest

from protocols.errors import (
    AuthError,
    ExchangeError,
    InsufficientBalance,
    NetworkError,
    OrderNotFound,
    OrderRejected,
    RateLimited,
)
from protocols.gateio.rest import map_error, order_status


def body(label: str, message: str = "text", key: str = "message") -> bytes:
    return f'{{"label":"{label}","{key}":"{message}"}}'.encode()


ROWS = [
    pytest.param(429, body("TOO_MANY_REQUESTS"), RateLimited, "TOO_MANY_REQUESTS", id="429 is rate limited"),
    pytest.param(401, body("INVALID_KEY"), AuthError, "INVALID_KEY", id="INVALID_KEY is an auth error"),
    pytest.param(401, body("INVALID_SIGNATURE"), AuthError, "INVALID_SIGNATURE", id="INVALID_SIGNATURE"),
    pytest.param(400, body("REQUEST_EXPIRED"), AuthError, "REQUEST_EXPIRED", id="REQUEST_EXPIRED timestamp"),
    pytest.param(400, body("MISSING_REQUIRED_HEADER"), AuthError, "MISSING_REQUIRED_HEADER", id="missing header"),
    pytest.param(401, b"", AuthError, 401, id="a bare 401 is an auth error"),
    pytest.param(400, body("BALANCE_NOT_ENOUGH"), InsufficientBalance, "BALANCE_NOT_ENOUGH", id="balance"),
    pytest.param(400, body("INVALID_PARAM_VALUE"), OrderRejected, "INVALID_PARAM_VALUE", id="invalid param"),
    pytest.param(400, body("INVALID_PRECISION"), OrderRejected, "INVALID_PRECISION", id="invalid precision"),
    pytest.param(400, body("INVALID_CURRENCY_PAIR"), OrderRejected, "INVALID_CURRENCY_PAIR", id="unknown pair"),
    pytest.param(400, body("AMOUNT_TOO_LITTLE"), OrderRejected, "AMOUNT_TOO_LITTLE", id="amount too little"),
    pytest.param(400, body("AMOUNT_TOO_MUCH"), OrderRejected, "AMOUNT_TOO_MUCH", id="amount too much"),
    pytest.param(400, body("POC_FILL_IMMEDIATELY"), OrderRejected, "POC_FILL_IMMEDIATELY", id="post-only would fill"),
    pytest.param(404, body("ORDER_NOT_FOUND"), OrderNotFound, "ORDER_NOT_FOUND", id="order not found"),
    pytest.param(500, body("SERVER_ERROR"), NetworkError, None, id="SERVER_ERROR has an unknown outcome"),
    pytest.param(503, body("TOO_BUSY"), NetworkError, None, id="TOO_BUSY has an unknown outcome"),
    pytest.param(502, b"<html>bad gateway</html>", NetworkError, None, id="a 5xx without Gate's JSON"),
    pytest.param(400, body("ORDER_CLOSED"), ExchangeError, "ORDER_CLOSED", id="other labels keep the label"),
    pytest.param(403, body("IP_FORBIDDEN"), ExchangeError, "IP_FORBIDDEN", id="IP_FORBIDDEN keeps the label"),
    pytest.param(418, b"", ExchangeError, 418, id="an unknown status without a label keeps the status"),
]


@pytest.mark.parametrize(("status", "payload", "kind", "code"), ROWS)
def test_each_documented_status_and_label_maps_to_its_error(status, payload, kind, code):
    error = map_error(status, payload, {}, now=lambda: 1000.0)
    assert type(error) is kind
    assert error.venue == "gateio" and error.status == status
    if kind is not NetworkError:
        assert error.code == code


@pytest.mark.parametrize("key", ["message", "detail"])
def test_the_message_is_read_from_message_or_detail(key):
    error = map_error(400, body("INVALID_PARAM_VALUE", "Invalid parameter `text` with value: abc", key), {})
    assert error.message == "Invalid parameter `text` with value: abc"


@pytest.mark.parametrize(("headers", "retry_after"), [
    pytest.param({"X-Gate-RateLimit-Reset-Timestamp": "1700000003.5"}, 3.5, id="reset in unix seconds"),
    pytest.param({"X-Gate-RateLimit-Reset-Timestamp": "1700000002000"}, 2.0, id="reset in unix milliseconds"),
    pytest.param({"X-Gate-RateLimit-Reset-Timestamp": "1699999990"}, 0.0, id="a reset already passed waits nothing"),
    pytest.param({"X-Gate-RateLimit-Reset-Timestamp": "soon"}, 1.0, id="an unreadable header waits 1 s"),
    pytest.param({}, 1.0, id="no header waits 1 s"),
])
def test_rate_limited_waits_until_the_documented_reset_timestamp(headers, retry_after):
    error = map_error(429, body("TOO_MANY_REQUESTS"), headers, now=lambda: 1_700_000_000.0)
    assert isinstance(error, RateLimited) and error.retry_after_s == pytest.approx(retry_after)


@pytest.mark.parametrize(("status", "finish_as", "filled", "expected"), [
    ("open", "open", 0.0, "new"),
    ("open", "open", 0.5, "partially_filled"),
    ("closed", "filled", 1.0, "filled"),
    ("closed", "", 1.0, "filled"),
    ("cancelled", "cancelled", 0.2, "canceled"),
    ("cancelled", "liquidate_cancelled", 0.0, "canceled"),
    ("cancelled", "stp", 0.0, "canceled"),
    ("cancelled", "", 0.0, "canceled"),
    ("closed", "ioc", 0.3, "expired"),
    ("cancelled", "ioc", 0.0, "expired"),
    ("closed", "fok", 0.0, "expired"),
    ("closed", "depth_not_enough", 0.1, "expired"),
    ("closed", "small", 0.1, "expired"),
    ("cancelled", "poc", 0.0, "rejected"),
])
def test_gate_status_and_finish_as_map_to_one_order_status(status, finish_as, filled, expected):
    assert order_status(status, finish_as, filled) == expected
