"""``dolma mix``: filter, rewrite, sample and shard document streams into a training mix.

Accepts allenai/dolma's mixer configs unchanged (see :mod:`mixers.config`); the pipeline is
:mod:`mixers.run`.
"""

from __future__ import annotations

import sys

from dolma.executors import make_executor
from dolma.outcome import print_outcome
from mixers.config import MixConfig
from mixers.run import check_replacing, describe, plan_mix, run_mix, up_to_date

Config = MixConfig


def main(config: MixConfig) -> int:
    run = plan_mix(config)
    execution = config.execution()
    if config.dryrun:
        print("\n".join(describe(run)))
        return 0
    if not execution.overwrite and up_to_date(run):
        if not execution.quiet:
            print(
                "dolma mix: outputs are up to date (manifest.json has this config's hash and lists every shard)",
                file=sys.stderr,
            )
        return 0
    check_replacing(run, execution.overwrite)
    executor = make_executor(execution)
    print_outcome(run_mix(run, executor), executor)
    return 0
