"""The mix pipeline: ``plan_mix(config) -> MixRun``, ``run_mix(run, executor) -> Outcome``.

1. *scan* (only streams with a target or a top fraction): one task per input file computes hash-bin
   histograms (and scores) so the driver can pick a sampling rate or score threshold;
2. *mix*: one task per input file filters, rewrites spans, samples and writes size-capped parts;
3. *pack*: the driver groups the parts (in input order, or a seeded permutation) into numbered shards from
   their recorded sizes, and one task per shard concatenates its parts into a staging name beside the work
   files: no output byte passes through the driver;
4. *publish*: the old manifest (``<output>.manifest.json``) is removed first, staged shards move to their
   final names (a rename on disk, a server-side copy on S3, both as tasks), shards of an earlier, longer mix
   are removed, and the manifest is written last. So a directory with a manifest always holds exactly the
   shards it lists.

Every stage resumes: tasks whose outputs exist are skipped, and the work directory is keyed by the config's
hash, so two configs never share (or delete) each other's work.
"""

from __future__ import annotations

import io as pyio
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from dolma.mixers import checks, manifest, presence, writer
from dolma.mixers.config import MixConfig
from dolma.mixers.filters import DOLMA_1_2
from dolma.mixers.mixing import FileTask
from dolma.mixers.plan import StreamPlan, build, config_hash, mix_identity
from dolma.mixers.sampling import (
    HASH_BINS,
    RADIX_BITS,
    Sampler,
    digit_histogram,
    order_keys,
    sampler_for_target,
    top_threshold,
)

from dolma import io
from dolma.errors import ConfigError
from dolma.executors import Executor, Report, RunSummary, TaskResult
from dolma.outcome import Outcome


@dataclass
class MixRun:
    config: MixConfig
    plans: list[StreamPlan]
    digest: str
    samplers: dict[int, Sampler | None] = field(default_factory=dict)
    thresholds: dict[int, float | None] = field(default_factory=dict)

    @property
    def directories(self) -> list[str]:
        return list(dict.fromkeys(plan.config.output.path for plan in self.plans))


def plan_mix(config: MixConfig) -> MixRun:
    """Validate everything (see :mod:`mixers.plan`) and fix the rates known without reading data."""
    plans = build(config)
    run = MixRun(config, plans, config_hash(config))
    for plan in plans:
        if plan.config.sample_rate is not None:
            run.samplers[plan.index] = Sampler.from_rate(plan.config.sample_rate, config.seed)
    return run


def up_to_date(run: MixRun) -> bool:
    """Every output directory has this config's manifest and every shard it lists, at its recorded size."""
    for directory in run.directories:
        document = manifest.read(directory)
        if document is None or document.get("config_hash") != run.digest:
            return False
        for stream in document.get("streams", []):
            for shard in stream.get("outputs", []):
                if not io.exists(shard["path"]) or io.size(shard["path"]) != shard["bytes"]:
                    return False
    return True


def check_replacing(run: MixRun, overwrite: bool) -> None:
    """Refuse to replace the finished mix of another config without ``--overwrite``."""
    if overwrite:
        return
    for directory in run.directories:
        document = manifest.read(directory)
        if document is not None and document.get("config_hash") != run.digest:
            raise ConfigError(
                f"{directory} holds a mix made by another config (hash {str(document.get('config_hash'))[:12]}, "
                f"this one {run.digest[:12]}); rerun with --overwrite to replace it, or choose another output.path"
            )


def run_mix(run: MixRun, executor: Executor) -> Outcome:
    config = run.config
    summary = RunSummary()
    _scan(run, executor, summary)
    tasks = _file_tasks(run, run.plans, "mix")
    mixed = executor.run(tasks, desc="mix")
    summary.add(mixed)
    records_of: dict[int, list[dict[str, Any]]] = {}
    found: dict[int, presence.Presence] = {}
    offset = 0
    for plan in run.plans:
        stream_tasks = tasks[offset : offset + len(plan.inputs)]
        offset += len(plan.inputs)
        records_of[plan.index] = [json.loads(io.read_bytes(task.record_path)) for task in stream_tasks]
        found[plan.index] = _judge_presence(config, plan, stream_tasks, records_of[plan.index])
    layouts = {plan.index: _layout(run, plan, records_of[plan.index]) for plan in run.plans}
    pack_tasks = [task for plan in run.plans for task in layouts[plan.index]]
    summary.add(executor.run(pack_tasks, desc="mix: pack", overwrite=False))
    for directory in run.directories:
        manifest.remove(directory)
    summary.add(executor.run([t.publish() for t in pack_tasks], desc="mix: publish", overwrite=False))
    entries = []
    for plan in run.plans:
        shards = [task.shard() for task in layouts[plan.index]]
        writer.remove_stale(plan.config.output.path, plan.config.name, plan.spec.ext, [s.path for s in shards])
        entry = manifest.stream_entry(
            plan, records_of[plan.index], shards, run.samplers.get(plan.index), run.thresholds.get(plan.index)
        )
        entry["unseen_attributes"] = found[plan.index].unseen
        entries.append(entry)
    document = manifest.build(mix_identity(config), run.digest, config.seed, entries)
    written = [manifest.write(directory, document) for directory in run.directories]
    remove_work(run)
    return Outcome(
        title="dolma mix",
        headline=f"{len(entries)} stream(s), {sum(len(e['outputs']) for e in entries)} shard(s) written",
        counters={key: value for key, value in mixed.counters.items()},
        lines=_stream_lines(entries) + [f"manifest: {path}" for path in written] + checks.mix_warnings(entries),
        notes=list(mixed.notes),
        seconds=summary.seconds,
        nodes=dict(summary.nodes),
    )


def _judge_presence(
    config: MixConfig, plan: StreamPlan, tasks: list[FileTask], records: list[dict[str, Any]]
) -> presence.Presence:
    """Judge the attribute names the tasks saw, before any shard is packed; a stale file's task records go,
    so a rerun after re-tagging reads it again."""
    found = presence.judge(plan.spec.key, plan.config.attributes, set(plan.read_names), records)
    if found.stale:
        for task in tasks:
            io.remove(task.record_path)
    presence.check(found, config.strict, plan.spec.key)
    return found


def _file_tasks(run: MixRun, plans: list[StreamPlan], mode: str) -> list[FileTask]:
    config = run.config
    return [
        FileTask(
            stream=plan.spec,
            input_index=i,
            document_path=doc_path,
            attribute_paths=attr_paths,
            work_prefix=io.join(plan.work_dir, f"{i:06d}"),
            mode=mode,
            seed=config.seed,
            sampler=run.samplers.get(plan.index) if mode == "mix" else None,
            top_threshold=run.thresholds.get(plan.index) if mode == "mix" else None,
            shuffle=config.shuffle,
            skip_bad_lines=config.skip_bad_lines,
        )
        for plan in plans
        for i, (doc_path, attr_paths) in enumerate(zip(plan.inputs, plan.attribute_paths, strict=True))
    ]


def _scan(run: MixRun, executor: Executor, summary: RunSummary) -> None:
    """First pass for streams with a target or a top fraction: compute their sampler and threshold. The scan
    records stay in the work directory; the driver only adds up histograms that tasks make from them."""
    scanned = [plan for plan in run.plans if plan.needs_scan]
    if not scanned:
        return
    tasks = _file_tasks(run, scanned, "scan")
    summary.add(executor.run(tasks, desc="mix: scan"))
    for plan in scanned:
        records = [task.record_path for task in tasks if task.stream is plan.spec]
        cfg = plan.config
        threshold = None
        if cfg.top_fraction is not None:
            threshold = _top_threshold(executor, records, cfg.top_fraction.fraction)
            run.thresholds[plan.index] = threshold
        totals = [np.zeros(HASH_BINS, dtype=np.int64), np.zeros(HASH_BINS, dtype=np.float64)]

        def add(result: TaskResult, totals: list[np.ndarray] = totals) -> None:
            totals[0] += result.payload[0]
            totals[1] += result.payload[1]

        hist_tasks = [ScanTask(path, threshold=threshold) for path in records]
        executor.run(hist_tasks, desc="mix: scan histograms", combine=add)
        if cfg.target_documents is not None:
            run.samplers[plan.index] = sampler_for_target(totals[0], cfg.target_documents, run.config.seed)
        elif cfg.target_tokens is not None:
            run.samplers[plan.index] = sampler_for_target(totals[1], cfg.target_tokens, run.config.seed)


def _top_threshold(executor: Executor, records: list[str], fraction: float) -> float:
    """The stream's ``top_fraction`` score, found exactly without gathering the scores in the driver: each
    round of the radix select is one task per scan record (see :func:`mixers.sampling.top_threshold`)."""

    def histogram_of(prefix: int, known_bits: int) -> np.ndarray:
        total = np.zeros(1 << RADIX_BITS, dtype=np.int64)

        def add(result: TaskResult) -> None:
            total.__iadd__(result.payload)

        tasks = [ScanTask(path, prefix=prefix, known_bits=known_bits) for path in records]
        executor.run(tasks, desc="mix: top fraction", combine=add)
        return total

    return top_threshold(histogram_of, fraction)


@dataclass(frozen=True)
class ScanTask:
    """Reads one scan record: the histogram of the next radix digit of its scores (``threshold`` None and
    scores wanted), or the hash-bin histograms of documents and tokens kept at ``threshold``."""

    record_path: str
    prefix: int = 0
    known_bits: int = -1
    threshold: float | None = None

    @property
    def label(self) -> str:
        return self.record_path

    def outputs(self) -> list[str]:
        return []

    def run(self, report: Report) -> TaskResult:
        with np.load(pyio.BytesIO(io.read_bytes(self.record_path))) as data:
            if self.known_bits >= 0:
                return TaskResult(payload=digit_histogram(order_keys(data["scores"]), self.prefix, self.known_bits))
            if self.threshold is None:
                return TaskResult(payload=(data["hist_docs"], data["hist_tokens"]))
            keep = data["scores"] >= self.threshold
            bins, tokens = data["score_bins"][keep], data["score_tokens"][keep]
            docs = np.bincount(bins, minlength=HASH_BINS)
            return TaskResult(payload=(docs, np.bincount(bins, weights=tokens, minlength=HASH_BINS)))


def _layout(run: MixRun, plan: StreamPlan, records: list[dict[str, Any]]) -> list[PackTask]:
    """Shard names and contents from the parts' recorded sizes (in input order, or a seeded permutation)."""
    if run.config.compat == DOLMA_1_2:
        return _dolma_layout(plan, records)
    parts = [writer.Part(**part) for record in records for part in record["parts"]]
    order_seed = f"{run.config.seed}/{plan.config.name}" if run.config.shuffle else None
    groups = writer.plan_shards(writer.order_parts(parts, order_seed), plan.spec.max_bytes, plan.spec.ext)
    staging = io.join(plan.work_dir, "_shards")
    return [
        PackTask(
            parts=tuple(group),
            staged=writer.shard_path(staging, plan.config.name, index, plan.spec.ext),
            target=writer.shard_path(plan.config.output.path, plan.config.name, index, plan.spec.ext),
        )
        for index, group in enumerate(groups)
    ]


def _dolma_layout(plan: StreamPlan, records: list[dict[str, Any]]) -> list[PackTask]:
    """``compat: dolma-1.2``: shards of whole input files named as dolma 1.2.1 names them."""
    parts = [[writer.Part(**part) for part in record["parts"]] for record in records]
    sizes = [io.size(path) for path in plan.inputs]
    groups = writer.dolma_groups(parts, sizes, plan.spec.max_bytes)
    staging = io.join(plan.work_dir, "_shards")
    name, ext = plan.config.name, plan.spec.ext
    return [
        PackTask(
            parts=tuple(group),
            staged=writer.shard_path(staging, name, index, ext),
            target=writer.dolma_shard_path(plan.config.output.path, name, index, index == len(groups) - 1, ext),
        )
        for index, group in enumerate(groups)
    ]


@dataclass(frozen=True)
class PackTask:
    """Concatenate one shard's parts (gzip members and zstd frames concatenate into valid files) into its
    staging name."""

    parts: tuple[writer.Part, ...]
    staged: str
    target: str

    @property
    def label(self) -> str:
        return self.target

    def outputs(self) -> list[str]:
        return [self.staged]

    def run(self, report: Report) -> TaskResult:
        writer.concatenate([part.path for part in self.parts], self.staged)
        report(0, 0)
        return TaskResult(counters={})

    def publish(self) -> PublishTask:
        return PublishTask(self.staged, self.target, sum(p.bytes for p in self.parts))

    def shard(self) -> writer.Shard:
        return writer.Shard(
            self.target, sum(p.bytes for p in self.parts), sum(p.documents for p in self.parts), self.parts
        )


@dataclass(frozen=True)
class PublishTask:
    """Move a staged shard to its final name: a rename on disk, a server-side copy on S3. Done when the final
    name holds the staged size and the staged file is gone (so a rerun after a kill finishes the move)."""

    staged: str
    target: str
    nbytes: int

    @property
    def label(self) -> str:
        return self.target

    def outputs(self) -> list[str]:
        return []

    def run(self, report: Report) -> TaskResult:
        if io.exists(self.staged):
            io.move(self.staged, self.target)
        elif not io.exists(self.target) or io.size(self.target) != self.nbytes:
            raise ConfigError(f"{self.target}: its staged shard {self.staged} is gone; rerun with --overwrite")
        return TaskResult(counters={})


def remove_work(run: MixRun) -> None:
    """Remove this config's work files (parts, records, staging), never another config's: at the end of a
    run, and on a rerun that finds the mix done (a run killed between its manifest and this left them)."""
    for plan in run.plans:
        io.remove_tree(plan.work_dir, up_to=plan.work_dir.split("/_mix_work/", 1)[0])


def _stream_lines(entries: list[dict[str, Any]]) -> list[str]:
    lines = []
    for entry in entries:
        counts = entry["counts"]
        mb = counts["in"]["bytes"] / 1e6
        lines.append(
            f"{entry['name']}: {counts['in']['documents']:,} documents in ({mb:,.1f} MB), "
            f"{counts['kept']['documents']:,} kept, {counts['written']['documents']:,} written "
            f"in {len(entry['outputs'])} shard(s)"
        )
        for rule, row in counts["dropped"].items():
            lines.append(f"  dropped by {rule}: {row['documents']:,} documents, {row['tokens']:,} tokens")
        if entry["bad_lines"]:
            lines.append(f"  bad lines skipped: {entry['bad_lines']:,}")
        if entry["unseen_attributes"]:
            lines.append(f"  note: {presence.unseen_note(entry['unseen_attributes'])}")
    return lines


def describe(run: MixRun) -> list[str]:
    """The work a dry run lists: each stream's inputs and the attribute files merged into them."""
    return [
        f"{plan.config.name}: {doc_path}" + "".join(f" + {a}" for a in attrs)
        for plan in run.plans
        for doc_path, attrs in zip(plan.inputs, plan.attribute_paths, strict=True)
    ]
