"""Tagger names, plugin loading and per-process tagger instances.

Plugins come from three places: ``--tagger-modules`` (importable module names or ``.py`` files, local or s3://),
the entry-point group ``dolma.taggers`` of installed packages, and the built-in ``taggers`` package.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import os
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Plugin:
    """A plugin as workers receive it: a module name, or a ``.py`` path with its source code, so that
    workers on other machines (Ray) need not see the file."""

    spec: str
    source: str | None = None


def _module_name(path: str) -> str:
    return "dolma_plugin_" + hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]


def _exec_source(path: str, source: str) -> None:
    name = _module_name(path)
    module = types.ModuleType(name)
    module.__file__ = path
    sys.modules[name] = module
    exec(compile(source, path, "exec"), module.__dict__)


def _is_path(spec: str) -> bool:
    return spec.endswith(".py") or os.sep in spec


def resolve_plugins(modules: Iterable[str]) -> tuple[Plugin, ...]:
    """Read ``.py`` plugin files (local or s3://) and load every plugin here, so a bad one fails up front."""
    from dolma import io

    plugins = []
    for spec in modules:
        if _is_path(spec):
            if not io.exists(spec):
                raise ConfigError(f"tagger module file {spec} does not exist")
            plugins.append(Plugin(spec, io.read_text(spec)))
        else:
            plugins.append(Plugin(spec))
    load_plugins(plugins)
    return tuple(plugins)


def load_plugins(plugins: Iterable[Plugin]) -> None:
    """Import plugins once per process; their ``@tagger`` decorators register them."""
    for plugin in plugins:
        if plugin.spec in _LOADED_MODULES:
            continue
        if plugin.source is not None:
            _exec_source(plugin.spec, plugin.source)
        else:
            try:
                importlib.import_module(plugin.spec)
            except ModuleNotFoundError as exc:
                raise ConfigError(f"tagger module {plugin.spec!r} cannot be imported: {exc}") from None
        _LOADED_MODULES.add(plugin.spec)


@functools.cache
def load_installed() -> None:
    """Import the built-in taggers and every package's ``dolma.taggers`` entry points."""
    from importlib import metadata  # here, not at the top: importing it costs every worker process ~0.1 CPU s

    importlib.import_module("dolma.taggers")
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
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
