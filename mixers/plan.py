"""Validate a mixer config completely before any work, and turn it into per-file tasks.

Everything that can be wrong with a config is found here, with the key that is wrong: expressions that do
not parse, globs that match nothing, missing attribute files, sizes that are not positive. No document or
attribute row is read here: whether the attribute names a filter reads occur in the data is counted by the
file tasks and judged by :mod:`mixers.presence` (dolma's attribute files are sparse, so a first-rows probe
refused valid configs and missed stale files).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from dolma.mixers import checks
from dolma.mixers.config import RECIPE_KEYS, MixConfig, StreamConfig
from dolma.mixers.filters import COMPAT_MODES, Expression, compile_expression, compile_jq_path, compile_path
from dolma.mixers.mixing import StreamSpec
from dolma.mixers.writer import extension

from dolma import config as config_module
from dolma import io, layout
from dolma.errors import ConfigError
from dolma.execution import RunConfig

EXECUTION_KEYS = (*RunConfig.__struct_fields__, "preview", "preview_sample_rate", "html")
"""How a mix runs (or is previewed), not what it contains: left out of the config hash."""


@dataclass
class StreamPlan:
    index: int
    config: StreamConfig
    spec: StreamSpec
    inputs: list[str]
    attribute_paths: list[tuple[str, ...]]
    work_dir: str
    read_names: frozenset[str] = frozenset()
    """Attribute names the stream's expressions read; judged against the data by :mod:`mixers.presence`."""

    @property
    def needs_scan(self) -> bool:
        cfg = self.config
        return cfg.target_documents is not None or cfg.target_tokens is not None or cfg.top_fraction is not None


def mix_identity(config: MixConfig) -> dict[str, Any]:
    """The keys that decide what a mix contains (execution keys like ``processes`` excluded)."""
    data = config_module.to_dict(config)
    return {key: value for key, value in data.items() if key not in EXECUTION_KEYS and key not in RECIPE_KEYS}


def config_hash(config: MixConfig) -> str:
    canonical = json.dumps(mix_identity(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check(config: MixConfig) -> None:
    """Everything that needs only the config, not the files (a pipeline checks every step so before running
    the first): names, outputs, sampling settings, and every expression parses."""
    if not config.streams:
        raise ConfigError("streams: give at least one stream")
    if config.compat is not None and config.compat not in COMPAT_MODES:
        raise ConfigError(f"compat: {config.compat!r} is not one of {', '.join(COMPAT_MODES)} (or unset)")
    for index, stream in enumerate(config.streams):
        key = f"streams[{index}]"
        layout.check_name(stream.name, f"{key}.name")  # it names the output shards: no '..', '/', NUL, dot
        _check_output(key, stream)
        _check_sampling(key, stream)
        _compile_expressions(key, stream, config.compat)


def build(config: MixConfig) -> list[StreamPlan]:
    check(config)
    digest = config_hash(config)[:12]
    plans = []
    seen: dict[tuple[str, str], str] = {}
    for index, stream in enumerate(config.streams):
        key = f"streams[{index}]"
        where = (stream.output.path.rstrip("/"), stream.name)
        if where in seen:
            raise ConfigError(f"{key}.name: {stream.name!r} already used by {seen[where]} with the same output.path")
        seen[where] = key
        plans.append(_plan_stream(config, index, stream, digest))
    return plans


def _plan_stream(config: MixConfig, index: int, stream: StreamConfig, digest: str) -> StreamPlan:
    key = f"streams[{index}]"
    inputs = _expand_documents(key, stream)
    expressions = _compile_expressions(key, stream, config.compat)
    attribute_paths = _attribute_paths(key, stream, inputs)
    _check_mistakes(key, stream, inputs, attribute_paths, expressions)
    spec = StreamSpec(
        name=stream.name,
        key=key,
        include=tuple(stream.filter.include) if stream.filter else (),
        exclude=tuple(stream.filter.exclude) if stream.filter else (),
        syntax=stream.filter.syntax if stream.filter else "jsonpath",
        spans=tuple((r.span, r.min_score, r.max_score, r.replacement, r.syntax) for r in stream.span_replacement),
        discard_fields=tuple(stream.output.discard_fields),
        min_text_length=stream.output.min_text_length or 0,
        provenance=stream.output.provenance,
        ext=extension(stream.output.format, stream.compression.output),
        max_bytes=stream.output.max_size_in_bytes,
        top_score=stream.top_fraction.score if stream.top_fraction else None,
        compat=config.compat,
    )
    work_root = config.work_dir.output or stream.output.path
    work_dir = io.join(work_root, "_mix_work", digest, stream.name)
    return StreamPlan(index, stream, spec, inputs, attribute_paths, work_dir, _read_names(expressions))


def _check_output(key: str, stream: StreamConfig) -> None:
    out = stream.output
    if not out.path:
        raise ConfigError(f"{key}.output.path: required (the directory for the stream's shards)")
    if io.is_s3(out.path) and "/" not in out.path.rstrip("/")[len("s3://") :]:
        raise ConfigError(f"{key}.output.path: a directory inside the bucket (the manifest is written beside it)")
    if out.max_size_in_bytes <= 0:
        raise ConfigError(f"{key}.output.max_size_in_bytes: must be positive, got {out.max_size_in_bytes}")
    if out.min_text_length is not None and out.min_text_length < 0:
        raise ConfigError(f"{key}.output.min_text_length: must be >= 0, got {out.min_text_length}")
    if out.format not in ("jsonl", "parquet"):
        raise ConfigError(f"{key}.output.format: {out.format!r} is not jsonl or parquet")
    try:
        extension(out.format, stream.compression.output)
    except ValueError as exc:
        raise ConfigError(f"{key}.compression.output: {exc}") from None
    if out.format == "parquet" and stream.compression.output not in (None, "zst", "zstd"):
        raise ConfigError(f"{key}.compression.output: Parquet output is zstd-compressed inside the file")


def _check_sampling(key: str, stream: StreamConfig) -> None:
    given = [name for name in ("sample_rate", "target_documents", "target_tokens") if getattr(stream, name) is not None]
    if len(given) > 1:
        raise ConfigError(f"{key}: give at most one of sample_rate, target_documents, target_tokens (got {given})")
    if stream.sample_rate is not None and stream.sample_rate < 0:
        raise ConfigError(f"{key}.sample_rate: must be >= 0, got {stream.sample_rate}")
    for name in ("target_documents", "target_tokens"):
        value = getattr(stream, name)
        if value is not None and value <= 0:
            raise ConfigError(f"{key}.{name}: must be positive, got {value}")
    top = stream.top_fraction
    if top is not None:
        if not 0 < top.fraction <= 1:
            raise ConfigError(f"{key}.top_fraction.fraction: must be in (0, 1], got {top.fraction}")
        try:
            compile_path(top.score)
        except ConfigError as exc:
            raise ConfigError(f"{key}.top_fraction.score: {exc}") from None


def _expand_documents(key: str, stream: StreamConfig) -> list[str]:
    if not stream.documents:
        raise ConfigError(f"{key}.documents: give at least one path or glob")
    inputs: list[str] = []
    for j, pattern in enumerate(stream.documents):
        matched = io.glob(pattern)
        if not matched:
            raise ConfigError(f"{key}.documents[{j}]: pattern {pattern!r} matches no files")
        inputs.extend(matched)
    inputs = list(dict.fromkeys(inputs))
    wanted = stream.compression.input
    if wanted is not None:
        normal = {"gz": "gzip", "gzip": "gzip", "zst": "zstd", "zstd": "zstd", "none": None}
        if wanted.lower() not in normal:
            raise ConfigError(f"{key}.compression.input: {wanted!r} is not gzip, zst or none")
        for path in inputs:
            if io.compression_of(path) != normal[wanted.lower()]:
                raise ConfigError(
                    f"{key}.compression.input: {wanted!r} disagrees with the extension of {path}; "
                    "compression is read from the file extension"
                )
    return inputs


def _compile_expressions(key: str, stream: StreamConfig, compat: str | None) -> list[tuple[str, Expression | Any]]:
    """Every expression of the stream with the key naming it; parse errors name the key and column."""
    out: list[tuple[str, Any]] = []
    flt = stream.filter
    if flt is not None:
        if flt.syntax not in ("jsonpath", "jq"):
            raise ConfigError(f"{key}.filter.syntax: {flt.syntax!r} is not jsonpath or jq")
        if not flt.include and not flt.exclude:
            raise ConfigError(f"{key}.filter: give include or exclude expressions (an empty filter does nothing)")
        for direction in ("include", "exclude"):
            for j, text in enumerate(getattr(flt, direction)):
                where = f"{key}.filter.{direction}[{j}]"
                try:
                    out.append((where, compile_expression(text, flt.syntax, compat)))
                except ConfigError as exc:
                    raise ConfigError(f"{where}: {exc}") from None
    for j, rule in enumerate(stream.span_replacement):
        where = f"{key}.span_replacement[{j}]"
        if rule.syntax not in ("jsonpath", "jq"):
            raise ConfigError(f"{where}.syntax: {rule.syntax!r} is not jsonpath or jq")
        if rule.min_score is None and rule.max_score is None:
            raise ConfigError(f"{where}: give min_score or max_score")
        try:
            path = compile_jq_path(rule.span) if rule.syntax == "jq" else compile_path(rule.span)
            out.append((f"{where}.span", path))
        except ConfigError as exc:
            raise ConfigError(f"{where}.span: {exc}") from None
    if stream.top_fraction is not None:
        out.append((f"{key}.top_fraction.score", compile_path(stream.top_fraction.score)))
    return out


def _attribute_paths(key: str, stream: StreamConfig, inputs: list[str]) -> list[tuple[str, ...]]:
    paths = []
    for doc_path in inputs:
        row = []
        for e, experiment in enumerate(stream.attributes):
            try:
                attr_path = layout.attribute_path(doc_path, experiment)
            except ConfigError as exc:
                raise ConfigError(f"{key}.attributes[{e}]: {exc}") from None
            if not io.exists(attr_path):
                raise ConfigError(f"{key}.attributes[{e}]: {attr_path} (attributes of {doc_path}) does not exist")
            row.append(attr_path)
        paths.append(tuple(row))
    return paths


def _read_names(expressions: list[tuple[str, Expression | Any]]) -> frozenset[str]:
    """The attribute names the stream's expressions read, which the tasks count the presence of (none
    when an expression reads every attribute: then every name is counted)."""
    if any(expr.reads_all_attributes for _, expr in expressions):
        return frozenset()
    return frozenset(name for _, expr in expressions for name in expr.attribute_names)


def _check_mistakes(
    key: str,
    stream: StreamConfig,
    inputs: list[str],
    attribute_paths: list[tuple[str, ...]],
    expressions: list[tuple[str, Any]],
) -> None:
    """Comparisons that cannot be true and score paths that select no number (:mod:`mixers.checks`)."""
    docs = checks.probe_documents(inputs[0], attribute_paths[0])
    checks.check_expressions([(w, e) for w, e in expressions if not w.endswith("top_fraction.score")], docs, inputs[0])
    if stream.top_fraction is not None:
        where = f"{key}.top_fraction.score"
        checks.check_score_path(where, compile_path(stream.top_fraction.score), docs, inputs[0])
