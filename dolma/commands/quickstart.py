"""``dolma quickstart``: run the whole pipeline on the bundled sample corpus, in a directory of your choice.

The steps and their configs live in ``configs/quickstart/``, copied to ``<output>/configs/``; each step is the
same ``dolma <command> -c configs/<step>.yaml`` a user would type in the output directory, so the quickstart
doubles as a worked example to edit and rerun.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib import resources
from typing import Annotated, Any

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

    bundled = resources.files("dolma.configs")
    pipeline = config.build(Pipeline, config.load_file(str(bundled / "quickstart" / "pipeline.yaml")))
    output = os.path.abspath(cfg.output)
    shutil.copytree(str(bundled / "sample" / "documents"), os.path.join(output, "documents"), dirs_exist_ok=True)
    shutil.copytree(str(bundled / "quickstart"), os.path.join(output, "configs"), dirs_exist_ok=True)
    extra = [] if cfg.processes is None else ["--processes", str(cfg.processes)]
    extra += ["--overwrite"] if cfg.overwrite else []
    cwd = os.getcwd()
    os.chdir(output)
    try:
        for step in pipeline.steps:
            step_config = os.path.join("configs", step.config)  # a copy the user can edit and rerun
            print(f"$ dolma {step.command} -c {step_config} {' '.join(extra)}".rstrip(), flush=True)
            code = cli_main([step.command, "-c", step_config, *extra])
            if code != 0:
                raise ConfigError(f"quickstart step `dolma {step.command}` failed (exit {code})")
    finally:
        os.chdir(cwd)
    print("\n".join(summary(output)))
    return 0


def _read(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def summary(output: str) -> list[str]:
    """The last screen: what went in, what the mix kept and why the rest went, and the report to open."""
    from dolma.mixers.manifest import path_of

    stat = _read(os.path.join(output, "stat.json"))
    docs = sum(s["documents"] for s in stat["sources"].values())
    nbytes = sum(s["bytes"] for s in stat["sources"].values())
    tokens = sum(s["tokens"] for s in stat["sources"].values())
    lines = [
        "",
        f"quickstart done: outputs under {output}",
        f"  corpus: {docs:,} documents, {nbytes / 1e6:,.1f} MB, {tokens:,} words, {len(stat['sources'])} sources",
        f"  attributes: {len(stat['attributes'])} (distributions in stat.json and the report)",
    ]
    for stream in _read(path_of(os.path.join(output, "mixed")))["streams"]:
        counts = stream["counts"]
        kept = counts["kept"]["documents"]
        lines.append(
            f"  mix {stream['name']}: kept {kept:,} of {counts['in']['documents']:,} documents "
            f"({100 * kept / max(counts['in']['documents'], 1):.0f}%) in {len(stream['outputs'])} shard(s) "
            f"under {os.path.join(output, stream['output'])}/"
        )
        for rule, row in counts["dropped"].items():
            lines.append(f"    dropped by {rule}: {row['documents']:,}")
    lines.append(f"  HTML report (plots of every attribute, the mix preview): {os.path.join(output, 'report.html')}")
    return lines
