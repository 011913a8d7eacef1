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


def test_a_capture_directory_that_cannot_be_created_is_a_config_error_naming_the_field(tmp_path) -> None:
    import msgspec

    import config
    from protocols.errors import ConfigError
    from supervisor.capture import open_capture

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cfg = config.load(None)
    cfg = msgspec.structs.replace(cfg, capture=msgspec.structs.replace(cfg.capture, dir=str(blocker / "cap")))
    with pytest.raises(ConfigError, match=r"capture\.dir: expected a directory the engine can create and write"):
        open_capture(cfg, {})
