"""``python -m supervisor --capture DIR`` sets ``[capture] dir``."""

from __future__ import annotations

import sys
import types

import pytest

from supervisor import cli


def test_the_capture_option_sets_the_configs_capture_directory(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    calls = []

    def run_engine(config: object, *, duration_s: float | None, log_format: str, live: bool) -> int:
        calls.append(config)
        return 0

    monkeypatch.setitem(sys.modules, "supervisor.app", types.SimpleNamespace(run_engine=run_engine))
    assert cli.main(["--capture", str(tmp_path / "cap"), "--duration", "1"]) == 0
    assert calls[0].capture.dir == str(tmp_path / "cap")  # type: ignore[attr-defined]
    assert cli.main(["run", "--duration", "1"]) == 0
    assert calls[1].capture.dir is None  # type: ignore[attr-defined]
