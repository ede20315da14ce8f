"""``dolma stat``: documents, bytes, words and characters per source, and each attribute's score
distribution (count, mean, min, max, quantiles), over document shards and their attribute shards."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Annotated

from msgspec import Meta

from dolma import io, layout
from dolma.errors import ConfigError
from dolma.execution import RunConfig
from dolma.executors import Report, TaskResult, make_executor
from dolma.stats import ShardStats, shard_stats


class Config(RunConfig):
    documents: Annotated[list[str], Meta(description="document shard paths or globs, local or s3://")] = []
    attributes: Annotated[
        list[str], Meta(description="attribute experiments to summarise (read from <prefix>/attributes/<name>/)")
    ] = []
    sample_size: Annotated[int, Meta(description="scores kept per attribute for quantiles (bottom-k by hash)")] = (
        100_000
    )
    report: Annotated[str | None, Meta(description="also write the statistics as JSON to this path")] = None


@dataclass(frozen=True)
class StatTask:
    document_path: str
    attribute_paths: tuple[str, ...]
    sample_size: int

    @property
    def label(self) -> str:
        return self.document_path

    def outputs(self) -> list[str]:
        return []

    def run(self, report: Report) -> TaskResult:
        stats = shard_stats(self.document_path, list(self.attribute_paths), self.sample_size)
        docs = sum(s.documents for s in stats.sources.values())
        nbytes = sum(s.bytes for s in stats.sources.values())
        report(docs, nbytes)
        result = TaskResult.shard(docs, nbytes)
        result.payload = stats
        return result


def plan(config: Config) -> list[StatTask]:
    if not config.documents:
        raise ConfigError("documents: give at least one path or glob")
    if config.sample_size <= 0:
        raise ConfigError("sample_size: must be positive")
    tasks = []
    for path in io.expand_globs(config.documents, "documents"):
        attribute_paths = tuple(layout.attribute_path(path, name) for name in config.attributes)
        for attribute_path in attribute_paths:
            if not io.exists(attribute_path):
                raise ConfigError(f"attributes: {attribute_path} (for {path}) does not exist")
        tasks.append(StatTask(path, attribute_paths, config.sample_size))
    return tasks


def render(stats: ShardStats) -> list[str]:
    lines = [f"{'source':<24} {'documents':>12} {'MB':>10} {'words':>14} {'characters':>15}"]
    for name, source in sorted(stats.sources.items()):
        lines.append(
            f"{name or '(none)':<24} {source.documents:>12,} {source.bytes / 1e6:>10,.1f} "
            f"{source.words:>14,} {source.characters:>15,}"
        )
    if stats.attributes:
        lines.append("")
        lines.append(f"{'attribute':<56} {'docs':>9} {'spans':>10} {'mean':>10} {'p5':>10} {'p50':>10} {'p95':>10}")
        for name, attr in sorted(stats.attributes.items()):
            s = attr.summary()
            cells = "".join(f" {s.get(k, 0):>10.4g}" for k in ("mean", "p5", "p50", "p95"))
            lines.append(f"{name:<56} {attr.documents:>9,} {attr.spans:>10,}{cells}")
    return lines


def main(config: Config) -> int:
    tasks = plan(config)
    summary = make_executor(config.execution()).run(tasks, desc="stat")
    total = ShardStats()
    for result in summary.results:  # input order, so the merged sample does not depend on timing
        if result is not None:
            total.merge(result.payload, config.sample_size)
    print("\n".join(render(total)))
    if config.report:
        report = {
            "sources": {name: vars(source) for name, source in sorted(total.sources.items())},
            "attributes": {name: attr.summary() for name, attr in sorted(total.attributes.items())},
        }
        io.write_bytes(config.report, json.dumps(report, indent=2).encode() + b"\n")
        print(f"report written to {config.report}", file=sys.stderr)
    return 0
