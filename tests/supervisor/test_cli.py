"""The CLI without an engine: argument handling, exit codes, engine discovery, rendering and
the Prometheus text format (the running-engine tests are in test_control.py)."""

from __future__ import annotations

import re
import socket
import sys
import types
from pathlib import Path

import msgspec
import pytest

from actors.stats import ActorStats, Failure
from supervisor import cli, cli_render, prom
from supervisor.control import TreeNode

SAMPLE_RE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)?\})?'
    r' (?P<value>[-+]?(?:NaN|Inf|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?))$')


def check_prometheus_text(text: str) -> dict[str, list[str]]:
    """Every non-comment line is `name{labels} value` of a family declared by a TYPE line (a
    histogram's `_bucket`/`_sum`/`_count` of a histogram family), each family typed once; a
    histogram's buckets are cumulative and end at le="+Inf" equal to its `_count`.
    Returns samples per metric name."""
    assert text.endswith("\n")
    typed: dict[str, str] = {}
    samples: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("gauge", "counter", "summary", "histogram", "untyped"), line
            assert name not in typed, f"family {name} typed twice"
            assert kind != "counter" or name.endswith("_total"), line
            typed[name] = kind
        elif line.startswith("# HELP "):
            continue
        else:
            m = SAMPLE_RE.match(line)
            assert m, f"not a Prometheus sample line: {line!r}"
            name = m["name"]
            family = name.rsplit("_", 1)[0] if name.endswith(("_bucket", "_sum", "_count")) else name
            assert name in typed or typed.get(family) == "histogram", f"sample before its TYPE line: {line!r}"
            samples.setdefault(name, []).append(line)
    for family in (f for f, kind in typed.items() if kind == "histogram"):
        series: dict[str, list[tuple[str, float]]] = {}
        for line in samples.get(f"{family}_bucket", []):
            labels, value = line[line.index("{") + 1:line.rindex("}")], float(line.rsplit(" ", 1)[1])
            le = re.search(r'le="([^"]*)"', labels)
            assert le, line
            series.setdefault(re.sub(r',?le="[^"]*"', "", labels), []).append((le[1], value))
        counts = {line[line.index("{") + 1:line.rindex("}")]: float(line.rsplit(" ", 1)[1])
                  for line in samples.get(f"{family}_count", [])}
        for labels, buckets in series.items():
            values = [v for _, v in buckets]
            assert values == sorted(values), f"{family}{{{labels}}}: buckets not cumulative"
            assert buckets[-1][0] == "+Inf" and buckets[-1][1] == counts[labels], f"{family}{{{labels}}}"
    return samples


def stats(path: str, **over: object) -> ActorStats:
    base = dict(path=path, kind="Echo", state="running", mailbox_depth=0, mailbox_capacity=8,
                mailbox_high_water=0, mailbox_policy="block", processed=0, dropped=0, conflated=0,
                rate_per_s=0.0, queue_wait_p50_us=None, queue_wait_p99_us=None, restarts=0,
                last_failure=None, uptime_s=1.0)
    base.update(over)
    return ActorStats(**base)  # type: ignore[arg-type]


def test_no_engine_running_on_a_socket_path_exits_1_with_a_clear_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ps", "--socket", str(tmp_path / "control.sock")]) == 1
    err = capsys.readouterr().err
    assert "no engine running" in err and "control.sock" in err


def test_no_engine_running_for_a_config_exits_1_naming_the_control_socket(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "engine.toml"
    conf.write_text(f'[venues.mexc]\nkind = "mexc"\nsymbols = ["BTC/USDT"]\n'
                    f'[journal]\npath = "{tmp_path}/j/journal.sqlite"\n')
    assert cli.main(["tree", "--config", str(conf)]) == 1
    assert f"no control socket at {tmp_path}/j/control.sock" in capsys.readouterr().err


def test_a_stale_tcp_address_file_is_reported_as_no_engine_running(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a port nobody listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "engine.toml"
    conf.write_text(f'[venues.mexc]\nkind = "mexc"\nsymbols = ["BTC/USDT"]\n'
                    f'[journal]\npath = "{tmp_path}/journal.sqlite"\n[control]\ntransport = "tcp"\n')
    (tmp_path / "control.token").write_text("x")
    (tmp_path / "control.json").write_bytes(msgspec.json.encode(
        {"transport": "tcp", "pid": 1, "url": f"http://127.0.0.1:{port}",
         "token_file": str(tmp_path / "control.token")}))
    assert cli.main(["metrics", "--config", str(conf)]) == 1
    assert f"no engine running at http://127.0.0.1:{port}" in capsys.readouterr().err


def test_a_tcp_config_without_an_address_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "engine.toml"
    conf.write_text(f'[venues.mexc]\nkind = "mexc"\nsymbols = ["BTC/USDT"]\n'
                    f'[journal]\npath = "{tmp_path}/journal.sqlite"\n[control]\ntransport = "tcp"\n')
    assert cli.main(["ps", "--config", str(conf)]) == 1
    assert "control.json does not exist" in capsys.readouterr().err


def test_a_bad_config_exits_2_with_the_field_path_for_run_and_for_client_commands(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "bad.toml"
    conf.write_text('[venues.mexc]\nkind = "mexc"\nsymbols = ["BTCUSDT"]\n')
    assert cli.main(["--config", str(conf)]) == 2
    assert 'venues.mexc.symbols[0]: expected "BASE/QUOTE", got "BTCUSDT"' in capsys.readouterr().err
    assert cli.main(["ps", "--config", str(conf)]) == 2
    assert str(conf) in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["run"]], ids=["no command", "run"])
def test_run_hands_the_loaded_config_and_options_to_run_engine_and_exits_with_its_code(
        argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def run_engine(config: object, *, duration_s: float | None, log_format: str, live: bool) -> int:
        calls.append((config, duration_s, log_format, live))
        return 3

    monkeypatch.setitem(sys.modules, "supervisor.app", types.SimpleNamespace(run_engine=run_engine))
    assert cli.main([*argv, "--duration", "2.5", "--log-format", "json"]) == 3
    (config, duration, log_format, live), = calls
    assert set(config.venues) == {"mexc", "gateio", "binance"}  # type: ignore[attr-defined]
    assert (duration, log_format, live) == (2.5, "json", False)


def test_subscribe_help_says_the_change_lasts_until_the_process_stops(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("subscribe", "unsubscribe"):
        with pytest.raises(SystemExit) as exit_:
            cli.main([command, "--help"])
        assert exit_.value.code == 0
        out = " ".join(capsys.readouterr().out.split())
        assert "lasts until the process stops; the config file is not rewritten" in out


def test_prometheus_rendering_is_valid_text_and_escapes_labels() -> None:
    rows = [stats("venues/mexc/account", kind="AccountActor", processed=7, queue_wait_buckets=(
                (0, 2, 0, 0, 0, 0, 0, 1) + (0,) * 11), queue_wait_sum_s=0.00254),
            stats('we"ird\\path\n', state="crashed", restarts=2,
                  last_failure=Failure(type="ValueError", text="x", time=0.0)),
            stats("", kind="Supervisor", strategy="one_for_one", max_restarts=3, within_s=5.0, restarts_in_window=1)]

    class Summary(msgspec.Struct):
        fills: int
        pnl: float
        mode: str
        frames: int
        frames_per_s: float
        uptime_s: float

    samples = check_prometheus_text(prom.render(rows, Summary(fills=2, pnl=-1.5, mode="paper", frames=9,
                                                              frames_per_s=3.0, uptime_s=2.0)))
    assert len(samples["arbor_actor_mailbox_depth"]) == 3
    assert 'arbor_actor_messages_processed_total{path="venues/mexc/account",kind="AccountActor"} 7' in \
        samples["arbor_actor_messages_processed_total"]
    assert 'arbor_messages_processed_total{kind="AccountActor",venue="mexc"} 7' in \
        samples["arbor_messages_processed_total"]
    assert any('path="we\\"ird\\\\path\\n"' in line for line in samples["arbor_actor_restarts_total"])
    assert 'arbor_queue_wait_seconds_bucket{kind="AccountActor",venue="mexc",le="2.5e-05"} 2' in \
        samples["arbor_queue_wait_seconds_bucket"]
    assert 'arbor_queue_wait_seconds_bucket{kind="AccountActor",venue="mexc",le="0.001"} 2' in \
        samples["arbor_queue_wait_seconds_bucket"]
    assert 'arbor_queue_wait_seconds_bucket{kind="AccountActor",venue="mexc",le="0.0025"} 3' in \
        samples["arbor_queue_wait_seconds_bucket"]
    assert 'arbor_queue_wait_seconds_count{kind="AccountActor",venue="mexc"} 3' in \
        samples["arbor_queue_wait_seconds_count"]
    assert "quantile" not in str(samples)
    assert samples["arbor_supervisor_restarts_in_window"] == [
        'arbor_supervisor_restarts_in_window{path="/",kind="Supervisor"} 1']
    assert 'arbor_actors{kind="Echo",venue="",state="crashed"} 1' in samples["arbor_actors"]
    assert samples["arbor_engine_pnl"] == ["arbor_engine_pnl -1.5"]
    assert samples["arbor_engine_frames_total"] == ["arbor_engine_frames_total 9.0"]
    assert samples["arbor_engine_uptime_seconds"] == ["arbor_engine_uptime_seconds 2.0"]
    assert "arbor_engine_mode" not in samples and not [n for n in samples if "per_s" in n]


def test_series_stay_flat_in_the_number_of_markets_books_and_detectors_are_aggregated_per_kind_and_venue() -> None:
    def tree(markets: int) -> list[ActorStats]:
        rows = [stats("", kind="Supervisor", strategy="one_for_one", max_restarts=3, within_s=5.0),
                stats("execution/executor", kind="ExecutorActor")]
        for venue in ("mexc", "gateio", "binance"):
            rows += [stats(f"venues/{venue}/connections/{i}", kind="ConnectionActor") for i in range(markets // 50 + 1)]
        for i in range(markets):
            rows.append(stats(f"detectors/M{i}USDT", kind="DetectorActor", processed=i))
            for venue in ("mexc", "gateio", "binance"):
                rows.append(stats(f"venues/{venue}/books/M{i}USDT", kind="BookActor", processed=2 * i))
        return rows

    small, large = (check_prometheus_text(prom.render(tree(n))) for n in (30, 2_000))
    assert sum(map(len, large.values())) == sum(map(len, small.values())) < 400
    assert not any(kind in line and "path=" in line for lines in large.values() for line in lines
                   for kind in ("BookActor", "DetectorActor", "ConnectionActor"))
    assert 'arbor_messages_processed_total{kind="BookActor",venue="binance"} 3998000' in \
        large["arbor_messages_processed_total"]
    assert 'arbor_actors{kind="BookActor",venue="gateio",state="running"} 2000' in large["arbor_actors"]
    assert 'arbor_actor_up{path="execution/executor",kind="ExecutorActor"} 1.0' in large["arbor_actor_up"]


def test_aggregated_counters_never_go_down_when_a_market_is_removed_or_its_path_reused() -> None:
    exposition = prom.Exposition()

    def processed(rows: list[ActorStats]) -> int:
        samples = check_prometheus_text(exposition.render(rows))["arbor_messages_processed_total"]
        [line] = [s for s in samples if 'kind="BookActor"' in s]
        return int(line.rsplit(" ", 1)[1])

    a, b = "venues/mexc/books/AUSDT", "venues/mexc/books/BUSDT"
    assert processed([stats(a, kind="BookActor", processed=10), stats(b, kind="BookActor", processed=5)]) == 15
    assert processed([stats(a, kind="BookActor", processed=12)]) == 17  # B delisted: its 5 stay counted
    assert processed([stats(a, kind="BookActor", processed=2)]) == 19  # A rebuilt at the same path: 12 retired
    assert processed([stats(a, kind="BookActor", processed=3), stats(b, kind="BookActor", processed=1)]) == 21


@pytest.mark.parametrize(("sort", "first"), [
    ("path", "a"), ("depth", "c"), ("restarts", "b"), ("rate", "a"), ("wait", "b"), ("uptime", "c"),
])
def test_ps_table_sorts_by_the_chosen_column_largest_number_first(sort: str, first: str) -> None:
    rows = [stats("a", rate_per_s=9.0, uptime_s=1.0), stats("b", restarts=4, queue_wait_p99_us=5000.0),
            stats("c", mailbox_depth=5, uptime_s=4000.0)]
    table = cli_render.ps_table(rows, sort=sort).splitlines()
    assert table[0].split()[:3] == ["PATH", "KIND", "STATE"]
    assert table[1].split()[0] == first
    assert len(table) == 4


def test_tree_is_drawn_with_box_characters_and_supervisor_intensity() -> None:
    leaf = TreeNode(name="BTCUSDT", path="venues/mexc/books/BTCUSDT", kind="Book", state="running", restarts=2,
                    restart_type="permanent")
    sup = TreeNode(name="venues", path="venues", kind="Supervisor", state="running", restarts=0,
                   strategy="one_for_one", max_restarts=3, within_s=5.0, restarts_in_window=2, children=[leaf])
    ctl = TreeNode(name="control", path="control", kind="ControlActor", state="running", restarts=0)
    root = TreeNode(name="/", path="/", kind="Supervisor", state="running", restarts=0, strategy="one_for_one",
                    max_restarts=3, within_s=5.0, restarts_in_window=0, children=[sup, ctl])
    assert cli_render.tree_text(root).splitlines() == [
        "/  Supervisor  one_for_one  intensity 0/3 in 5s  running",
        "├── venues  Supervisor  one_for_one  intensity 2/3 in 5s  running",
        "│   └── BTCUSDT  Book  running  permanent  restarts=2",
        "└── control  ControlActor  running",
    ]


def _book(sym: str, venue: str = "mexc", rate: float = 0.0, state: str = "running") -> TreeNode:
    return TreeNode(name=sym, path=f"venues/{venue}/books/{sym}", kind="BookActor", state=state, restarts=0,
                    rate_per_s=rate)


def _sup(name: str, path: str, children: list[TreeNode]) -> TreeNode:
    return TreeNode(name=name, path=path, kind="Supervisor", state="running", restarts=0, strategy="one_for_one",
                    max_restarts=3, within_s=5.0, restarts_in_window=0, children=children)


TREE = _sup("/", "/", [
    _sup("venues", "venues", [
        _sup("mexc", "venues/mexc", [_sup("books", "venues/mexc/books", [
            _book("AAAUSDT", rate=1.0), _book("BTCUSDT", rate=50.0), _book("CCCUSDT", rate=7.0, state="restarting")])]),
        _sup("gateio", "venues/gateio", [_sup("books", "venues/gateio/books", [
            _book("AAAUSDT", "gateio", rate=20.0)])])]),
    TreeNode(name="control", path="control", kind="ControlActor", state="running", restarts=0)])


def _names(node: TreeNode | None) -> list[str]:
    return [] if node is None else [node.path, *(p for c in node.children for p in _names(c))]


def test_tree_top_n_keeps_the_n_busiest_matching_actors_under_their_supervisors() -> None:
    root, shown, total = cli_render.prune_tree(TREE, kind="bookactor", top=2, sort="rate")
    assert (shown, total) == (2, 11)
    assert _names(root) == ["/", "venues", "venues/mexc", "venues/mexc/books", "venues/mexc/books/BTCUSDT",
                            "venues/gateio", "venues/gateio/books", "venues/gateio/books/AAAUSDT"]
    text = cli_render.tree_text(root)
    assert "BTCUSDT  BookActor  running" in text and "control" not in text


@pytest.mark.parametrize(("filters", "leaves"), [
    ({"path": "venues/mexc/*"}, ["venues/mexc/books", "venues/mexc/books/AAAUSDT", "venues/mexc/books/BTCUSDT",
                                  "venues/mexc/books/CCCUSDT"]),
    ({"path": "venues/gateio"}, ["venues/gateio", "venues/gateio/books", "venues/gateio/books/AAAUSDT"]),  # subtree
    ({"state": "restarting"}, ["venues/mexc/books/CCCUSDT"]),
    ({"path": "*/AAAUSDT", "kind": "BookActor"}, ["venues/mexc/books/AAAUSDT", "venues/gateio/books/AAAUSDT"]),
])
def test_tree_filters_by_path_glob_state_and_kind_like_ps(filters: dict[str, str], leaves: list[str]) -> None:
    root, shown, _ = cli_render.prune_tree(TREE, **filters)
    assert shown == len(leaves)
    drawn = _names(root)
    assert set(leaves) <= set(drawn)
    # nothing else but the matches' ancestors
    assert all(p in leaves or any(leaf.startswith(p.strip("/") + "/") or p == "/" for leaf in leaves) for p in drawn)


def test_a_tree_filter_that_matches_nothing_draws_nothing_and_no_filter_draws_everything() -> None:
    assert cli_render.prune_tree(TREE, kind="ExecutorActor")[0] is None
    assert cli_render.prune_tree(TREE) == (TREE, 11, 11)


def test_the_summary_names_shared_active_and_quarantined_markets_and_the_time_to_sync() -> None:
    summary = {"books_in_sync": 58, "books": 60, "all_in_sync_s": 4.2, "markets": 24, "markets_active": 21,
               "quarantined": 1, "markets_shared": 24, "frames": 9, "opportunities": 3, "restarts": 0}
    text = cli_render.summary_text(summary)
    assert text.splitlines()[0] == \
        "books 58/60 in sync, all in sync after 4.2s | markets 24 (21 active, 1 quarantined, 24 shared)"
    assert "markets_shared: 24" in text and "all_in_sync_s: 4.2" in text
    assert "markets 3 (3 active) |" in cli_render.summary_header(
        {"markets": 3, "markets_active": 3, "markets_shared": None}, 1, 1)


@pytest.mark.parametrize(("seconds", "text"), [(0.04, "0.0s"), (59.9, "59.9s"), (61, "1m01s"), (7322, "2h02m")])
def test_durations_read_like_top(seconds: float, text: str) -> None:
    assert cli_render.duration(seconds) == text
