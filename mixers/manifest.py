"""``<output>.manifest.json``: what a mix was made of and what it kept, so it can be audited and reproduced.

It holds the resolved config and its hash, the seed, and per stream: documents, tokens and bytes in,
kept, written (with repeats) and dropped by rule, the same per ``source`` value and per input file, the
effective sampling rate and score threshold, and which input files fed which output shard. Nothing in it
depends on timing or worker count, so two runs of the same config write the same manifest.
"""

from __future__ import annotations

import json
import os
from typing import Any

from dolma import io
from dolma.errors import DolmaError

SUFFIX = ".manifest.json"
LEGACY_MANIFEST = "manifest.json"
"""Where it was before, inside the output directory: still read, and removed with the manifest."""


def path_of(directory: str) -> str:
    """``<directory>.manifest.json``, beside the output directory rather than in it: the directory then holds
    only data files, so pyarrow and Hugging Face ``datasets`` load it as it is (``datasets`` reads every file
    of a ``data_dir`` but hidden ones, a ``_manifest.json`` included, and fails on it)."""
    return directory.rstrip("/") + SUFFIX


FORMAT = "dolma-toolkit/mix-manifest/1"
_FIELDS = ("documents", "tokens", "bytes")


def _named(row: list[int]) -> dict[str, int]:
    return dict(zip(_FIELDS, row, strict=True))


def split_counts(counts: dict[str, list[int]]) -> dict[str, Any]:
    """``{"in", "kept", "written", "dropped": {rule: ...}}`` with named fields."""
    fixed = ("in", "kept", "written")
    out: dict[str, Any] = {name: _named(counts.get(name, [0, 0, 0])) for name in fixed}
    out["dropped"] = {rule: _named(row) for rule, row in sorted(counts.items()) if rule not in fixed}
    return out


def reconcile(counts: dict[str, list[int]], where: str) -> None:
    """in = kept + dropped (documents, tokens, bytes); anything else is a bug worth stopping for."""
    total = [0, 0, 0]
    for rule, row in counts.items():
        if rule not in ("in", "written"):
            total = [a + b for a, b in zip(total, row, strict=True)]
    if total != counts.get("in", [0, 0, 0]):
        raise DolmaError(f"{where}: counts do not reconcile: in={counts.get('in')} kept+dropped={total}")


def add_counts(into: dict[str, list[int]], counts: dict[str, list[int]]) -> None:
    for rule, row in counts.items():
        cell = into.setdefault(rule, [0, 0, 0])
        for i, value in enumerate(row):
            cell[i] += value


def stream_entry(
    plan: Any, records: list[dict[str, Any]], shards: list[Any], sampler: Any, threshold: float | None
) -> dict[str, Any]:
    """The manifest section of one stream, from its tasks' records (in input order) and its shards."""
    totals: dict[str, list[int]] = {}
    sources: dict[str, dict[str, list[int]]] = {}
    outputs_of: dict[str, list[str]] = {}
    shard_entries = []
    for shard in shards:
        feeders = []
        for part in shard.parts:
            source_input = _input_of(part.path, plan.work_dir, plan.inputs)
            outputs_of.setdefault(source_input, []).append(os.path.basename(shard.path))
            if source_input not in feeders:
                feeders.append(source_input)
        shard_entries.append(
            {"path": shard.path, "bytes": shard.bytes, "documents": shard.documents, "inputs": feeders}
        )
    inputs = []
    bad = 0
    for record in records:
        reconcile(record["counts"], record["input"])
        add_counts(totals, record["counts"])
        for source, counts in record["sources"].items():
            add_counts(sources.setdefault(source, {}), counts)
        bad += record["bad_lines"]
        inputs.append(
            {
                "path": record["input"],
                "attributes": record["attributes"],
                "counts": split_counts(record["counts"]),
                "bad_lines": record["bad_lines"],
                "outputs": sorted(set(outputs_of.get(record["input"], []))),
            }
        )
    reconcile(totals, f"stream {plan.config.name}")
    return {
        "name": plan.config.name,
        "output": plan.config.output.path,
        "sampling": None
        if sampler is None
        else {"rate": sampler.rate, "whole_copies": sampler.whole, "hash_threshold": sampler.threshold},
        "top_fraction_threshold": threshold,
        "counts": split_counts(totals),
        "bad_lines": bad,
        "sources": {name: split_counts(counts) for name, counts in sorted(sources.items())},
        "inputs": inputs,
        "outputs": shard_entries,
    }


def _input_of(part_path: str, work_dir: str, inputs: list[str]) -> str:
    """Parts are named ``<work_dir>/<input index>-<part index><ext>``."""
    name = part_path[len(work_dir) :].lstrip("/")
    return inputs[int(name.split("-", 1)[0])]


def build(config: dict[str, Any], digest: str, seed: int, streams: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": FORMAT, "config_hash": digest, "seed": seed, "config": config, "streams": streams}


def write(directory: str, manifest: dict[str, Any]) -> str:
    path = path_of(directory)
    io.write_bytes(path, json.dumps(manifest, indent=2).encode() + b"\n")
    return path


def remove(directory: str) -> None:
    """Remove the manifest of ``directory`` (and one an older version left inside it)."""
    for path in (path_of(directory), io.join(directory, LEGACY_MANIFEST)):
        io.remove(path)


def read(directory: str) -> dict[str, Any] | None:
    """The manifest of ``directory`` (or one an older version left inside it), or None when there is none (or
    it is not one of ours)."""
    path = next((p for p in (path_of(directory), io.join(directory, LEGACY_MANIFEST)) if io.exists(p)), None)
    if path is None:
        return None
    try:
        document = json.loads(io.read_bytes(path))
    except ValueError:
        return None
    return document if isinstance(document, dict) else None
