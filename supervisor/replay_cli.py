"""``python -m supervisor replay CAPTURE... [--config FILE] [--speed N|max] [--sweep K=V1,V2,...]``.

Replays the inputs (``supervisor.replay``), prints the text report and writes ``OUT/report.html``;
with ``--sweep section.field=v1,v2,...`` it replays once per value (each into ``OUT/field=v``,
with its own journal) and puts the reports side by side. Exit codes: 0 done; 2 bad usage, a
bad config or sweep value, an unreadable or refused capture (the message names the file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec

import config
from config import EngineConfig
from protocols.capture import CaptureFormatError
from protocols.errors import ConfigError
from supervisor import report, report_html


def add_parser(sub: Any) -> None:
    p = sub.add_parser("replay", help="replay recorded market data through the engine; report what it would have done",
                       description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("captures", nargs="+", metavar="CAPTURE",
                   help="capture directories/segments (--capture), or cryptofeed EXCHANGE.ws.N.M + EXCHANGE.http.N.M")
    p.add_argument("--config", metavar="FILE", help="detector/risk/book settings (the venues come from the capture)")
    p.add_argument("--speed", default="max", metavar="N|max", help="virtual seconds per real second (default max)")
    p.add_argument("--latency-ms", type=float, default=50.0, metavar="MS",
                   help="order latency: fills at the books this long after the decision (default 50)")
    p.add_argument("--batch-ms", type=float, default=1.0, metavar="MS",
                   help="frames received within one such window reach the books together, as one socket read "
                        "(default 1; 0: each frame alone)")
    p.add_argument("--out", default="arbor-replay", metavar="DIR",
                   help="journal(s) and report.html (default ./arbor-replay)")
    p.add_argument("--sweep", metavar="SECTION.FIELD=V1,V2",
                   help="one replay per value, e.g. detector.min_edge_bps=5,10,20")
    p.add_argument("--progress", action="store_true", help="progress bar on stderr even when it is not a terminal")


def parse_speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise ConfigError("--speed", f'a positive number or "max", got {text!r}') from None
    if not speed > 0:
        raise ConfigError("--speed", f'a positive number or "max", got {text!r}')
    return speed


def sweep_configs(cfg: EngineConfig, spec: str) -> list[tuple[str, EngineConfig]]:
    """``detector.min_edge_bps=5,10`` → [("min_edge_bps=5", cfg'), ...], each value validated."""
    path, sep, values = spec.partition("=")
    section, dot, field = path.partition(".")
    if not (sep and dot and values) or not hasattr(cfg, section):
        raise ConfigError("--sweep", f"SECTION.FIELD=V1,V2,... (e.g. detector.min_edge_bps=5,10,20), got {spec!r}")
    table = getattr(cfg, section)
    if not isinstance(table, msgspec.Struct) or field not in table.__struct_fields__:
        raise ConfigError("--sweep", f"no field {field!r} in [{section}]")
    out = []
    for value in values.split(","):
        try:
            new = msgspec.convert({**msgspec.structs.asdict(table), field: value}, type(table), strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"--sweep {section}.{field}", f"{exc} (value {value!r})") from None
        out.append((f"{field}={value}", msgspec.structs.replace(cfg, **{section: new})))
    return out


def run(args: argparse.Namespace) -> int:
    from supervisor.replay import run_replay
    from supervisor.replay_input import open_inputs

    try:
        speed = parse_speed(args.speed)
        if not args.batch_ms >= 0:
            raise ConfigError("--batch-ms", f"a number of milliseconds >= 0, got {args.batch_ms}")
        cfg = config.load(args.config)
        runs = sweep_configs(cfg, args.sweep) if args.sweep else [("replay", cfg)]
        inputs = open_inputs(args.captures)
    except (CaptureFormatError, ConfigError, OSError, ValueError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    progress = args.progress or sys.stderr.isatty()
    reports = []
    for label, run_cfg in runs:
        where = out / label if args.sweep else out
        try:
            stats, journal = run_replay(inputs, run_cfg, where, speed=speed, latency_ms=args.latency_ms,
                                        batch_ms=args.batch_ms, progress=progress)
        except ConfigError as exc:
            print(f"replay: {exc}", file=sys.stderr)
            return 2
        reports.append(report.build(label, inputs, stats, journal))
        print(report.text(reports[-1]) + f"\njournal: {journal}\n")
    if len(reports) > 1:
        print(report.side_by_side(reports))
    page = out / "report.html"
    page.write_text(report_html.render(reports))
    print(f"report: {page}")
    return 0
