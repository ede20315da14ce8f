"""Typed configs: YAML/JSON loading, dotted command-line overrides and validation, all before any work.

Every command's config is one ``msgspec.Struct``; its fields are the schema, the validation and the
``--help`` text (through ``Annotated[..., Meta(description=...)]``), so a key is defined exactly once.
Unknown keys and wrong types are errors that name the key.
"""

from __future__ import annotations

import json
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import msgspec
import yaml

from dolma import io
from dolma.errors import ConfigError, InputError

T = TypeVar("T", bound=msgspec.Struct)


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base for config structs: unknown keys are refused."""


def load_file(path: str) -> dict[str, Any]:
    """Read a YAML or JSON config (local or ``s3://``) into a mapping."""
    try:
        text = io.read_text(path)
    except InputError as exc:
        raise ConfigError(f"config file: {exc}") from None
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path} does not parse: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys, not {type(data).__name__}")
    return data


def _scalar(text: str) -> Any:
    """Parse one command-line value as YAML so ``2``, ``true``, ``0.5`` and ``[a, b]`` get their types."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_overrides(args: Sequence[str]) -> dict[str, Any]:
    """Turn ``--a.b value [value ...]`` and ``--flag`` into a nested mapping. Dashes in keys become
    underscores (``--skip-bad-lines`` sets ``skip_bad_lines``)."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise ConfigError(f"unexpected argument {arg!r}: options look like --key value or --section.key value")
        key, eq, inline = arg[2:].partition("=")
        values: list[Any] = []
        if eq:
            values.append(_scalar(inline))
        i += 1
        while not eq and i < len(args) and not args[i].startswith("--"):
            values.append(_scalar(args[i]))
            i += 1
        value: Any = True if not values else values[0] if len(values) == 1 else values
        node = out
        parts = [p.replace("-", "_") for p in key.split(".")]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--{key}: {part} is given both as a value and as a section")
        node[parts[-1]] = value
    return out


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Overlay ``overrides`` on ``base``; a numeric key indexes a list (``--streams.0.sample_rate 0.5``)."""
    merged = dict(base)
    for key, value in overrides.items():
        current = merged.get(key)
        indexes = isinstance(value, dict) and bool(value) and all(k.isdigit() for k in value)
        if indexes and current is None:
            current = []
        if isinstance(value, dict) and isinstance(current, dict):
            merged[key] = merge(current, value)
        elif indexes and isinstance(current, list):
            items = list(current)
            for index, item in value.items():
                if int(index) >= len(items):
                    raise ConfigError(f"--{key}.{index}: {key} has only {len(items)} entries")
                old = items[int(index)]
                items[int(index)] = merge(old, item) if isinstance(old, dict) and isinstance(item, dict) else item
            merged[key] = items
        else:
            merged[key] = value
    return merged


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``Optional`` to reach the type a value must have."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return tp


def _coerce(tp: Any, value: Any) -> Any:
    """Wrap a lone value in a list where the schema wants a list, so ``--documents a.gz`` works."""
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin is list and not isinstance(value, list):
        return [value]
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(tp) or (Any,)
        return [_coerce(item, v) for v in value]
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct) and isinstance(value, dict):
        hints = typing.get_type_hints(tp, include_extras=True)
        by_name = {f.encode_name: f.name for f in msgspec.structs.fields(tp)}
        return {k: _coerce(hints[by_name[k]], v) if k in by_name else v for k, v in value.items()}
    return value


def build(cls: type[T], data: dict[str, Any], source: str = "config") -> T:
    """Validate ``data`` into ``cls``; errors name the offending key."""
    try:
        return msgspec.convert(_coerce(cls, data), cls, strict=False)
    except msgspec.ValidationError as exc:
        message = re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m[0])[1:-1], _explain(str(exc)))  # keys with a newline
        raise ConfigError(f"{source}: {message}") from None


def _explain(message: str) -> str:
    """msgspec says ``... - at `$.a.b` ``; say it as ``key a.b: ...``."""
    text, sep, where = message.rpartition(" - at `")
    if not sep:
        return message
    key = where.rstrip("`").removeprefix("$").lstrip(".") or "(top level)"
    return f"key {key}: {text}"


_ENV_REFERENCE = re.compile(r"(\\?)\$\{oc\.env:([^,}]*)(?:,([^}]*))?\}")
"""OmegaConf's ``${oc.env:NAME}`` and ``${oc.env:NAME,default}``; a backslash before ``$`` escapes it."""


def _env_value(name: str, default: str | None, key: str, source: str) -> str | None:
    name = name.strip()
    value = os.environ.get(name)
    if value is not None:
        return value
    if default is None:
        raise ConfigError(f"{source}: key {key}: environment variable {name} is not set (${{oc.env:{name}}})")
    default = default.strip()
    if default == "null":
        return None
    if len(default) >= 2 and default[0] == default[-1] and default[0] in "'\"":
        return default[1:-1]
    return default


def _interpolate_string(text: str, key: str, source: str) -> str | None:
    """Replace every ``${oc.env:...}`` in ``text``; a string that is only a reference to an unset variable
    with a ``null`` default becomes ``None``, as in OmegaConf."""
    whole = _ENV_REFERENCE.fullmatch(text)
    if whole is not None and not whole.group(1):
        return _env_value(whole.group(2), whole.group(3), key, source)

    def substitute(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(0)[1:]
        return str(_env_value(match.group(2), match.group(3), key, source))

    return _ENV_REFERENCE.sub(substitute, text)


_VARIABLE_REFERENCE = re.compile(r"(\\?)\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
"""OmegaConf's reference to another key, ``${name}``: here a pipeline file's ``vars`` (:mod:`dolma.pipeline`)."""


def _substitute_variables(text: str, variables: Mapping[str, Any], key: str, source: str) -> Any:
    """Replace every ``${name}`` in ``text``; a string that is only a reference takes the value's type."""

    def value(name: str) -> Any:
        if name not in variables:
            known = ", ".join(sorted(variables)) or "none"
            raise ConfigError(f"{source}: key {key}: ${{{name}}} is not a variable (vars: {known})")
        return variables[name]

    whole = _VARIABLE_REFERENCE.fullmatch(text)
    if whole is not None and not whole.group(1):
        return value(whole.group(2))
    return _VARIABLE_REFERENCE.sub(lambda m: m.group(0)[1:] if m.group(1) else str(value(m.group(2))), text)


def interpolate(data: Any, source: str = "config", key: str = "", variables: Mapping[str, Any] | None = None) -> Any:
    """Resolve OmegaConf environment references in every string of a loaded config (allenai/dolma reads
    its configs through OmegaConf, and AI2's configs write paths as ``${oc.env:HOME}/...``), and with
    ``variables`` the ``${name}`` references to them. Runs before validation, so a resolved value is checked
    like any other; an unset variable without a default is an error naming the key."""
    if isinstance(data, str):
        if "${" not in data:
            return data
        text = _interpolate_string(data, key or "(top level)", source)
        if variables is None or not isinstance(text, str):
            return text
        return _substitute_variables(text, variables, key or "(top level)", source)
    if isinstance(data, dict):
        return {k: interpolate(v, source, f"{key}.{k}" if key else str(k), variables) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, source, f"{key}[{i}]", variables) for i, v in enumerate(data)]
    return data


def load(cls: type[T], path: str | None, overrides: Sequence[str] = ()) -> T:
    """Load a config file (optional), apply ``--dotted.key value`` overrides, resolve ``${oc.env:...}``,
    validate into ``cls``."""
    source = path or "command line"
    data = load_file(path) if path else {}
    data = interpolate(merge(data, parse_overrides(overrides)), source)
    return build(cls, data, source=source)


def to_dict(config: msgspec.Struct) -> dict[str, Any]:
    return typing.cast(dict[str, Any], msgspec.to_builtins(config))


def describe(cls: type[msgspec.Struct], prefix: str = "") -> list[str]:
    """One line per key (nested sections flattened as ``a.b``): type, default and description."""
    lines = []
    hints = typing.get_type_hints(cls, include_extras=True)
    for f in msgspec.structs.fields(cls):
        tp = hints[f.name]
        doc = ""
        if typing.get_origin(tp) is typing.Annotated:
            for meta in typing.get_args(tp)[1:]:
                if isinstance(meta, msgspec.Meta) and meta.description:
                    doc = meta.description
        inner = _unwrap(tp)
        key = f"{prefix}{f.encode_name}"
        if isinstance(inner, type) and issubclass(inner, msgspec.Struct):
            lines.append(f"  {key}: section. {doc}".rstrip())
            lines.extend(describe(inner, prefix=f"{key}."))
            continue
        (item,) = typing.get_args(inner) if typing.get_origin(inner) is list else (None,)
        if isinstance(item, type) and issubclass(item, msgspec.Struct):
            lines.append(f"  {key}: list of sections, each with the keys {key}[].*. {doc}".rstrip())
            lines.extend(describe(item, prefix=f"{key}[]."))
            continue
        default = ""
        if f.default is not msgspec.NODEFAULT:
            default = f" (default: {f.default!r})"
        elif f.default_factory is not msgspec.NODEFAULT:
            default = f" (default: {f.default_factory()!r})"
        else:
            default = " (required)"
        lines.append(f"  {key}: {_type_name(inner)}{default}. {doc}".rstrip())
    return lines


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")
