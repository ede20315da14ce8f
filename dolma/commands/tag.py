"""``dolma tag``: run taggers over document shards, writing aligned attribute shards."""

from __future__ import annotations

import cProfile
import dataclasses
import io as pyio
import pstats
from collections.abc import Callable

from dolma import io, locks, provenance
from dolma.errors import ConfigError
from dolma.executors import RunSummary, make_executor
from dolma.outcome import Outcome, print_outcome
from dolma.tagging import ProfileConfig, TagConfig, check_tag, plan_tag

Config = TagConfig


def check(config: TagConfig) -> None:
    """The checks that need only the config (``dolma run`` makes them for every step before the first)."""
    check_tag(config)


def main(config: TagConfig) -> int:
    tasks = plan_tag(config)
    if config.dryrun:
        for task in tasks:
            print(f"{task.document_path} -> {', '.join(task.outputs())}")
        return 0
    execution = config.execution()
    if config.profile.enable:
        execution = dataclasses.replace(execution, kind="local", processes=1)
    settings = {out.root: out.settings() for task in tasks for out in task.attribute_outputs}
    with make_executor(execution) as executor:
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
