import pytest

from protocols.errors import ConfigError, DecodeError, RateLimited, excerpt
from protocols.venue import Credentials, split_symbol, venue_symbol


def test_decode_error_carries_a_bounded_excerpt_of_a_long_text_frame():
    err = DecodeError("binance", "truncated JSON", '{"e":"depthUpdate",' + "x" * 1000)
    assert err.excerpt.startswith('{"e":"depthUpdate",')
    assert err.excerpt.endswith("(1019 bytes)")
    assert len(err.excerpt) < 260


def test_binary_frames_are_excerpted_as_hex():
    assert excerpt(b"\x0a\x2f\xff\x00") == "0a2fff00"


def test_config_error_names_the_field_path_and_what_was_expected():
    err = ConfigError("venues.mexc.symbols[2]", '"BASE/QUOTE"', "BTCUSDT")
    assert str(err) == "venues.mexc.symbols[2]: expected \"BASE/QUOTE\", got 'BTCUSDT'"


def test_rate_limited_is_an_exchange_error_with_retry_after():
    err = RateLimited("mexc", 429, "Too Many Requests", retry_after_s=2.5, status=429)
    assert err.retry_after_s == 2.5 and err.venue == "mexc" and err.status == 429


@pytest.mark.parametrize(("symbol", "sep", "expected"), [("BTC/USDT", "", "BTCUSDT"), ("BTC/USDT", "_", "BTC_USDT")])
def test_internal_symbols_map_to_the_venue_form(symbol, sep, expected):
    assert venue_symbol(symbol, sep) == expected


@pytest.mark.parametrize("bad", ["BTCUSDT", "BTC/", "/USDT", "BTC/USDT/X", "BTC-USDT"])
def test_malformed_symbols_are_refused(bad):
    with pytest.raises(ValueError, match="BASE/QUOTE"):
        split_symbol(bad)


def test_credentials_never_show_the_secret(monkeypatch):
    monkeypatch.setenv("K", "mx0aBYs33eIilxBWC5")
    monkeypatch.setenv("S", "45d0b3c26f2644f19bfb98b07741b2f5")
    creds = Credentials.from_env("K", "S")
    assert creds is not None
    for text in (repr(creds), str(creds), f"{creds}"):
        assert "45d0b3c26f2644f19bfb98b07741b2f5" not in text
        assert "mx0aBYs33eIilxBWC5" not in text


def test_missing_credentials_give_none(monkeypatch):
    monkeypatch.delenv("K", raising=False)
    assert Credentials.from_env("K", "S") is None
