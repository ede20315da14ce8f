"""``dolma quickstart``: run the whole pipeline on the bundled sample corpus, in a directory of your choice.

The steps and their configs live in ``configs/quickstart/``; each is the same ``dolma <command> -c`` a user
would type, so the quickstart doubles as a worked example.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from typing import Annotated

from msgspec import Meta

from dolma import config
from dolma.config import Strict
from dolma.errors import ConfigError


class Step(Strict):
    command: str
    config: str


class Pipeline(Strict):
    steps: list[Step]


class Config(Strict):
    output: Annotated[str, Meta(description="directory for the sample corpus copy and every output")] = (
        "dolma-quickstart"
    )
    processes: Annotated[int | None, Meta(description="worker processes (default: all cores)")] = None
    overwrite: Annotated[bool, Meta(description="redo steps whose outputs already exist")] = False


def main(cfg: Config) -> int:
    from dolma.cli import main as cli_main

    bundled = resources.files("configs")
    pipeline = config.build(Pipeline, config.load_file(str(bundled / "quickstart" / "pipeline.yaml")))
    output = os.path.abspath(cfg.output)
    shutil.copytree(str(bundled / "sample" / "documents"), os.path.join(output, "documents"), dirs_exist_ok=True)
    extra = [] if cfg.processes is None else ["--processes", str(cfg.processes)]
    extra += ["--overwrite"] if cfg.overwrite else []
    cwd = os.getcwd()
    os.chdir(output)
    try:
        for step in pipeline.steps:
            step_config = str(bundled / "quickstart" / step.config)
            print(f"$ dolma {step.command} -c {step_config} {' '.join(extra)}".rstrip(), flush=True)
            code = cli_main([step.command, "-c", step_config, *extra])
            if code != 0:
                raise ConfigError(f"quickstart step `dolma {step.command}` failed (exit {code})")
    finally:
        os.chdir(cwd)
    print(f"quickstart done: outputs under {output}")
    return 0
