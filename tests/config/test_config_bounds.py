"""Values that are well-typed but no sane setting: NaN and infinity, absurd capacities,
lowercase symbols, a control socket path longer than AF_UNIX allows. Each is a ConfigError
naming the field and what was expected, and ``python -m supervisor`` exits 2 with it; and the
``[detector]``/``[risk]`` tables are the actors' own parameter Structs (one set of defaults)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import config
from actors.detector import DetectorParams
from actors.risk import RiskParams
from protocols.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = '[venues.mexc]\nkind = "mexc"\nsimulated = true\nsymbols = ["BTC/USDT", "ETH/USDT"]\n'
LONG_DIR = "/tmp/" + "d" * 110

BAD = [
    ("infinite loss limit", "[risk]\ndaily_loss_limit = inf\n",
     "risk.daily_loss_limit: expected a finite number, got inf"),
    ("nan notional", "[detector]\nmax_notional = nan\n", "detector.max_notional: expected a finite number, got nan"),
    ("infinite per-venue notional", "[risk]\nmax_notional_per_venue = +inf\n",
     "risk.max_notional_per_venue: expected a finite number, got inf"),
    ("nan edge", "[detector]\nmin_edge_bps = -nan\n", "detector.min_edge_bps: expected a finite number, got nan"),
    ("infinite window", "[restart]\nwithin_s = inf\n", "restart.within_s: expected a finite number, got inf"),
    ("infinite sim rate", "[simulator]\nupdates_per_s = inf\n",
     "simulator.updates_per_s: expected a finite number, got inf"),
    ("huge mailbox", "[mailboxes]\nbook = 1000000000000000000\n",
     "mailboxes.book: expected an integer <= 1000000, got 1000000000000000000"),
    ("huge journal mailbox", "[mailboxes]\njournal = 2000000\n",
     "mailboxes.journal: expected an integer <= 1000000, got 2000000"),
    ("huge book depth", "[book]\ndepth = 100000\nmax_levels = 100000\n",
     "book.depth: expected an integer <= 1000, got 100000"),
    ("book age of a day", "[detector]\nmax_book_age_ms = 86400000\n",
     "detector.max_book_age_ms: expected an integer <= 3600000, got 86400000"),
    ("edge beyond 100 %", "[detector]\nmin_edge_bps = 20000.0\n",
     "detector.min_edge_bps: expected a number <= 10000.0, got 20000.0"),
    ("account audit more than once a second", "[account]\naudit_s = 0.1\n",
     "account.audit_s: expected a number >= 1"),
    ("lowercase symbol", None,
     'venues.mexc.symbols[1]: expected "BASE/QUOTE" in capitals ("ETH/USDT"), got "eth/usdt"'),
    ("unix path too long", f'[control]\nunix_path = "{LONG_DIR}/control.sock"\n',
     "control.unix_path: expected a control socket path of at most 107 bytes"),
    ("state dir too long for the socket", f'[control]\nstate_dir = "{LONG_DIR}"\n',
     "control.state_dir: expected a control socket path of at most 107 bytes"),
    ("journal dir too long for the socket", f'[journal]\npath = "{LONG_DIR}/journal.sqlite"\n',
     "journal.path: expected a control socket path of at most 107 bytes"),
]


def text_of(extra: str | None) -> str:
    return MINIMAL.replace('"ETH/USDT"', '"eth/usdt"') if extra is None else MINIMAL + extra


@pytest.mark.parametrize(("why", "extra", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_value_no_sane_setting_has_is_a_config_error_naming_the_field(why: str, extra: str | None,
                                                                        message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.loads(text_of(extra), source="bad.toml")
    assert str(info.value).startswith(message), str(info.value)
    assert info.value.path == message.split(": expected")[0]


def test_a_long_socket_path_is_fine_over_tcp() -> None:
    cfg = config.loads(MINIMAL + f'[control]\ntransport = "tcp"\nstate_dir = "{LONG_DIR}"\n')
    assert cfg.control.state_dir == LONG_DIR


@pytest.mark.parametrize(("why", "extra", "message"), [BAD[0], BAD[6], BAD[11], BAD[12]],
                         ids=["inf", "huge-mailbox", "lowercase", "long-unix-path"])
def test_python_m_supervisor_exits_2_with_the_field_and_what_was_expected(
        tmp_path: Path, why: str, extra: str | None, message: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text_of(extra))
    done = subprocess.run([sys.executable, "-m", "supervisor", "--config", str(bad), "--duration", "1"],
                          cwd=ROOT, capture_output=True, timeout=30)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_detector_and_risk_tables_are_the_actors_params_with_one_set_of_defaults() -> None:
    cfg = config.loads(MINIMAL)
    assert type(cfg.detector) is DetectorParams and cfg.detector == DetectorParams()
    assert type(cfg.risk) is RiskParams and cfg.risk == RiskParams()
    assert config.DetectorConfig is DetectorParams and config.RiskConfig is RiskParams
