"""Pipeline files: commands run one after another with shared settings, every step validated before the first
runs.

A pipeline file (``dolma run pipeline.yaml``) names its steps (``tag``, ``dedupe``, ``mix``, ``tokens``,
``stat``...), each with the config that command takes, inline or as a file. The settings every step shares
(executor, processes, overwrite, seed...) are given once under ``settings`` and inherited by each step whose
command has that key, unless the step sets it itself; ``vars`` are values the steps refer to as ``${name}``
(the corpus and the output folder, say), so a recipe takes a user's paths in one place.

Every step's config is decoded and checked (unknown keys, types, tagger names, filter expressions) before the
first step starts: a mistake in the last step costs nothing. What needs the earlier steps' outputs (globs over
a mix, attribute files) is checked when its step starts, by the command itself. Each step is the command's
own code run in this process, so it resumes as the command does: a rerun skips finished shards, and a
pipeline killed midway finishes on the rerun with the same bytes as an uninterrupted run.

The engine knows no command: the command layer hands :func:`plan` a lookup from command name to
:class:`StepCommand`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import yaml
from msgspec import Meta

from dolma import config, io
from dolma.config import Strict
from dolma.errors import ConfigError, DolmaError
from dolma.execution import Execution, RunConfig
from dolma.executors import make_executor
from dolma.outcome import Outcome, print_outcome

SHARED_SETTINGS = tuple(
    name
    for name in (*(f.encode_name for f in msgspec.structs.fields(RunConfig)), "seed")
    if name not in ("dryrun", "work_dir")
)
"""Keys ``settings`` may hold: the execution settings every long command shares, and the seed (not
``dryrun``, which is the pipeline's own, nor ``work_dir``, a folder each command uses for itself)."""


class StepConfig(Strict):
    command: Annotated[str, Meta(description="the dolma command this step runs: tag, dedupe, mix, tokens, stat...")]
    name: Annotated[
        str | None, Meta(description="names the step in messages (default: the command; unique in the file)")
    ] = None
    config: Annotated[
        str | dict[str, Any],
        Meta(description="the command's config: its keys inline, or a YAML/JSON file (relative to directory)"),
    ] = {}


class PipelineConfig(Strict):
    vars: Annotated[
        dict[str, Any], Meta(description="values the steps refer to as ${name}, e.g. corpus: /data/cc, output: out")
    ] = {}
    directory: Annotated[
        str | None,
        Meta(description="folder the steps run in: relative paths (and step config files) resolve against it"),
    ] = None
    settings: Annotated[
        dict[str, Any],
        Meta(
            description="shared by every step whose command has the key, unless it sets its own: "
            + ", ".join(SHARED_SETTINGS)
        ),
    ] = {}
    steps: Annotated[list[StepConfig], Meta(description="the steps, run in this order")] = []
    dryrun: Annotated[bool, Meta(description="check every step's config and print it resolved; run nothing")] = False


@dataclass(frozen=True)
class StepCommand:
    """What the runner needs of a command: its config struct, the checks that need only the config (run for
    every step before any step starts) and the function that runs it and prints its summary."""

    config: type[msgspec.Struct]
    check: Callable[[Any], None]
    main: Callable[[Any], int]


@dataclass(frozen=True)
class Step:
    name: str
    command: str
    config: msgspec.Struct
    runner: StepCommand


@dataclass(frozen=True)
class Plan:
    steps: list[Step]
    execution: Execution
    """The shared settings', for the pipeline's own summary."""


def plan(pipeline: PipelineConfig, commands: Callable[[str], StepCommand]) -> Plan:
    """Every step's config, built and checked; run inside ``pipeline.directory`` (see :func:`inside`)."""
    if not pipeline.steps:
        raise ConfigError("steps: give at least one step")
    unknown = sorted(set(pipeline.settings) - set(SHARED_SETTINGS))
    if unknown:
        raise ConfigError(f"settings: {', '.join(unknown)} not shared settings; those are {', '.join(SHARED_SETTINGS)}")
    variables = config.interpolate(pipeline.vars, "vars", "vars")
    settings = config.interpolate(pipeline.settings, "settings", "settings", variables)
    execution = config.build(RunConfig, {k: v for k, v in settings.items() if k != "seed"}, "settings").execution()
    steps: list[Step] = []
    for index, entry in enumerate(pipeline.steps):
        name = entry.name or entry.command
        if any(step.name == name for step in steps):
            raise ConfigError(f"steps[{index}].name: {name!r} names an earlier step too; give each step its own name")
        steps.append(_plan_step(index, name, entry, variables, settings, commands))
    return Plan(steps, execution)


def _plan_step(
    index: int,
    name: str,
    entry: StepConfig,
    variables: dict[str, Any],
    settings: dict[str, Any],
    commands: Callable[[str], StepCommand],
) -> Step:
    where = f"step {index + 1} ({name}, dolma {entry.command})"
    try:
        runner = commands(entry.command)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if isinstance(entry.config, str):
        data = config.load_file(entry.config)
        where = f"{where}, {entry.config}"
    else:
        data = entry.config
    data = config.interpolate(data, where, variables=variables)
    keys = {f.encode_name for f in msgspec.structs.fields(runner.config)}
    inherited = {key: value for key, value in settings.items() if key in keys}
    built = config.build(runner.config, config.merge(inherited, data), source=where)
    try:
        runner.check(built)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return Step(name, entry.command, built, runner)


@contextmanager
def inside(directory: str | None) -> Iterator[None]:
    """Run with ``directory`` as the working directory (made if missing), so the steps' relative paths are
    the pipeline's; the previous one comes back after."""
    if directory is None:
        yield
        return
    if io.is_s3(directory):
        raise ConfigError(f"directory: {directory} must be a local folder (paths inside steps may be s3://)")
    previous = os.getcwd()
    os.makedirs(directory, exist_ok=True)
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(previous)


def run(pipeline: PipelineConfig, commands: Callable[[str], StepCommand]) -> int:
    """Check every step, then run them in order, each printing its own summary; a final line sums up."""
    with inside(pipeline.directory):
        planned = plan(pipeline, commands)
        steps, execution = planned.steps, planned.execution
        if pipeline.dryrun:
            for number, step in enumerate(steps, 1):
                print(f"# step {number}: {step.name} (dolma {step.command})")
                print(yaml.safe_dump(config.to_dict(step.config), sort_keys=False))
            return 0
        started = time.monotonic()
        timings = []
        for number, step in enumerate(steps, 1):
            if not execution.quiet and execution.log_format == "text":
                print(f"dolma run: step {number}/{len(steps)} {step.name}: dolma {step.command}", file=sys.stderr)
            began = time.monotonic()
            code = step.runner.main(step.config)
            if code != 0:
                raise DolmaError(f"step {number} ({step.name}, dolma {step.command}) failed (exit {code})")
            timings.append(f"{step.name}: {time.monotonic() - began:,.1f} s")
        seconds = time.monotonic() - started
        headline = f"{len(steps)} step(s) done in {seconds:,.1f} s ({'; '.join(timings)})"
        with make_executor(execution) as executor:  # runs nothing: the printer reads its settings
            print_outcome(Outcome("dolma run", headline=headline, seconds=seconds), executor)
    return 0
