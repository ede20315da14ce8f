"""``dolma mix``: filter, rewrite, sample and shard document streams into a training mix.

Accepts allenai/dolma's mixer configs unchanged (see :mod:`mixers.config`); the pipeline is
:mod:`mixers.run`.
"""

from __future__ import annotations

import sys

from dolma import locks
from dolma.executors import Executor, make_executor
from dolma.mixers.config import MixConfig
from dolma.mixers.plan import StreamPlan
from dolma.mixers.plan import check as check_streams
from dolma.mixers.run import check_replacing, describe, plan_mix, remove_work, run_mix, up_to_date
from dolma.outcome import print_outcome

Config = MixConfig


def _preview(config: MixConfig, plans: list[StreamPlan], executor: Executor) -> int:
    """``--preview``: what each rule would drop or edit, estimated on a seeded sample; no output written."""
    from dolma import report  # here: a plain mix (and each of its workers) need not import the report code
    from dolma.mixers.preview import render as render_preview
    from dolma.mixers.preview import run_preview

    data = run_preview(plans, config.preview_sample_rate, config.seed, executor)
    print("\n".join(render_preview(data)))
    if config.html:
        report.write(config.html, "dolma mix --preview", report.preview_sections(data))
    return 0


def check(config: MixConfig) -> None:
    """Everything that needs only the config (a pipeline checks every step so before running the first); a
    recipe's streams are known only once it is resolved against the sources."""
    config.execution()
    if config.recipe is None:
        check_streams(config)


def main(config: MixConfig) -> int:
    execution = config.execution()
    if config.recipe is not None:  # resolve a published mix into streams, then mix (mixers/recipes.py)
        from dolma.mixers.recipes import run_recipe

        with make_executor(execution) as recipe_executor:
            print_outcome(run_recipe(config, recipe_executor), recipe_executor)
        return 0
    run = plan_mix(config)
    if config.preview:
        with make_executor(execution) as executor:
            return _preview(config, run.plans, executor)
    if config.dryrun:
        print("\n".join(describe(run)))
        return 0
    with locks.hold([locks.for_directory(path) for path in run.directories], "dolma mix"):
        if not execution.overwrite and up_to_date(run):
            remove_work(run)
            if not execution.quiet:
                print(
                    "dolma mix: outputs are up to date (their manifest has this config's hash and lists every shard)",
                    file=sys.stderr,
                )
            return 0
        check_replacing(run, execution.overwrite)
        with make_executor(execution) as executor:
            print_outcome(run_mix(run, executor), executor)
    return 0
