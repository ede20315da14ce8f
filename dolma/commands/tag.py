"""``dolma tag``: run taggers over document shards, writing aligned attribute shards."""

from __future__ import annotations

import cProfile
import dataclasses
import io as pyio
import pstats
from collections.abc import Callable
from typing import Annotated, Any

from msgspec import Meta

from dolma import io, layout, locks, provenance, registry
from dolma.config import Strict
from dolma.errors import ConfigError
from dolma.execution import RunConfig
from dolma.executors import RunSummary, make_executor
from dolma.outcome import Outcome, print_outcome
from dolma.tagging import AttributeOutput, TaggerSpec, TagTask


class ProfileConfig(Strict):
    """allenai/dolma's ``tag.profile`` section: profile the tagging with cProfile."""

    enable: Annotated[bool, Meta(description="run the tasks in this process (one worker) under cProfile")] = False
    output: Annotated[str | None, Meta(description="write the statistics here (default: print them)")] = None
    steps: Annotated[int | None, Meta(description="accepted for allenai/dolma compatibility; all documents run")] = None
    sort_key: Annotated[str, Meta(description="pstats sort key, e.g. tottime, cumulative")] = "tottime"
    lines: Annotated[int, Meta(description="rows of statistics shown")] = 100


class Config(RunConfig):
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


def plan(config: Config) -> list[TagTask]:
    plugins = registry.resolve_plugins(config.tagger_modules)
    if not config.documents:
        raise ConfigError("documents: give at least one path or glob")
    if not config.taggers:
        raise ConfigError("taggers: give at least one tagger (`dolma list` shows them)")
    specs = tagger_specs(config.taggers)
    if config.experiment:
        groups = [(layout.check_name(config.experiment, "experiment"), specs)]
    else:
        groups = [(spec.name, (spec,)) for spec in specs]
    if config.destination is not None and len(config.destination) != len(config.documents):
        raise ConfigError(
            f"destination: {len(config.destination)} entries for {len(config.documents)} documents entries; "
            "give one destination per documents entry"
        )
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


def main(config: Config) -> int:
    tasks = plan(config)
    if config.dryrun:
        for task in tasks:
            print(f"{task.document_path} -> {', '.join(task.outputs())}")
        return 0
    execution = config.execution()
    if config.profile.enable:
        execution = dataclasses.replace(execution, kind="local", processes=1)
    executor = make_executor(execution)
    settings = {out.root: out.settings() for task in tasks for out in task.attribute_outputs}
    with locks.hold([locks.for_directory(root) for root in settings], "dolma tag"):
        with provenance.recorded(settings, overwrite=execution.overwrite):
            if config.profile.enable:
                summary = _profiled(config.profile, lambda: executor.run(tasks, desc="tag"))
            else:
                summary = executor.run(tasks, desc="tag")
    print_outcome(Outcome.of("dolma tag", summary), executor)
    return 0


def _profiled(profile: ProfileConfig, work: Callable[[], RunSummary]) -> RunSummary:
    """Run ``work`` under cProfile (one worker, in this process, so the taggers' time is in the profile)."""
    if profile.sort_key not in pstats.SortKey._value2member_map_:
        raise ConfigError(f"profile.sort_key: {profile.sort_key!r} is not a pstats sort key (tottime, cumulative, ...)")
    profiler = cProfile.Profile()
    summary = profiler.runcall(work)
    text = pyio.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats(profile.sort_key).print_stats(profile.lines)
    if profile.output:
        io.write_bytes(profile.output, text.getvalue().encode())
    else:
        print(text.getvalue())
    return summary
