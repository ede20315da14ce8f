"""``dolma stat``: documents, bytes and tokens per source, and each attribute's score distribution (count,
mean, min, max, quantiles, histogram), over document shards and their attribute shards; as a table, JSON and
a self-contained HTML report with a plot per distribution.

Without ``documents``, it is allenai/dolma 1.x's analyzer, with dolma's keys and meaning: ``attributes`` are
attribute files (paths, globs, directories), each attribute name's score and span-length distributions are
summarised in ``bins`` bins (names filtered by ``regex``), and ``report`` is a directory that receives dolma's
``summaries.jsonl.gz``."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from dolma import io, layout, report
from dolma.documents import BadLines
from dolma.errors import ConfigError
from dolma.execution import RunConfig
from dolma.executors import Executor, Report, TaskResult, make_executor
from dolma.stats import (
    DolmaSummary,
    Sample,
    ShardStats,
    attribute_file_summaries,
    merge_summaries,
    shard_stats,
)


class Config(RunConfig):
    documents: Annotated[
        list[str], Meta(description="document shard paths, globs or directories (e.g. a mix output), local or s3://")
    ] = []
    attributes: Annotated[
        list[str],
        Meta(
            description="attribute experiments to summarise (read from <prefix>/attributes/<name>/); without "
            "documents, attribute files (paths, globs or directories) as in allenai/dolma's stat"
        ),
    ] = []
    sample_rate: Annotated[
        float,
        Meta(description="fraction of documents (by seeded hash of the id) whose tokens and attributes are read"),
    ] = 1.0
    seed: Annotated[int, Meta(description="seed of the sample's hash")] = 0
    tokenizer: Annotated[
        str | None, Meta(description="a tokenizer.json (local or s3://) to count tokens; default: whitespace words")
    ] = None
    report: Annotated[
        str | None,
        Meta(
            description="also write the statistics as JSON to this path; without documents, a directory that "
            "receives dolma's summaries.jsonl.gz"
        ),
    ] = None
    bins: Annotated[int, Meta(description="without documents: bins per distribution in dolma's summaries")] = 1000
    total: Annotated[bool, Meta(description="without documents: also print each distribution's sum")] = False
    regex: Annotated[str | None, Meta(description="only attribute names in which this regular expression is found")] = (
        None
    )
    html: Annotated[str | None, Meta(description="also write a self-contained HTML report with plots here")] = None
    mix: Annotated[
        str | None,
        Meta(description="a mix config: also preview, on the same sample, what each of its rules drops or edits"),
    ] = None


@dataclass(frozen=True)
class StatTask:
    document_path: str
    attribute_paths: tuple[str, ...]
    sample: Sample
    skip_bad_lines: bool = False
    tokenizer: str | None = None
    regex: str | None = None

    @property
    def label(self) -> str:
        return self.document_path

    def outputs(self) -> list[str]:
        return []

    def run(self, report: Report) -> TaskResult:
        bad = BadLines() if self.skip_bad_lines else None
        stats = shard_stats(
            self.document_path, list(self.attribute_paths), self.sample, self.tokenizer, bad, self.regex
        )
        docs = sum(s.documents for s in stats.sources.values())
        nbytes = sum(s.bytes for s in stats.sources.values())
        report(docs, nbytes)
        result = TaskResult.shard(docs, nbytes, bad)
        result.payload = stats
        return result


def is_data_file(path: str) -> bool:
    """Data loaders' convention (pyarrow, Hugging Face datasets, Spark): names starting with ``_`` or ``.``
    are not data (``_SUCCESS`` markers, temporary files), so a directory of shards can be read as is."""
    return not os.path.basename(path).startswith(("_", "."))


def document_files(patterns: list[str]) -> list[str]:
    files = [path for path in io.expand_globs(patterns, "documents") if is_data_file(path)]
    if not files:
        raise ConfigError(f"documents: {patterns} hold no data files (names starting with _ or . are skipped)")
    return files


def check(config: Config) -> None:
    """Everything that needs only the config (a pipeline checks every step so before running the first)."""
    if not config.documents:
        raise ConfigError("documents: give at least one path, glob or directory (or attribute files alone)")
    if config.total or config.bins != 1000:
        raise ConfigError("bins, total: only without documents (dolma's summaries of attribute files)")
    if not 0 < config.sample_rate <= 1:
        raise ConfigError(f"sample_rate: must be in (0, 1], got {config.sample_rate}")
    config.execution()


def plan(config: Config) -> list[StatTask]:
    check(config)
    sample = Sample(config.sample_rate, config.seed)
    tasks = []
    for path in document_files(config.documents):
        attribute_paths = tuple(layout.attribute_path(path, name) for name in config.attributes)
        for attribute_path in attribute_paths:
            if not io.exists(attribute_path):
                raise ConfigError(f"attributes: {attribute_path} (for {path}) does not exist")
        tasks.append(StatTask(path, attribute_paths, sample, config.skip_bad_lines, config.tokenizer, config.regex))
    return tasks


@dataclass(frozen=True)
class SummaryTask:
    """dolma 1.x's analyzer over one attribute file: its per-file summaries, merged by the driver."""

    attribute_path: str
    bins: int
    regex: str | None

    @property
    def label(self) -> str:
        return self.attribute_path

    def outputs(self) -> list[str]:
        return []

    def run(self, report: Report) -> TaskResult:
        summaries = attribute_file_summaries(self.attribute_path, self.bins, self.regex)
        result = TaskResult(counters={"files": 1})
        result.payload = summaries
        return result


def plan_summaries(config: Config) -> list[SummaryTask]:
    """dolma's stat: the attribute files alone; the keys that need documents are refused, not ignored."""
    for key in ("html", "mix", "tokenizer"):
        if getattr(config, key) is not None:
            raise ConfigError(f"{key}: needs documents (without documents, stat summarises attribute files)")
    if config.sample_rate != 1.0:
        raise ConfigError("sample_rate: needs documents (without documents, stat reads every attribute row)")
    if config.bins < 1:
        raise ConfigError(f"bins: must be at least 1, got {config.bins}")
    paths = [path for path in io.expand_globs(config.attributes, "attributes") if is_data_file(path)]
    return [SummaryTask(path, config.bins, config.regex) for path in paths]


def render_summaries(summaries: list[DolmaSummary], total: bool) -> list[str]:
    header = f"{'attribute':<64} {'values':>10} {'mean':>12} {'min':>12} {'max':>12}"
    lines = [header + (f" {'sum':>14}" if total else "")]
    for summary in summaries:
        mean = summary.sum / summary.total if summary.total else 0.0
        line = (
            f"{summary.name:<64} {summary.total:>10,} {mean:>12.5g} {summary.bins[0]:>12.5g} {summary.bins[-1]:>12.5g}"
        )
        lines.append(line + (f" {summary.sum:>14.6g}" if total else ""))
    return lines


def main_summaries(config: Config) -> int:
    """dolma 1.x's ``stat``: print each distribution; with ``report``, write dolma's ``summaries.jsonl.gz``."""
    tasks = plan_summaries(config)
    with make_executor(config.execution()) as executor:
        summary = executor.run(tasks, desc="stat")
    summaries = merge_summaries([result.payload for result in summary.results if result is not None], config.bins)
    print("\n".join(render_summaries(summaries, config.total)))
    if config.report:
        path = f"{config.report.rstrip('/')}/summaries.jsonl.gz"
        io.write_bytes(path, b"".join(msgspec.json.encode(s) + b"\n" for s in summaries))
        print(f"summaries written to {path}", file=sys.stderr)
    return 0


def to_report(stats: ShardStats, sample: Sample) -> dict[str, Any]:
    """The JSON report: what ``--report`` writes and what the HTML report draws."""
    sampled = sum(s.sampled for s in stats.sources.values())
    return {
        "sample": {"rate": sample.rate, "seed": sample.seed, "documents": sampled, "description": sample.describe()},
        "sources": {name: source.summary() for name, source in sorted(stats.sources.items())},
        "attributes": {name: attr.summary() for name, attr in sorted(stats.attributes.items())},
        "bad_lines": stats.bad_lines,
    }


def render(data: dict[str, Any]) -> list[str]:
    estimated = " (estimated from the sample)" if data["sample"]["rate"] < 1 else ""
    lines = [f"{'source':<24} {'documents':>12} {'MB':>10} {'tokens':>14} {'tokens/doc p50':>15}{estimated}"]
    for name, source in data["sources"].items():
        p50 = source["tokens_per_document"].get("p50", 0)
        lines.append(
            f"{name or '(none)':<24} {source['documents']:>12,} {source['bytes'] / 1e6:>10,.1f} "
            f"{source['tokens']:>14,} {p50:>15,.0f}"
        )
    if data["attributes"]:
        lines.append("")
        lines.append(f"{'attribute':<56} {'docs':>9} {'spans':>10} {'mean':>10} {'p5':>10} {'p50':>10} {'p95':>10}")
        for name, attr in data["attributes"].items():
            cells = "".join(f" {attr.get(k, 0):>10.4g}" for k in ("mean", "p5", "p50", "p95"))
            lines.append(f"{name:<56} {attr['documents']:>9,} {attr['spans']:>10,}{cells}")
    return lines


def merge_results(results: list[TaskResult | None]) -> ShardStats:
    """Add the tasks' statistics in input order (sums, so the order only fixes float rounding)."""
    total = ShardStats()
    for result in results:
        if result is not None:
            total.merge(result.payload)
    return total


def _preview(config: Config, executor: Executor) -> dict[str, Any] | None:
    """The preview of ``config.mix`` (validated before any statistics are computed)."""
    if config.mix is None:
        return None
    from dolma import config as config_module
    from dolma.mixers.config import MixConfig
    from dolma.mixers.plan import build
    from dolma.mixers.preview import run_preview

    plans = build(config_module.load(MixConfig, config.mix))
    return run_preview(plans, config.sample_rate, config.seed, executor)


def main(config: Config) -> int:
    if not config.documents and config.attributes:
        return main_summaries(config)
    tasks = plan(config)
    executor = make_executor(config.execution())
    preview = _preview(config, executor)
    summary = executor.run(tasks, desc="stat")
    data = to_report(merge_results(summary.results), Sample(config.sample_rate, config.seed))
    print("\n".join(render(data)))
    if preview is not None:
        from dolma.mixers.preview import render as render_preview

        print("\n".join(render_preview(preview)))
        data["preview"] = preview
    if config.report:
        io.write_bytes(config.report, json.dumps(data, indent=2).encode() + b"\n")
        print(f"report written to {config.report}", file=sys.stderr)
    if config.html:
        sections = report.stats_sections(data) + (report.preview_sections(preview) if preview else [])
        report.write(config.html, "dolma stat", sections)
    return 0
