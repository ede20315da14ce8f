"""Exact dedup with a partitioned Bloom filter (``dolma dedupe`` with ``dedupe.documents`` or ``.paragraphs``).

Every key belongs to one of ``P`` partitions (:func:`~dolma.dedup.bloom.partition_of`, a mix of its hash
independent of the filter's bit positions), and each partition has its own part of the filter. A key can
only collide with keys of its own partition, so deciding partition by partition, each in input order, gives
the decisions of one sequential pass over one filter of the same total size (up to false positives, which
the configured rate bounds either way). Three stages of tasks, so nothing of the filter or the keys passes
through the driver:

1. *keys* (one task per shard): read documents, cut them into units and keys (:mod:`exact_keys`), and write
   a key file whose key hashes are stored grouped by partition (``pkeys``, with ``poffsets``), so a
   partition's slice of a shard is one contiguous byte range;
2. *decide* (one task per partition): load that part of the filter, read its slice of every new shard in
   input order (ranged reads), test-then-insert with exact in-order semantics
   (:meth:`BloomFilter.test_and_insert`; only test when ``read_only``), and write its flags for all shards
   in one file plus the updated part under a name of this run;
3. *attributes* (one task per shard): gather the shard's flags from the ``P`` flag files, keep them as the
   shard's decision record (so its attributes can be rewritten later without testing it against itself),
   and write the attribute file.

The driver then writes the filter's manifest (:class:`~dolma.dedup.bloom.Manifest`: partitions, sizes, the
key settings and the shards inserted) atomically, pointing at the new parts, and removes the parts it
replaced. Every stage's outputs live under a directory named by the run's fingerprint (the filter state it
started from, the new shards and the settings), and the executor skips outputs that exist, so a killed run
resumes where it stopped, and until the manifest is written the filter on disk is the one it started from.

``P`` comes from ``bloom_filter.partitions`` or the filter size (:func:`~dolma.dedup.bloom.default_partitions`),
never from the worker count, so the files are the same whatever runs them.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import xxhash

from dolma import io
from dolma.dedup.array_files import StageHeader, load_arrays, read_slice, save_arrays
from dolma.dedup.array_files import read_header as read_stage_header
from dolma.dedup.bloom import (
    BloomFilter,
    Manifest,
    default_partitions,
    false_positive_rate,
    part_path,
    partition_of,
    plan_size,
    read_header,
    read_manifest,
    write_manifest,
)
from dolma.dedup.exact_keys import KeySpec, dolma_absent, read_shard_keys, unit_spans
from dolma.documents import BadLines, encode_line
from dolma.errors import ConfigError, InputError
from dolma.executors import Executor, ProgressCounter, Report, RunSummary, TaskResult
from dolma.outcome import Outcome

DECIDE_BATCH = 1 << 20
"""Keys a decide task tests in one call: small shards' slices are grouped (numpy's per-call cost dominated
at a few hundred keys a slice), and a call's temporaries stay bounded (about 100 bytes a key)."""

# ----------------------------------------------------------------------------------------------- stage 1


@dataclass(frozen=True)
class KeyTask:
    """Stage 1: one documents shard in, one key file out (units, ids, and key hashes by partition)."""

    document_path: str
    key_path: str
    spec: KeySpec
    partitions: int
    skip_bad_lines: bool = False

    @property
    def label(self) -> str:
        return self.document_path

    def outputs(self) -> list[str]:
        return [self.key_path]

    def run(self, report: Report) -> TaskResult:
        bad = BadLines() if self.skip_bad_lines else None
        progress = ProgressCounter(report)
        shard = read_shard_keys(self.document_path, self.spec, bad, progress)
        arrays = shard.arrays
        hashes = arrays.pop("hashes")
        pids = partition_of(hashes, self.partitions).astype(np.uint16)
        arrays["pkeys"] = hashes[np.argsort(pids, kind="stable")]
        arrays["poffsets"] = np.concatenate([[0], np.cumsum(np.bincount(pids, minlength=self.partitions))])
        arrays["pids"] = pids
        save_arrays(self.key_path, arrays)
        progress.flush()
        extra = {"keys": len(hashes)}
        if self.spec.mode == "documents" and shard.without_key:
            extra["documents_without_key"] = shard.without_key
        return TaskResult.shard(shard.documents, shard.bytes, bad, **extra)


def original_order(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(order, hashes)``: ``pkeys`` came from ``hashes[order]``; ``hashes`` in the shard's key order."""
    order = np.argsort(arrays["pids"], kind="stable")
    hashes = np.empty_like(arrays["pkeys"])
    hashes[order] = arrays["pkeys"]
    return order, hashes


# ----------------------------------------------------------------------------------------------- stage 2


@dataclass(frozen=True)
class DecideTask:
    """Stage 2: one partition's part of the filter against its slice of every new shard, in input order."""

    partition: int
    partitions: int
    key_paths: tuple[str, ...]
    flags_path: str
    source_part: str | None
    """The part this run starts from (None: a new, empty filter)."""
    new_part: str | None
    """Where the updated part goes (None: read-only, nothing is inserted)."""
    bits: int
    num_hashes: int

    @property
    def label(self) -> str:
        return f"bloom partition {self.partition} of {self.partitions}"

    def outputs(self) -> list[str]:
        return [self.flags_path] + ([self.new_part] if self.new_part else [])

    def run(self, report: Report) -> TaskResult:
        bloom, held = self._load()
        p = self.partition
        keys = 0
        blocks: list[np.ndarray] = []
        batch: list[np.ndarray] = []
        duplicates = pending = 0
        for s, key_path in enumerate(self.key_paths):
            header = read_stage_header(key_path)
            lo, hi = read_slice(header, "poffsets", p, p + 2).tolist()
            batch.append(read_slice(header, "pkeys", lo, hi))
            keys += hi - lo
            pending += hi - lo
            if pending >= DECIDE_BATCH or s == len(self.key_paths) - 1:
                flags, found = self._decide(bloom, batch)
                blocks.extend(flags)
                duplicates += found
                batch, pending = [], 0
        offsets = np.concatenate([[0], np.cumsum([len(b) for b in blocks])]).astype(np.int64)
        save_arrays(self.flags_path, {"offsets": offsets, "flags": np.concatenate(blocks or [np.zeros(0, np.uint8)])})
        if self.new_part is not None:
            bloom.header = {"partition": p, "partitions": self.partitions, "keys_inserted": held + keys - duplicates}
            bloom.save(self.new_part)
        return TaskResult(counters={"keys_decided": keys, "duplicate_keys": duplicates})

    def _decide(self, bloom: BloomFilter, slices: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
        """Several shards' slices in one call (the same answers as one call per shard, in order: the
        semantics are one key at a time), cut back per shard as packed flags; and the duplicates found."""
        hashes = np.concatenate(slices)
        dup = bloom.contains(hashes) if self.new_part is None else bloom.test_and_insert(hashes)
        bounds = np.cumsum([0] + [len(x) for x in slices])
        return [np.packbits(dup[bounds[i] : bounds[i + 1]]) for i in range(len(slices))], int(dup.sum())

    def _load(self) -> tuple[BloomFilter, int]:
        """The part and the keys it holds."""
        if self.source_part is None:
            return BloomFilter.empty(self.bits, self.num_hashes), 0
        bloom = BloomFilter.load(self.source_part)
        if bloom.num_bits != self.bits or bloom.num_hashes != self.num_hashes:
            raise InputError(f"{self.source_part}: filter part does not match its manifest's sizes")
        return bloom, int(bloom.header.get("keys_inserted", 0))


# ----------------------------------------------------------------------------------------------- stage 3


@dataclass(frozen=True)
class AttributeTask:
    """Stage 3: one shard's flags (from the partitions' flag files, or from its decision record when it was
    decided by an earlier run) into its attribute file."""

    document_path: str
    key_path: str
    attribute_path: str
    decision_path: str
    spec: KeySpec
    flags_paths: tuple[str, ...] = ()
    """The partitions' flag files of this run (empty: the shard's flags come from its decision record)."""
    index: int = 0
    """The shard's position among this run's new shards (its block in every flag file)."""
    dolma_shape: bool = False

    @property
    def label(self) -> str:
        return self.document_path

    def outputs(self) -> list[str]:
        return [self.attribute_path, self.decision_path] if self.flags_paths else [self.attribute_path]

    def run(self, report: Report) -> TaskResult:
        arrays = load_arrays(self.key_path)
        order, hashes = original_order(arrays)
        if self.flags_paths:
            dup = np.empty(len(hashes), dtype=bool)
            dup[order] = self._gathered(arrays["poffsets"])
            save_arrays(self.decision_path, {"dup": np.packbits(dup), "digest": np.asarray(_digest(hashes))})
        else:
            dup = _stored_decisions(self.decision_path, self.document_path, hashes)
        spans, marked = write_attributes(self.spec, arrays, dup, self.attribute_path, self.dolma_shape)
        report(int(arrays["n_docs"]), 0)
        return TaskResult(counters={"spans_marked": spans, "documents_marked": marked})

    def _gathered(self, poffsets: np.ndarray) -> np.ndarray:
        """The shard's flags in partition order: its block of each partition's flag file."""
        parts = []
        for p, path in enumerate(self.flags_paths):
            header: StageHeader = read_stage_header(path)
            lo, hi = read_slice(header, "offsets", self.index, self.index + 2).tolist()
            count = int(poffsets[p + 1] - poffsets[p])
            parts.append(np.unpackbits(read_slice(header, "flags", lo, hi), count=count).astype(bool))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def write_attributes(
    spec: KeySpec, arrays: dict[str, np.ndarray], dup: np.ndarray, attribute_path: str, dolma_shape: bool = False
) -> tuple[int, int]:
    """One attribute row per document, in shard order. Returns ``(spans, documents with a span)``.
    ``dolma_shape``: allenai/dolma 1.2.1's rows (see :func:`unit_spans` and :func:`dolma_absent`)."""
    spans = unit_spans(spec, arrays, dup, dolma_shape)
    ids = msgspec.msgpack.decode(arrays["ids"].tobytes())
    absent = dolma_absent(spec, arrays, spans).tolist() if dolma_shape else [False] * len(ids)
    name = spec.attribute_name
    lines = []
    for doc_id, doc_spans, leave_out in zip(ids, spans, absent, strict=True):
        attributes = {} if leave_out else {name: doc_spans}
        lines.append(encode_line({"id": doc_id, "attributes": attributes}))
    with io.atomic_write(attribute_path) as out:
        out.write(b"".join(lines))
    return sum(len(s) for s in spans), sum(bool(s) for s in spans)


def _digest(hashes: np.ndarray) -> str:
    return xxhash.xxh3_64_hexdigest(np.ascontiguousarray(hashes).tobytes())


def _stored_decisions(decision_path: str, document_path: str, hashes: np.ndarray) -> np.ndarray:
    decision = load_arrays(decision_path)
    if str(decision["digest"]) != _digest(hashes):
        raise InputError(
            f"{document_path}: its keys differ from those the Bloom filter decisions were made on (the shard "
            "changed since); delete the filter file to start over"
        )
    return np.unpackbits(decision["dup"], count=len(hashes)).astype(bool)


# ------------------------------------------------------------------------------------------- the run


@dataclass
class ExactRun:
    """A planned exact dedupe: the shards in input order, where everything goes, and the filter's shape."""

    spec: KeySpec
    documents: list[str]
    attribute_paths: list[str]
    bloom_file: str
    read_only: bool
    work_dir: str
    manifest: Manifest | None
    """The filter this run starts from (None: a new one)."""
    partitions: int
    bits_per_partition: int
    num_hashes: int
    """0 when a new filter's hash count waits for the number of keys (``size_in_bytes`` alone)."""
    sized_for: int
    overwrite: bool = False
    skip_bad_lines: bool = False
    dolma_shape: bool = False
    sizing: list[Any] = field(default_factory=list)
    """A new filter's settings (size, estimated keys, rate, partitions): part of the run's fingerprint."""

    def _stem(self, path: str) -> str:
        token = json.dumps([path, self.spec.fingerprint(), self.read_only], sort_keys=True)
        return xxhash.xxh3_64_hexdigest(token.encode())

    def decision_path(self, path: str) -> str:
        return io.join(self.work_dir, "decisions", self._stem(path) + ".arrays")

    def fingerprint(self, new: list[str], sizes: dict[str, int]) -> str:
        """Names this run's stage directory: what it starts from and what it decides."""
        token = {
            "keys": self.spec.fingerprint(),
            "read_only": self.read_only,
            "filter": self.manifest.token if self.manifest else self.sizing,
            "partitions": self.partitions,
            "new": [[path, sizes[path]] for path in new],
        }
        return xxhash.xxh3_64_hexdigest(json.dumps(token, sort_keys=True).encode())


def run_exact(run: ExactRun, executor: Executor) -> Outcome:
    """Run the stages; see the module docstring. Refuses, before any work, to redo a shard the filter
    already holds unless its earlier decisions are still in the work directory."""
    started = time.monotonic()
    _check_unchanged(run)
    recorded = {} if run.read_only or run.manifest is None else run.manifest.shards
    sizes = {path: io.size(path) for path in run.documents}
    for path in run.documents:
        if path in recorded and recorded[path] != sizes[path]:
            raise InputError(
                f"{path}: size changed since it was inserted into {run.bloom_file} ({recorded[path]} -> "
                f"{sizes[path]} bytes); delete the filter file to dedupe the new data from scratch"
            )
    attribute_of = dict(zip(run.documents, run.attribute_paths, strict=True))
    need_attr = {p for p in run.documents if run.overwrite or not io.exists(attribute_of[p])}
    new = [p for p in run.documents if (p in need_attr if run.read_only else p not in recorded)]
    rewrite = [p for p in run.documents if p in need_attr and p not in new]
    for path in rewrite:
        if not io.exists(run.decision_path(path)):
            raise ConfigError(
                f"{path} is already in the Bloom filter {run.bloom_file} but its attributes are missing and its "
                "earlier decisions are gone from the work directory; testing it again would mark it a duplicate "
                "of itself. Delete the filter file (and the attributes) to start over, or use a new filter file"
            )
    run_id = run.fingerprint(new, sizes)
    stage_dir = io.join(run.work_dir, "run-" + run_id)
    key_path = {p: io.join(stage_dir, "keys", run._stem(p) + ".arrays") for p in new + rewrite}
    staged = [p for p in run.documents if p in key_path]
    counters: Counter[str] = Counter()
    notes: list[str] = []
    keys = [KeyTask(p, key_path[p], run.spec, run.partitions, run.skip_bad_lines) for p in staged]
    summary = executor.run(keys, desc="dedupe: keys", overwrite=False)
    counters.update(summary.counters)
    notes.extend(summary.notes)
    new_keys = [key_path[p] for p in new]
    num_hashes, sized_for = run.num_hashes, run.sized_for
    if not num_hashes:
        num_hashes, sized_for = _hashes_for_keys(run, new_keys, summary)
    flags = _decide(run, executor, run_id, stage_dir, new_keys, num_hashes, counters)
    position = {p: s for s, p in enumerate(new)}
    tasks = [
        AttributeTask(
            document_path=p,
            key_path=key_path[p],
            attribute_path=attribute_of[p],
            decision_path=run.decision_path(p),
            spec=run.spec,
            flags_paths=tuple(flags) if p in position else (),
            index=position.get(p, 0),
            dolma_shape=run.dolma_shape,
        )
        for p in staged
    ]
    summary = executor.run(tasks, desc="dedupe: attributes", overwrite=run.overwrite)
    counters.update(summary.counters)
    manifest = run.manifest
    if new and not run.read_only:
        manifest = _commit(run, run_id, new, sizes, num_hashes, sized_for)
    if staged:
        io.remove_tree(stage_dir)
    if manifest is not None and manifest.sized_for and manifest.keys_inserted > manifest.sized_for:
        notes.append(_overfull_warning(manifest))
    written = summary.tasks_run
    headline = (
        f"{written} attribute file(s) written, {len(run.documents) - written} kept (exist); "
        f"{0 if run.read_only else len(new)} shard(s) inserted into the filter, "
        f"{sum(p in recorded for p in run.documents)} already in it"
    )
    lines = []
    if manifest is not None:
        lines.append(
            f"bloom filter {run.bloom_file}: {manifest.part_bytes * manifest.partitions:,} bytes in "
            f"{manifest.partitions} partition(s), {manifest.num_hashes} hashes, {manifest.keys_inserted:,} keys "
            f"from {len(manifest.shards)} shard(s)"
        )
    return Outcome(
        title="dolma dedupe",
        headline=headline,
        counters=dict(counters),
        lines=lines,
        notes=notes,
        seconds=time.monotonic() - started,
    )


def _check_unchanged(run: ExactRun) -> None:
    """The filter must still be the one planned: the command takes the filter's lock after planning, so a
    run that committed in between would otherwise be overwritten by this one."""
    now = read_manifest(run.bloom_file).token if io.exists(run.bloom_file) else None
    if now != (run.manifest.token if run.manifest else None):
        raise ConfigError(
            f"bloom_filter.file: {run.bloom_file} was changed by another run while this one started; rerun"
        )


def _hashes_for_keys(run: ExactRun, key_paths: list[str], summary: RunSummary) -> tuple[int, int]:
    """``(hashes, keys)``: a new filter sized by ``size_in_bytes`` alone takes its hash count from the keys
    this run inserts: the key tasks' counters, or the key files' headers for tasks skipped on a rerun."""
    if summary.tasks_skipped == 0:
        total = int(summary.counters.get("keys", 0))
    else:
        total = sum(read_stage_header(path).length("pkeys") for path in key_paths)
    _, k = plan_size(run.bits_per_partition * run.partitions // 8, 0, 0.0, total)
    return k, total


def _decide(
    run: ExactRun,
    executor: Executor,
    run_id: str,
    stage_dir: str,
    key_paths: list[str],
    num_hashes: int,
    counters: Counter[str],
) -> list[str]:
    """Stage 2; returns the partitions' flag files."""
    if not key_paths:
        return []
    flags = [io.join(stage_dir, "flags", f"{p:05d}.arrays") for p in range(run.partitions)]
    tasks = [
        DecideTask(
            partition=p,
            partitions=run.partitions,
            key_paths=tuple(key_paths),
            flags_path=flags[p],
            source_part=run.manifest.parts[p] if run.manifest else None,
            new_part=None if run.read_only else part_path(run.bloom_file, run_id, p),
            bits=run.bits_per_partition,
            num_hashes=num_hashes,
        )
        for p in range(run.partitions)
    ]
    summary = executor.run(tasks, desc="dedupe: decide", overwrite=False)
    counters.update(summary.counters)
    return flags


def _commit(
    run: ExactRun, run_id: str, new: list[str], sizes: dict[str, int], num_hashes: int, sized_for: int
) -> Manifest:
    """Write the manifest of the updated filter (the run's last write), then remove the parts it replaced."""
    parts = tuple(part_path(run.bloom_file, run_id, p) for p in range(run.partitions))
    partition_keys = tuple(int(read_header(part)[0]["keys_inserted"]) for part in parts)
    shards = dict(run.manifest.shards) if run.manifest else {}
    shards.update((path, sizes[path]) for path in new)
    manifest = Manifest(
        path=run.bloom_file,
        partitions=run.partitions,
        bits_per_partition=run.bits_per_partition,
        num_hashes=num_hashes,
        keys=run.spec.fingerprint(),
        shards=shards,
        keys_inserted=sum(partition_keys),
        partition_keys=partition_keys,
        sized_for=sized_for,
        parts=parts,
        token="",
    )
    write_manifest(manifest)
    for old in run.manifest.parts if run.manifest else ():
        if old not in parts and old != run.bloom_file:
            io.remove(old)
    return manifest


def _overfull_warning(manifest: Manifest) -> str:
    per_part = manifest.sized_for // manifest.partitions
    sized = false_positive_rate(manifest.bits_per_partition, per_part, manifest.num_hashes)
    return (
        f"warning: the Bloom filter {manifest.path} holds {manifest.keys_inserted:,} keys, more than the "
        f"{manifest.sized_for:,} it was sized for: expected false-positive rate now "
        f"{manifest.expected_false_positive_rate():.2e} (sized for {sized:.2e}). Size a new filter for more keys "
        "(estimated_doc_count counts keys: documents, paragraphs or n-grams)"
    )


# ------------------------------------------------------------------------------------------- planning


def plan_filter(
    bloom_file: str,
    spec: KeySpec,
    read_only: bool,
    partitions: int,
    size_in_bytes: int,
    estimated_doc_count: int,
    rate: float,
) -> tuple[Manifest | None, int, int, int, int]:
    """``(manifest, partitions, bits per partition, hashes, sized for)`` of the filter a run uses: the
    existing one (whose shape wins; a different ``partitions`` is refused) or a new one from the config."""
    manifest = read_manifest(bloom_file) if io.exists(bloom_file) else None
    if manifest is None:
        if read_only:
            raise ConfigError(
                f"bloom_filter.file: {bloom_file} does not exist; read_only needs a filter built by an "
                "earlier run (e.g. over the evaluation set to decontaminate against)"
            )
        bits, k = plan_size(size_in_bytes, estimated_doc_count, rate, 0)
        count = partitions or default_partitions(bits)
        if not 1 <= count <= 1 << 16:
            raise ConfigError(f"bloom_filter.partitions: {count} is not within 1..65536")
        per_part = max(64, -(-bits // count // 64) * 64)
        hashes = k if estimated_doc_count > 0 or size_in_bytes <= 0 else 0
        return None, count, per_part, hashes, estimated_doc_count
    if manifest.keys != spec.fingerprint():
        raise ConfigError(
            f"bloom_filter.file: {bloom_file} holds keys made with {manifest.keys}, but this config makes "
            f"{spec.fingerprint()}; matches between them would be meaningless. Use another filter file"
        )
    if partitions and partitions != manifest.partitions:
        raise ConfigError(
            f"bloom_filter.partitions: {partitions}, but {bloom_file} has {manifest.partitions} partition(s); "
            "an existing filter keeps its partitions (leave the key unset to use them)"
        )
    return manifest, manifest.partitions, manifest.bits_per_partition, manifest.num_hashes, manifest.sized_for
