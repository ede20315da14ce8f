"""Tagger names, plugin loading and per-process tagger instances.

Plugins come from three places: ``--tagger-modules`` (importable module names or ``.py`` file paths),
the entry-point group ``dolma.taggers`` of installed packages, and the built-in ``taggers`` package.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from dolma.errors import ConfigError

if TYPE_CHECKING:
    from dolma.tagger import Tagger

ENTRY_POINT_GROUP = "dolma.taggers"

_TAGGERS: dict[str, type[Tagger]] = {}
_LOADED_MODULES: set[str] = set()


def register(name: str, cls: type[Tagger]) -> None:
    previous = _TAGGERS.get(name)
    if previous is not None and previous.__qualname__ != cls.__qualname__:
        raise ConfigError(
            f"tagger name {name!r} is registered twice: {previous.__module__}.{previous.__qualname__} "
            f"and {cls.__module__}.{cls.__qualname__}"
        )
    _TAGGERS[name] = cls


def _load_path(path: str) -> None:
    if not os.path.exists(path):
        raise ConfigError(f"tagger module file {path} does not exist")
    name = "dolma_plugin_" + hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"tagger module file {path} cannot be imported (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def load_modules(modules: Iterable[str]) -> None:
    """Import plugin modules (names or ``.py`` paths) once per process; their decorators register."""
    for module in modules:
        if module in _LOADED_MODULES:
            continue
        if module.endswith(".py") or os.sep in module:
            _load_path(module)
        else:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                raise ConfigError(f"tagger module {module!r} cannot be imported: {exc}") from None
        _LOADED_MODULES.add(module)


@functools.cache
def load_installed() -> None:
    """Import the built-in taggers and every package's ``dolma.taggers`` entry points."""
    importlib.import_module("taggers")
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        entry.load()


def all_taggers() -> dict[str, type[Tagger]]:
    load_installed()
    return dict(sorted(_TAGGERS.items()))


def get(name: str) -> type[Tagger]:
    load_installed()
    cls = _TAGGERS.get(name)
    if cls is None:
        close = difflib.get_close_matches(name, _TAGGERS, n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `dolma list` shows every tagger"
        raise ConfigError(f"unknown tagger {name!r}{hint}")
    return cls


def make_params(name: str, params: dict[str, Any]) -> Any:
    """Validate a tagger's parameters from the config; errors name the tagger and the key."""
    cls = get(name)
    try:
        return msgspec.convert(params, cls.Params, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"taggers.{name}: {exc}") from None


_INSTANCES: dict[tuple[str, bytes], Tagger] = {}


def instance(name: str, params: dict[str, Any]) -> Tagger:
    """The process-wide instance of a tagger with these parameters: a model loads once per worker."""
    key = (name, msgspec.json.encode(params, order="sorted"))
    tagger = _INSTANCES.get(key)
    if tagger is None:
        cls = get(name)
        tagger = cls(make_params(name, params))
        _INSTANCES[key] = tagger
    return tagger
