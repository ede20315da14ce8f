"""``dolma quickstart``: run the whole pipeline on the bundled sample corpus, in a directory of your choice.

Copies the sample corpus to ``<output>/documents/`` and ``configs/quickstart/`` to ``<output>/configs/``, then
runs ``configs/pipeline.yaml`` there exactly as ``dolma run configs/pipeline.yaml`` would (one runner,
:mod:`dolma.pipeline`), and ends with a screen about the corpus, the mix and the report. Every step's config
is a file the user can edit and rerun alone, so the quickstart doubles as a worked example.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib import resources
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from dolma import config, pipeline
from dolma.commands.run import step_command
from dolma.config import Strict
from dolma.pipeline import PipelineConfig


class Config(Strict):
    output: Annotated[str, Meta(description="directory for the sample corpus copy and every output")] = (
        "dolma-quickstart"
    )
    processes: Annotated[int | None, Meta(description="worker processes (default: all cores)")] = None
    overwrite: Annotated[bool, Meta(description="redo steps whose outputs already exist")] = False


def main(cfg: Config) -> int:
    bundled = resources.files("dolma.configs")
    output = os.path.abspath(cfg.output)
    shutil.copytree(str(bundled / "sample" / "documents"), os.path.join(output, "documents"), dirs_exist_ok=True)
    shutil.copytree(str(bundled / "quickstart"), os.path.join(output, "configs"), dirs_exist_ok=True)
    settings: dict[str, Any] = {} if cfg.processes is None else {"processes": cfg.processes}
    settings |= {"overwrite": True} if cfg.overwrite else {}
    flags = "".join(f" --settings.{key} {json.dumps(value)}" for key, value in settings.items())
    print(f"$ cd {output} && dolma run configs/pipeline.yaml{flags}", flush=True)
    loaded = config.load(PipelineConfig, os.path.join(output, "configs", "pipeline.yaml"))
    pipeline.run(msgspec.structs.replace(loaded, directory=output, settings=loaded.settings | settings), step_command)
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
