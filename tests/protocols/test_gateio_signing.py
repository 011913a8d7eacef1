"""Gate.io APIv4 signing on the documented examples (gateio.md §4.5)."""

import hashlib

import pytest

from protocols.signing import gate_sign

EMPTY_BODY_SHA512 = (
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)
POST_BODY = '{"contract":"BTC_USD","type":"limit","size":100,"price":6800,"time_in_force":"gtc"}'
POST_BODY_SHA512 = (
    "ad3c169203dc3026558f01b4df307641fa1fa361f086b2306658886d5708767b"
    "1854797c68d9e62fef2f991645aa82673622ebf417e091d0bd22bafe5d956cca"
)

VECTORS = [
    pytest.param(
        "GET", "/api/v4/futures/orders", "contract=BTC_USD&status=finished&limit=50", "",
        "55f84ea195d6fe57ce62464daaa7c3c02fa9d1dde954e4c898289c9a2407a3d6"
        "fb3faf24deff16790d726b66ac9f74526668b13bd01029199cc4fcc522418b8a",
        id="documented GET with a raw query and an empty body",
    ),
    pytest.param(
        "POST", "/api/v4/futures/orders", "", POST_BODY,
        "eae42da914a590ddf727473aff25fc87d50b64783941061f47a3fdb92742541f"
        "c4c2c14017581b4199a1418d54471c269c03a38d788d802e2c306c37636389f0",
        id="documented POST with a JSON body and an empty query line",
    ),
]


@pytest.mark.parametrize(("method", "path", "query", "body", "expected"), VECTORS)
def test_gate_sign_reproduces_the_documented_signature(method, path, query, body, expected):
    assert gate_sign("secret", method, path, query, body, "1541993715") == expected


@pytest.mark.parametrize(("body", "digest"), [("", EMPTY_BODY_SHA512), (POST_BODY, POST_BODY_SHA512)])
def test_body_hashes_match_the_documented_sha512_values(body, digest):
    assert hashlib.sha512(body.encode()).hexdigest() == digest


def test_a_lowercase_method_signs_the_same_as_uppercase():
    args = ("/api/v4/spot/orders", "currency_pair=BTC_USDT", "", "1541993715")
    assert gate_sign("secret", "get", *args) == gate_sign("secret", "GET", *args)


@pytest.mark.parametrize(("channel", "param", "ts", "expected"), [
    pytest.param("spot.login", "", "1681984544",
                 "3e133322aeffb544225b263d43fc10fc8e6b9b14126a09e4c945363d60afc591"
                 "c441f08c3eff1770c1331171386501f6843560f889840e87ba1f3d99a80daffa", id="login"),
    pytest.param("spot.order_place", '{"text":"t-my-custom-id","currency_pair":"GT_USDT","type":"limit",'
                 '"account":"spot","side":"buy","amount":"1","price":"1"}', "1681986203",
                 "085d32a7b7d452a03c9bacf43f7b30ce99db198942fdd2fd7903043e3e21f1c7"
                 "0e4594099d40d8027a4ad1729cffca53a85f7955b2997d3c92a035be37f7a432", id="order_place"),
])
def test_ws_api_signature_matches_the_fixtures_computed_from_the_documented_string(channel, param, ts, expected):
    from protocols.signing import gate_ws_api_sign

    assert gate_ws_api_sign("secret", channel, param, ts) == expected
