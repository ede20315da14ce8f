"""``dolma tag`` below the CLI: its config, the plan (:func:`plan_tag`: one task per documents shard, every
tagger and parameter checked first) and the task (one documents shard in, attribute shards out, one row per
document, in order).

Usually all taggers write one attribute shard under the run's experiment name. Without an experiment name,
each tagger writes its own (named after the tagger), as allenai/dolma does; the shard is still read once.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from dolma import io, layout, registry
from dolma.config import Strict
from dolma.documents import AttributeRow, BadLines, Document, encode_line, read_documents
from dolma.errors import ConfigError, DolmaError
from dolma.execution import RunConfig
from dolma.executors import ProgressCounter, Report, TaskResult
from dolma.tagger import Tagger


class TaggerFailed(DolmaError):
    """A tagger raised: says which shard, line and document, and where in the tagger's code."""


def _predict(name: str, tagger: Tagger, batch: list[Document], lines: list[int], path: str) -> Sequence[Any]:
    """``tagger.predict_batch(batch)``; when it raises, find the first document that fails alone and name
    it (a plugin's bug should cost one line to locate, not a 40-line traceback naming no document)."""
    try:
        return tagger.predict_batch(batch)
    except Exception as exc:  # noqa: BLE001 - re-raised with its location below
        failed: tuple[int, Document, BaseException] | None = None
        for lineno, doc in zip(lines, batch, strict=True):
            try:
                tagger.predict_batch([doc])
            except Exception as single:  # noqa: BLE001
                failed = (lineno, doc, single)
                break
        where = f"{path}:{failed[0]}: document {failed[1].id!r}" if failed else f"{path}:{lines[0]}-{lines[-1]}"
        cause = failed[2] if failed else exc
        frames = traceback.extract_tb(cause.__traceback__)
        at = f" (raised at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
        raise TaggerFailed(f"{where}: tagger {name!r} failed: {type(cause).__name__}: {cause}{at}") from cause


def score_of(value: Any) -> float:
    """Scores are written as floats rounded to 5 decimals, as dolma does; ints and bools are exact."""
    if type(value) is int or type(value) is bool:
        return float(value)
    return round(float(value), 5)


@dataclass(frozen=True)
class TaggerSpec:
    name: str
    """The name the tagger writes under (``<experiment>__<name>__<attribute>``; the attribute directory
    without an experiment): the registered tagger's name, or the config's own name for a second instance."""
    params: dict[str, Any] = field(default_factory=dict)
    tagger: str = ""
    """The registered tagger, when ``name`` is not it."""

    @property
    def registered(self) -> str:
        return self.tagger or self.name


@dataclass(frozen=True)
class AttributeOutput:
    """One attribute shard: where it goes and which taggers fill it, under which experiment prefix."""

    path: str
    experiment: str
    taggers: tuple[TaggerSpec, ...]
    root: str = ""
    """The destination directory it belongs to: what the run locks and records its config in."""

    def settings(self) -> dict[str, Any]:
        """The config keys that change this output's contents (see ``dolma.provenance``); parameters with
        their defaults filled in, so spelling out a default does not count as another config."""
        taggers = [
            [spec.name, msgspec.to_builtins(registry.make_params(spec.registered, spec.params))]
            + ([spec.tagger] if spec.tagger else [])  # a named instance: which tagger it runs counts too
            for spec in self.taggers
        ]
        return {"command": "tag", "experiment": self.experiment, "taggers": taggers}


@dataclass(frozen=True)
class TagTask:
    document_path: str
    attribute_outputs: tuple[AttributeOutput, ...]
    plugins: tuple[registry.Plugin, ...] = ()
    skip_bad_lines: bool = False
    batch_size: int = 256

    @property
    def label(self) -> str:
        return self.document_path

    def outputs(self) -> list[str]:
        return [out.path for out in self.attribute_outputs]

    def run(self, report: Report) -> TaskResult:
        registry.load_plugins(self.plugins)
        groups = [
            [(spec.name, f"{out.experiment}__{spec.name}__", registry.instance(spec.registered, spec.params))
             for spec in out.taggers]
            for out in self.attribute_outputs
        ]  # fmt: skip
        bad = BadLines() if self.skip_bad_lines else None
        docs = nbytes = 0
        progress = ProgressCounter(report)
        batch: list[Document] = []
        lines: list[int] = []
        with ExitStack() as stack:
            writers = [stack.enter_context(io.atomic_write(out.path)) for out in self.attribute_outputs]

            def flush() -> None:
                for writer, taggers in zip(writers, groups, strict=True):
                    results = []
                    for name, prefix, tagger in taggers:
                        result = _predict(name, tagger, batch, lines, self.document_path)
                        if len(result) != len(batch):
                            raise DolmaError(f"tagger {name!r} returned {len(result)} results for {len(batch)} docs")
                        results.append((prefix, result, tagger.exact_scores))
                    for i, doc in enumerate(batch):
                        attributes: dict[str, Any] = {}
                        for prefix, result, exact in results:
                            if exact:
                                for key, spans in result[i].items():
                                    attributes[prefix + key] = spans
                                continue
                            for key, spans in result[i].items():
                                # the common float case inline: a call per span costs more than the rounding
                                attributes[prefix + key] = [
                                    [s, e, round(v, 5) if type(v) is float else score_of(v)] for s, e, v in spans
                                ]
                        writer.write(encode_line(AttributeRow(id=doc.id, attributes=attributes, source=doc.source)))
                batch.clear()
                lines.clear()

            for lineno, doc, size in read_documents(self.document_path, bad):
                batch.append(doc)
                lines.append(lineno)
                docs += 1
                nbytes += size
                progress.add(size)
                if len(batch) >= self.batch_size:
                    flush()
            if batch:
                flush()
        progress.flush()
        return TaskResult.shard(docs, nbytes, bad)


# ------------------------------------------------------------------------------------------- the run


class ProfileConfig(Strict):
    """allenai/dolma's ``tag.profile`` section: profile the tagging with cProfile."""

    enable: Annotated[bool, Meta(description="run the tasks in this process (one worker) under cProfile")] = False
    output: Annotated[str | None, Meta(description="write the statistics here (default: print them)")] = None
    steps: Annotated[int | None, Meta(description="accepted for allenai/dolma compatibility; all documents run")] = None
    sort_key: Annotated[str, Meta(description="pstats sort key, e.g. tottime, cumulative")] = "tottime"
    lines: Annotated[int, Meta(description="rows of statistics shown")] = 100


class TagConfig(RunConfig):
    """``dolma tag``'s config."""

    documents: Annotated[list[str], Meta(description="document shard paths or globs, local or s3://")] = []
    destination: Annotated[
        list[str] | None,
        Meta(description="one output prefix per documents entry (default: <prefix>/attributes/<experiment>/)"),
    ] = None
    taggers: Annotated[
        list[str | dict[str, Any]],
        Meta(
            description="tagger names; {tagger: {param: value}} to set parameters; "
            "{name: N, tagger: T, params: {...}} to run tagger T under the name N (the same tagger twice)"
        ),
    ] = []
    tagger_modules: Annotated[list[str], Meta(description="plugin modules or .py files to load")] = []
    experiment: Annotated[
        str | None,
        Meta(description="attribute directory and key prefix (default: each tagger writes its own, named after it)"),
    ] = None
    batch_size: Annotated[int, Meta(description="documents per predict_batch call")] = 256
    profile: Annotated[ProfileConfig, Meta(description="profile the taggers (allenai/dolma's profile section)")] = (
        ProfileConfig()
    )


NAMED_KEYS = frozenset(["name", "tagger", "params"])


def _named_spec(where: str, entry: dict[str, Any]) -> TaggerSpec:
    """``{name: ft_a, tagger: fasttext_classifier, params: {...}}``: a tagger under a name of its own."""
    unknown = sorted(set(entry) - NAMED_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; a named tagger has name, tagger and params")
    name, registered, params = entry.get("name"), entry["tagger"], entry.get("params") or {}
    if not isinstance(name, str) or not name or "__" in name or "/" in name:
        raise ConfigError(f"{where}.name: give the name it writes under (no '__' or '/'), e.g. ft_quality")
    if not isinstance(registered, str) or not isinstance(params, dict):
        raise ConfigError(f"{where}: tagger is a registered tagger's name and params a mapping")
    return TaggerSpec(name, dict(params), tagger=registered)


def tagger_specs(entries: list[str | dict[str, Any]]) -> tuple[TaggerSpec, ...]:
    specs = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            specs.append(TaggerSpec(entry))
        elif "tagger" in entry:
            specs.append(_named_spec(f"taggers[{i}]", entry))
        else:
            for name, params in entry.items():
                if params is not None and not isinstance(params, dict):
                    raise ConfigError(f"taggers[{i}].{name}: parameters are a mapping, got {params!r}")
                specs.append(TaggerSpec(name, dict(params or {})))
    names = [spec.name for spec in specs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(
            f"taggers: {', '.join(repeated)} listed more than once (attribute names would collide); to run a "
            "tagger twice, name each one: {name: a, tagger: " + repeated[0] + ", params: {...}}"
        )
    for spec in specs:
        registry.make_params(spec.registered, spec.params)  # unknown names and bad parameters fail here, up front
    return tuple(specs)


def check_tag(config: TagConfig) -> tuple[tuple[registry.Plugin, ...], tuple[TaggerSpec, ...]]:
    """Everything that needs only the config, not the files (a pipeline checks every step so before running
    the first): plugins load, taggers exist and take their parameters. Returns the plugins and the taggers."""
    plugins = registry.resolve_plugins(config.tagger_modules)
    if not config.documents:
        raise ConfigError("documents: give at least one path or glob")
    if not config.taggers:
        raise ConfigError("taggers: give at least one tagger (`dolma list` shows them)")
    if config.experiment:
        layout.check_name(config.experiment, "experiment")
    if config.destination is not None and len(config.destination) != len(config.documents):
        raise ConfigError(
            f"destination: {len(config.destination)} entries for {len(config.documents)} documents entries; "
            "give one destination per documents entry"
        )
    config.execution()
    return plugins, tagger_specs(config.taggers)


def plan_tag(config: TagConfig) -> list[TagTask]:
    """Validate the config (taggers, their parameters, plugins, globs) and list one task per documents shard."""
    plugins, specs = check_tag(config)
    if config.experiment:
        groups = [(config.experiment, specs)]
    else:
        groups = [(spec.name, (spec,)) for spec in specs]
    tasks = []
    for i, pattern in enumerate(config.documents):
        for path in io.expand_globs([pattern], "documents"):
            outputs = []
            for experiment, taggers in groups:
                if config.destination is None:
                    root = layout.attribute_root(path, experiment)
                    out = layout.attribute_path(path, experiment)
                else:  # several taggers without an experiment each get a subdirectory of the destination
                    root = config.destination[i] if len(groups) == 1 else io.join(config.destination[i], experiment)
                    out = layout.destination_path(path, pattern, root)
                outputs.append(AttributeOutput(out, experiment, taggers, root.rstrip("/")))
            tasks.append(
                TagTask(
                    document_path=path,
                    attribute_outputs=tuple(outputs),
                    plugins=plugins,
                    skip_bad_lines=config.skip_bad_lines,
                    batch_size=config.batch_size,
                )
            )
    return tasks
