"""protocols.compiled: which core a module gets, and why."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

import pytest

from protocols import compiled


def test_the_pure_core_is_selected_by_the_environment_whatever_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(compiled.ENV, "1")
    assert compiled.load("protocols.compiled") == (None, "python (ARBOR_PURE_PYTHON=1)")


@pytest.mark.parametrize("value", ["", "0", "no"])
def test_a_built_extension_is_used_unless_the_pure_core_is_asked_for(monkeypatch: pytest.MonkeyPatch,
                                                                      value: str) -> None:
    monkeypatch.setenv(compiled.ENV, value)
    module, core = compiled.load("protocols.compiled")  # any importable module stands in for one
    assert module is compiled and core == "compiled"


def test_an_extension_that_is_not_built_falls_back_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(compiled.ENV, raising=False)
    assert compiled.load("protocols._no_such_extension") == (None, "python (not built)")


class _NeedsAnAbsentModule(importlib.abc.Loader):
    """Finds ``protocols._broken_extension``; executing it imports a module that is absent."""

    name = "protocols._broken_extension"

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(name, self) if name == self.name else None

    def exec_module(self, module: types.ModuleType) -> None:
        import no_such_dependency_anywhere  # type: ignore[import-not-found]  # noqa: F401


def test_an_extension_missing_something_else_is_not_mistaken_for_an_unbuilt_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # built, but importing it needs a module that is absent: a broken install, raised as such
    monkeypatch.delenv(compiled.ENV, raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NeedsAnAbsentModule(), *sys.meta_path])
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_anywhere"):
        compiled.load(_NeedsAnAbsentModule.name)
