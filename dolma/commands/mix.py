"""``dolma mix``: filter, rewrite, sample and shard document streams into a training mix.

Accepts allenai/dolma's mixer configs unchanged (see :mod:`mixers.config`). The run: validate everything,
optionally scan the inputs once (targets and top fractions need counts and percentiles from the data),
run one task per input file (local pool or Ray), pack the tasks' parts into numbered shards in input
order, and write ``manifest.json`` beside them.
"""

from __future__ import annotations

import io as pyio
import json
import shutil
import sys
from typing import Any

import numpy as np

from dolma import io
from dolma.executors import run_tasks
from mixers import manifest, writer
from mixers.config import MixConfig
from mixers.mixing import FileTask
from mixers.plan import StreamPlan, build, config_hash, mix_identity
from mixers.sampling import HASH_BINS, Sampler, sampler_for_target, top_threshold

Config = MixConfig


def _tasks(
    config: MixConfig,
    plans: list[StreamPlan],
    mode: str,
    samplers: dict[int, Sampler | None],
    thresholds: dict[int, float | None],
) -> list[FileTask]:
    tasks = []
    for plan in plans:
        for i, (doc_path, attr_paths) in enumerate(zip(plan.inputs, plan.attribute_paths, strict=True)):
            tasks.append(
                FileTask(
                    stream=plan.spec,
                    input_index=i,
                    document_path=doc_path,
                    attribute_paths=attr_paths,
                    work_prefix=io.join(plan.work_dir, f"{i:06d}"),
                    mode=mode,
                    seed=config.seed,
                    sampler=samplers.get(plan.index),
                    top_threshold=thresholds.get(plan.index),
                    shuffle=config.shuffle,
                    skip_bad_lines=config.skip_bad_lines,
                )
            )
    return tasks


def _scan(
    config: MixConfig, plans: list[StreamPlan], samplers: dict[int, Sampler | None], thresholds: dict[int, float | None]
) -> None:
    """First pass for streams with a target or a top fraction: compute their sampler and threshold."""
    scanned = [plan for plan in plans if plan.needs_scan]
    if not scanned:
        return
    tasks = _tasks(config, scanned, "scan", {}, {})
    run_tasks(tasks, desc="mix: scan", **config.execute_kwargs())  # type: ignore[arg-type]
    by_stream: dict[int, list[dict[str, np.ndarray]]] = {}
    for task, plan in zip(tasks, [p for p in scanned for _ in p.inputs], strict=True):
        with np.load(pyio.BytesIO(io.read_bytes(task.record_path))) as data:
            by_stream.setdefault(plan.index, []).append({name: data[name] for name in data.files})
    for plan in scanned:
        arrays = by_stream.get(plan.index, [])
        cfg = plan.config
        hist_docs = sum((a["hist_docs"] for a in arrays), np.zeros(HASH_BINS, dtype=np.int64))
        hist_tokens = sum((a["hist_tokens"] for a in arrays), np.zeros(HASH_BINS, dtype=np.int64))
        if cfg.top_fraction is not None:
            scores = np.concatenate([a["scores"] for a in arrays]) if arrays else np.zeros(0)
            bins = np.concatenate([a["score_bins"] for a in arrays]) if arrays else np.zeros(0, dtype=np.int32)
            tokens = np.concatenate([a["score_tokens"] for a in arrays]) if arrays else np.zeros(0, dtype=np.int64)
            threshold = top_threshold(scores, cfg.top_fraction.fraction)
            thresholds[plan.index] = threshold
            keep = scores >= threshold
            hist_docs = np.bincount(bins[keep], minlength=HASH_BINS)
            hist_tokens = np.bincount(bins[keep], weights=tokens[keep], minlength=HASH_BINS)
        if cfg.target_documents is not None:
            samplers[plan.index] = sampler_for_target(hist_docs, cfg.target_documents, config.seed)
        elif cfg.target_tokens is not None:
            samplers[plan.index] = sampler_for_target(hist_tokens, cfg.target_tokens, config.seed)


def _up_to_date(plans: list[StreamPlan], digest: str) -> bool:
    directories = {plan.config.output.path for plan in plans}
    return all(manifest.read_hash(directory) == digest for directory in directories)


def _cleanup(plans: list[StreamPlan], tasks: list[FileTask], records: list[dict[str, Any]]) -> None:
    """Remove the parts and task records once the shards and the manifest are written."""
    for record in records:
        for part in record["parts"]:
            io.remove(part["path"])
    for task in tasks:
        for path in (task.record_path, f"{task.work_prefix}.scan.npz"):
            if io.exists(path):
                io.remove(path)
    for plan in plans:
        if not io.is_s3(plan.work_dir):
            shutil.rmtree(plan.work_dir.rsplit("/_mix_work/", 1)[0] + "/_mix_work", ignore_errors=True)


def _print_report(entries: list[dict[str, Any]], seconds: float, written: list[str]) -> None:
    lines = [f"dolma mix: {len(entries)} stream(s) in {seconds:,.1f} s"]
    for entry in entries:
        counts = entry["counts"]
        mb = counts["in"]["bytes"] / 1e6
        lines.append(
            f"  {entry['name']}: {counts['in']['documents']:,} documents in ({mb:,.1f} MB), "
            f"{counts['kept']['documents']:,} kept, {counts['written']['documents']:,} written "
            f"in {len(entry['outputs'])} shard(s)"
        )
        for rule, row in counts["dropped"].items():
            lines.append(f"    dropped by {rule}: {row['documents']:,} documents, {row['tokens']:,} tokens")
        if entry["bad_lines"]:
            lines.append(f"    bad lines skipped: {entry['bad_lines']:,}")
    lines.extend(f"  manifest: {path}" for path in written)
    print("\n".join(lines), file=sys.stderr)


def main(config: MixConfig) -> int:
    plans = build(config)
    digest = config_hash(config)
    if config.dryrun:
        for plan in plans:
            for doc_path, attrs in zip(plan.inputs, plan.attribute_paths, strict=True):
                print(f"{plan.config.name}: {doc_path}" + "".join(f" + {a}" for a in attrs))
        return 0
    if not config.redo() and _up_to_date(plans, digest):
        print("dolma mix: outputs are up to date (manifest.json has this config's hash)", file=sys.stderr)
        return 0
    samplers: dict[int, Sampler | None] = {}
    thresholds: dict[int, float | None] = {}
    for plan in plans:
        if plan.config.sample_rate is not None:
            samplers[plan.index] = Sampler.from_rate(plan.config.sample_rate, config.seed)
    _scan(config, plans, samplers, thresholds)
    tasks = _tasks(config, plans, "mix", samplers, thresholds)
    summary = run_tasks(tasks, desc="mix", **config.execute_kwargs())  # type: ignore[arg-type]
    entries = []
    all_records: list[dict[str, Any]] = []
    offset = 0
    for plan in plans:
        stream_tasks = tasks[offset : offset + len(plan.inputs)]
        offset += len(plan.inputs)
        records = [json.loads(io.read_bytes(task.record_path)) for task in stream_tasks]
        all_records.extend(records)
        parts = [writer.Part(**part) for record in records for part in record["parts"]]
        order_seed = f"{config.seed}/{plan.config.name}" if config.shuffle else None
        shards = writer.pack(
            parts, plan.config.output.path, plan.config.name, plan.spec.ext, plan.spec.max_bytes, order_seed
        )
        entries.append(
            manifest.stream_entry(plan, records, shards, samplers.get(plan.index), thresholds.get(plan.index))
        )
    document = manifest.build(mix_identity(config), digest, config.seed, entries)
    written = [manifest.write(directory, document) for directory in dict.fromkeys(p.config.output.path for p in plans)]
    _cleanup(plans, tasks, all_records)
    _print_report(entries, summary.seconds, written)
    return 0
