"""Secrets: a config names environment variables; keys are read from the environment and never
appear in the repr/str of a loaded config or of the credentials built from it."""

from __future__ import annotations

import pytest

import config

KEY, SECRET = "mx0vglSECRETKEYVALUE123", "s3cr3t-value-never-printed-456"

TEXT = """
[venues.mexc]
kind = "mexc"
symbols = ["BTC/USDT"]
api_key_env = "ARBOR_TEST_MEXC_KEY"
api_secret_env = "ARBOR_TEST_MEXC_SECRET"
"""


def test_secrets_never_appear_in_repr_or_str_of_a_loaded_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARBOR_TEST_MEXC_KEY", KEY)
    monkeypatch.setenv("ARBOR_TEST_MEXC_SECRET", SECRET)
    cfg = config.loads(TEXT)
    creds = cfg.venues["mexc"].credentials()
    assert creds is not None and creds.api_key == KEY and creds.secret == SECRET
    for text in (repr(cfg), str(cfg), repr(cfg.venues["mexc"]), repr(creds), str(creds)):
        assert SECRET not in text
        assert KEY not in text
    assert "ARBOR_TEST_MEXC_KEY" in repr(cfg)  # the variable's name is what the config holds


def test_credentials_are_none_when_the_variables_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARBOR_TEST_MEXC_KEY", raising=False)
    monkeypatch.delenv("ARBOR_TEST_MEXC_SECRET", raising=False)
    assert config.loads(TEXT).venues["mexc"].credentials() is None
    assert config.load().venues["mexc"].credentials() is None
