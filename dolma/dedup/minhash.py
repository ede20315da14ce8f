"""Near-duplicate clustering with MinHash LSH (the ``minhash`` section of ``dolma dedupe``).

Stages, each writing self-describing Parquet keyed by shard and document (never by task position), each
skipped when its outputs exist so a run restarted after any stage resumes there:

1. *signatures* (parallel, one task per shard): normalise text (lowercase, accents stripped, punctuation to
   space, digits folded to 0, whitespace collapsed), word n-gram shingles, a MinHash signature, and one
   64-bit hash per LSH band;
2. *bands* (parallel, one task per group of bands): documents sharing a band hash become candidate edges,
   optionally verified by their estimated Jaccard similarity (agreement of the signatures);
3. *clusters* (parallel rounds over edge partitions): connected components over the edges
   (:mod:`dolma.dedup.clusters`) and one keeper per component: the first in input order, or the highest value
   of a named attribute; with verification, a member is removed only if it is near a kept document itself;
4. *attributes* (parallel): per document, ``<name>_duplicate`` (1 for every member but the keeper),
   ``<name>_cluster_id`` and ``<name>_cluster_size``, as document-level spans.
"""

from __future__ import annotations

import json
import time
from array import array
from dataclasses import dataclass, replace
from typing import Annotated, Any

import msgspec
import numpy as np
import xxhash
from msgspec import Meta

from dolma import io, layout
from dolma.config import Strict
from dolma.dedup.bands import BandTask, plan_band_tasks
from dolma.dedup.clusters import BYTES_PER_EDGE, ClusterFileTask, KeeperTask, StarTask
from dolma.dedup.signatures import PUNCTUATION_CHOICES, Hashing, Normalisation, Signer
from dolma.dedup.stage_files import band_column, num_rows, pyarrow_modules, read_table, stage_counters, write_table
from dolma.documents import BadLines, encode_line, read_attributes, read_documents
from dolma.errors import ConfigError, DolmaError, InputError
from dolma.executors import Executor, ProgressCounter, Report, TaskResult
from dolma.outcome import Outcome

REPORT_EVERY = 2_000
CHUNK_DOCS = 2_000
CHUNK_CHARS = 4_000_000
"""Signatures are computed for batches of at most this many documents or characters: enough to amortise
numpy's per-call cost, small enough that the per-shingle temporaries stay a few tens of MB."""


class KeeperConfig(Strict):
    experiment: Annotated[str, Meta(description="attribute directory holding the score (attributes/<experiment>/)")]
    attribute: Annotated[str, Meta(description="attribute key; the first span's score is used")]


class MinhashConfig(Strict):
    attribute_name: Annotated[str, Meta(description="attribute key prefix: <name>_duplicate, ...")] = "minhash"
    ngram_length: Annotated[int, Meta(description="words per shingle")] = 5
    num_perm: Annotated[int, Meta(description="signature length (MinHash bins)")] = 256
    threshold: Annotated[float, Meta(description="target Jaccard similarity of near-duplicates")] = 0.7
    bands: Annotated[int | None, Meta(description="LSH bands (default: chosen from threshold)")] = None
    rows: Annotated[int | None, Meta(description="rows per band (default: chosen from threshold)")] = None
    false_positive_weight: Annotated[
        float, Meta(description="weight of false positives when choosing bands (verification removes most)")
    ] = 0.1
    false_negative_weight: Annotated[float, Meta(description="weight of false negatives when choosing bands")] = 0.9
    seed: Annotated[int, Meta(description="hash seed")] = 1
    verify: Annotated[
        str,
        Meta(
            description="none; estimated: keep candidate pairs whose signatures agree >= verify_threshold; "
            "exact: whose shingle sets have Jaccard >= verify_threshold (stores shingle hashes)"
        ),
    ] = "estimated"
    verify_threshold: Annotated[float | None, Meta(description="default: threshold")] = None
    keeper: Annotated[
        KeeperConfig | None, Meta(description="keep the highest-scoring member (default: first in input order)")
    ] = None
    lowercase: Annotated[bool, Meta(description="fold case before shingling")] = True
    strip_accents: Annotated[bool, Meta(description="strip accents (NFKD, combining marks dropped)")] = True
    punctuation: Annotated[
        str, Meta(description="split: punctuation separates words; keep: words split on whitespace only")
    ] = "split"
    fold_digits: Annotated[
        bool,
        Meta(
            description="every digit becomes 0 for the band hashes (tables of different numbers then share buckets); "
            "verification still compares the digits"
        ),
    ] = False
    band_tasks: Annotated[
        int | None, Meta(description="band groups (default: from the workers and task_memory_mb)")
    ] = None
    hash_ranges: Annotated[
        int | None, Meta(description="band-hash ranges per band group (default: from documents and task_memory_mb)")
    ] = None
    edge_partitions: Annotated[
        int | None, Meta(description="partitions of the component stage (default: from edges and task_memory_mb)")
    ] = None
    work_dir: Annotated[str | None, Meta(description="intermediate Parquet files (default: <prefix>/work/)")] = None


# ----------------------------------------------------------------------------------------- parameters


def choose_bands(config: MinhashConfig) -> tuple[int, int]:
    """``(bands, rows)``: as given, or datasketch's optimal parameters for the threshold and weights."""
    if (config.bands is None) != (config.rows is None):
        raise ConfigError("minhash.bands and minhash.rows: give both or neither")
    if config.bands is not None and config.rows is not None:
        if config.bands < 1 or config.rows < 1 or config.bands * config.rows > config.num_perm:
            raise ConfigError(
                f"minhash.bands x rows = {config.bands} x {config.rows} must be >= 1 and <= num_perm "
                f"({config.num_perm})"
            )
        return config.bands, config.rows
    if not 0.0 < config.threshold < 1.0:
        raise ConfigError("minhash.threshold: must be within (0, 1)")
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(
        config.threshold, config.num_perm, config.false_positive_weight, config.false_negative_weight
    )
    return int(bands), int(rows)


# --------------------------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class SignatureTask:
    """Stage 1: one documents shard in, one signature Parquet out (one row per document, in line order)."""

    document_path: str
    signature_path: str
    hashing: Hashing
    verify: str
    keeper_path: str | None = None
    keeper_attribute: str | None = None
    skip_bad_lines: bool = False

    @property
    def label(self) -> str:
        return self.document_path

    def outputs(self) -> list[str]:
        return [self.signature_path]

    def run(self, report: Report) -> TaskResult:
        signer = Signer(self.hashing)
        checker = signer  # what verification compares: the same text, but never with digits folded
        if self.verify != "none" and self.hashing.normalisation.fold_digits:
            checker = Signer(
                replace(self.hashing, normalisation=replace(self.hashing.normalisation, fold_digits=False))
            )
        bad = BadLines() if self.skip_bad_lines else None
        ids: list[str] = []
        lines = array("q")
        lengths = array("q")
        sigs: list[np.ndarray] = []
        sets: list[tuple[np.ndarray, np.ndarray]] = []
        bands: list[np.ndarray] = []
        empties: list[np.ndarray] = []
        texts: list[str] = []
        nbytes = chunk_chars = 0
        progress = ProgressCounter(report, every=REPORT_EVERY)

        def flush() -> None:
            sig, empty, shingles = signer.signatures_and_shingles(
                texts, keep_shingles=self.verify == "exact" and checker is signer
            )
            bands.append(signer.band_hashes(sig, empty))
            empties.append(empty)
            if checker is not signer:
                sig, _, shingles = checker.signatures_and_shingles(texts, keep_shingles=self.verify == "exact")
            if self.verify == "estimated":
                sigs.append(sig)
            if shingles is not None:
                sets.append(shingles)
            texts.clear()

        for lineno, doc, size in read_documents(self.document_path, bad):
            ids.append(doc.id)
            lines.append(lineno)
            lengths.append(len(doc.text))
            texts.append(doc.text)
            chunk_chars += len(doc.text)
            nbytes += size
            progress.add(size)
            if len(texts) >= CHUNK_DOCS or chunk_chars >= CHUNK_CHARS:
                flush()
                chunk_chars = 0
        if texts:
            flush()
        progress.flush()
        columns = self._columns(ids, lines, lengths, bands, empties, sigs, sets)
        result = TaskResult.shard(len(ids), nbytes, bad)
        meta = {**self.hashing.meta(), "shard": self.document_path, "counters": result.counters}
        write_table(self.signature_path, columns, meta)
        return result

    def _columns(
        self,
        ids: list[str],
        lines: array[int],
        lengths: array[int],
        bands: list[np.ndarray],
        empties: list[np.ndarray],
        sigs: list[np.ndarray],
        sets: list[tuple[np.ndarray, np.ndarray]],
    ) -> dict[str, Any]:
        pa, _ = pyarrow_modules()
        n = len(ids)
        perm, n_bands = self.hashing.num_perm, self.hashing.bands
        band_matrix = np.concatenate(bands) if bands else np.zeros((0, n_bands), dtype=np.uint64)
        columns: dict[str, Any] = {
            "shard": pa.array([self.document_path] * n, pa.string()).dictionary_encode(),
            "line": np.frombuffer(lines, dtype=np.int64),
            "id": pa.array(ids, pa.string()),
            "length": np.frombuffer(lengths, dtype=np.int64),
            "empty": np.concatenate(empties) if empties else np.zeros(0, dtype=bool),
        }
        for band in range(n_bands):
            columns[band_column(band)] = band_matrix[:, band]
        if self.verify == "estimated":
            flat = np.concatenate(sigs).ravel() if sigs else np.zeros(0, dtype=np.uint32)
            columns["signature"] = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.uint32()), perm)
        if self.verify == "exact":
            sizes = np.concatenate([np.diff(offsets) for offsets, _ in sets]) if sets else np.zeros(0, np.int64)
            offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
            values = np.concatenate([values for _, values in sets]) if sets else np.zeros(0, dtype=np.uint32)
            columns["shingles"] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.uint32()))
        if self.keeper_path is not None:
            columns["keeper_score"] = self._keeper_scores(n)
        return columns

    def _keeper_scores(self, n: int) -> np.ndarray:
        assert self.keeper_path is not None and self.keeper_attribute is not None
        scores = np.full(n, -np.inf)
        i = 0
        for lineno, row, _ in read_attributes(self.keeper_path):
            if i >= n:
                raise InputError(f"{self.keeper_path}:{lineno}: more rows than {self.document_path} has documents")
            spans = row.attributes.get(self.keeper_attribute)
            if spans:
                scores[i] = float(spans[0][2])
            i += 1
        if i != n:
            raise InputError(f"{self.keeper_path}: {i} rows for {n} documents in {self.document_path}")
        return scores


@dataclass(frozen=True)
class ClusterAttributeTask:
    """Stage 4: cluster facts for one shard in, its attribute file out."""

    signature_path: str
    cluster_path: str
    attribute_path: str
    name: str

    @property
    def label(self) -> str:
        return self.attribute_path

    def outputs(self) -> list[str]:
        return [self.attribute_path]

    def run(self, report: Report) -> TaskResult:
        docs = read_table(self.signature_path, ["id", "length"])
        facts = read_table(self.cluster_path)
        ids = docs.column("id").to_pylist()
        lengths = docs.column("length").to_numpy().tolist()
        dup = facts.column("duplicate").to_numpy().tolist()
        cid = facts.column("cluster_id").to_numpy().tolist()
        size = facts.column("cluster_size").to_numpy().tolist()
        keys = (f"{self.name}_duplicate", f"{self.name}_cluster_id", f"{self.name}_cluster_size")
        with io.atomic_write(self.attribute_path) as out:
            for i, doc_id in enumerate(ids):
                n = lengths[i]
                attrs = {keys[0]: [[0, n, int(dup[i])]], keys[1]: [[0, n, cid[i]]], keys[2]: [[0, n, size[i]]]}
                out.write(encode_line({"id": doc_id, "attributes": attrs}))
        report(len(ids), 0)
        return TaskResult(counters={"duplicates_marked": int(sum(dup))})


# ------------------------------------------------------------------------------------------------ run

MAX_STAR_STEPS = 200
"""Large-star/small-star steps before giving up: O(log^2 n) is enough for any real graph (a handful of steps
in practice); hitting this means a bug, reported rather than looped on."""
DOCUMENTS_PER_CLUSTER_FILE_TASK = 5_000_000
"""Documents per task writing dense cluster files (17 bytes each in memory); more tasks only add start-up."""
MIN_EDGES_PER_PARTITION = 2_000_000
"""Component partitions beyond those memory needs are only worth their start-up cost with this many edges."""


@dataclass
class MinhashRun:
    config: MinhashConfig
    documents: list[str]
    attribute_paths: list[str]
    work_dir: str
    hashing: Hashing
    keeper_paths: list[str] | None
    skip_bad_lines: bool = False

    def _stem(self, path: str) -> str:
        return xxhash.xxh3_64_hexdigest(path.encode())

    def signature_path(self, path: str) -> str:
        return io.join(self.work_dir, "signatures", self._stem(path) + ".parquet")

    def cluster_path(self, path: str) -> str:
        return io.join(self.work_dir, "clusters", self._stem(path) + ".parquet")

    def stage_path(self, stage: str, split: str, task: int) -> str:
        """A file of a partitioned stage; ``split`` names how the stage was cut, so a rerun cut differently
        (another cluster size or memory budget) never mixes its files with this one's."""
        return io.join(self.work_dir, stage, split, f"task-{task:05d}.parquet")

    @property
    def verify_threshold(self) -> float:
        return self.config.verify_threshold if self.config.verify_threshold is not None else self.config.threshold


def normalisation_of(config: MinhashConfig) -> Normalisation:
    if config.punctuation not in PUNCTUATION_CHOICES:
        raise ConfigError(f"minhash.punctuation: {config.punctuation!r}; use {' or '.join(PUNCTUATION_CHOICES)}")
    return Normalisation(
        lowercase=config.lowercase,
        strip_accents=config.strip_accents,
        punctuation=config.punctuation,
        fold_digits=config.fold_digits,
    )


def plan_minhash(config: MinhashConfig, documents: list[str], name: str, run_config: Any) -> MinhashRun:
    """Validate the section and lay out the work directory (named by a fingerprint of the inputs and
    settings, so outputs of a different run are never mistaken for this one's)."""
    if config.ngram_length < 1 or config.num_perm < 2:
        raise ConfigError("minhash.ngram_length must be >= 1 and minhash.num_perm >= 2")
    if config.verify not in ("none", "estimated", "exact"):
        raise ConfigError(f"minhash.verify: {config.verify!r}; use none, estimated or exact")
    for key in ("band_tasks", "hash_ranges", "edge_partitions"):
        if (getattr(config, key) or 1) < 1:
            raise ConfigError(f"minhash.{key}: must be >= 1")
    bands, rows = choose_bands(config)
    hashing = Hashing(config.num_perm, config.ngram_length, config.seed, bands, rows, normalisation_of(config))
    keeper_paths = None
    if config.keeper is not None:
        keeper_paths = [layout.attribute_path(p, config.keeper.experiment) for p in documents]
        missing = [p for p in keeper_paths if not io.exists(p)]
        if missing:
            raise ConfigError(f"minhash.keeper: attribute file {missing[0]} does not exist (run that tagger first)")
    sizes = [io.size(p) for p in documents]
    fingerprint = json.dumps(
        [documents, sizes, hashing.meta(), config.verify, config.verify_threshold, msgspec.to_builtins(config.keeper)],
        sort_keys=True,
    )
    base = config.work_dir or run_config.work_dir.output
    if not base:
        prefix, _ = layout.split_documents_path(documents[0])
        base = io.join(prefix, "work", f"minhash-{name}")
    work = io.join(base, xxhash.xxh3_64_hexdigest(fingerprint.encode()))
    return MinhashRun(
        config=config,
        documents=documents,
        attribute_paths=[layout.attribute_path(p, name) for p in documents],
        work_dir=work,
        hashing=hashing,
        keeper_paths=keeper_paths,
        skip_bad_lines=run_config.skip_bad_lines,
    )


def run_minhash(run: MinhashRun, executor: Executor) -> Outcome:
    """The four stages; stage outputs are keyed by a fingerprint of the inputs, so they are never redone,
    even with ``overwrite`` (which redoes the attribute files only)."""
    seconds: dict[str, float] = {}
    started = time.monotonic()
    signature_paths = [run.signature_path(p) for p in run.documents]
    sig_tasks = [
        SignatureTask(
            p,
            signature_paths[i],
            run.hashing,
            verify=run.config.verify,
            keeper_path=run.keeper_paths[i] if run.keeper_paths else None,
            keeper_attribute=run.config.keeper.attribute if run.config.keeper else None,
            skip_bad_lines=run.skip_bad_lines,
        )
        for i, p in enumerate(run.documents)
    ]
    sig_summary = executor.run(sig_tasks, desc="minhash: signatures", overwrite=False)
    sig_counts = stage_counters(sig_tasks, sig_summary)
    # one footer read per shard: the document counts that number documents in input order
    offsets = np.concatenate([[0], np.cumsum([num_rows(p) for p in signature_paths])]).astype(np.int64)
    seconds["signatures"] = time.monotonic() - started

    started = time.monotonic()
    edge_paths, band_counts, band_split = _bands(run, executor, signature_paths, offsets)
    seconds["bands"] = time.monotonic() - started

    started = time.monotonic()
    cluster_counts, component_split = _clusters(run, executor, edge_paths, signature_paths, offsets, band_counts)
    seconds["clusters"] = time.monotonic() - started

    started = time.monotonic()
    attr_tasks = [
        ClusterAttributeTask(signature_paths[i], run.cluster_path(p), out, run.config.attribute_name)
        for i, (p, out) in enumerate(zip(run.documents, run.attribute_paths, strict=True))
    ]
    attr_summary = executor.run(attr_tasks, desc="minhash: attributes")
    seconds["attributes"] = time.monotonic() - started
    h = run.hashing
    counters = {
        "documents": int(offsets[-1]),
        "clusters": cluster_counts["clusters"],
        "duplicates": cluster_counts["duplicates"],
        "candidate_pairs": band_counts["candidate_pairs"],
        "verified_pairs": band_counts["verified_pairs"],
    }
    if sig_counts.get("bad_lines"):
        counters["bad_lines"] = sig_counts["bad_lines"]
    lines = [
        f"{h.num_perm} bins, {h.bands} bands x {h.rows} rows, {h.ngram_length}-word shingles, threshold "
        f"{run.config.threshold}, verify {run.config.verify}, normalisation {h.normalisation.describe()}",
        f"signatures: {sig_summary.tasks_run} shard(s) done, {sig_summary.tasks_skipped} reused; bands: {band_split}; "
        f"components: {component_split}",
        f"attributes: {attr_summary.tasks_run} written, {attr_summary.tasks_skipped} skipped (exist)",
        "seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()),
        f"work directory: {run.work_dir}",
    ]
    return Outcome(
        title="dolma dedupe (minhash)",
        headline=f"{counters['documents']:,} documents, {counters['clusters']:,} clusters of near-duplicates, "
        f"{counters['duplicates']:,} duplicates marked",
        counters=counters,
        lines=lines,
        notes=list(sig_summary.notes),
        seconds=sum(seconds.values()),
        details={"stage_seconds": seconds},
    )


def _bands(
    run: MinhashRun, executor: Executor, signature_paths: list[str], offsets: np.ndarray
) -> tuple[list[str], dict[str, int], str]:
    """Stage 2: band groups x hash ranges, sized from the document count, the cluster and the memory budget."""
    groups, ranges = plan_band_tasks(
        int(offsets[-1]),
        run.hashing.bands,
        executor.workers,
        executor.task_memory,
        groups=run.config.band_tasks,
        ranges=run.config.hash_ranges,
    )
    split = f"{len(groups)}-groups-{ranges}-ranges"
    paths, starts = tuple(signature_paths), tuple(int(x) for x in offsets)  # one copy, shared by every task
    tasks = [
        BandTask(
            bands=group,
            hash_range=r,
            hash_ranges=ranges,
            signature_paths=paths,
            offsets=starts,
            edge_path=run.stage_path("edges", split, g * ranges + r),
            verify=run.config.verify,
            verify_threshold=run.verify_threshold,
            num_perm=run.hashing.num_perm,
            memory_bytes=executor.task_memory,
        )
        for g, group in enumerate(groups)
        for r in range(ranges)
    ]
    summary = executor.run(tasks, desc="minhash: bands", overwrite=False)
    counts = stage_counters(tasks, summary)
    return [t.edge_path for t in tasks], counts, f"{len(groups)} band group(s) x {ranges} hash range(s)"


def _clusters(
    run: MinhashRun,
    executor: Executor,
    edge_paths: list[str],
    signature_paths: list[str],
    offsets: np.ndarray,
    band_counts: dict[str, int],
) -> tuple[dict[str, int], str]:
    """Stage 3: components by large-star/small-star steps over edge partitions, keepers per partition, then
    dense cluster files per shard. The driver reads one counter per task."""
    stored = 2 * band_counts["verified_pairs"]  # each edge is stored in both directions
    partitions = run.config.edge_partitions or max(
        -(-stored * BYTES_PER_EDGE // executor.task_memory),
        min(executor.workers, -(-stored // MIN_EDGES_PER_PARTITION)),
        1,
    )
    split = f"{partitions}-partitions-from-{len(edge_paths)}"
    inputs = tuple(edge_paths)
    step = "large"
    for number in range(MAX_STAR_STEPS):
        tasks = [
            StarTask(step, inputs, k, partitions, run.stage_path("components", split, number * partitions + k))
            for k in range(partitions)
        ]
        summary = executor.run(tasks, desc=f"minhash: components ({step}-star)", overwrite=False)
        inputs = tuple(t.output for t in tasks)
        if step == "large" and stage_counters(tasks, summary)["unsettled"] == 0:
            break
        step = "small" if step == "large" else "large"
    else:
        raise DolmaError(f"minhash: components did not settle in {MAX_STAR_STEPS} steps ({run.work_dir})")
    paths, starts = tuple(signature_paths), tuple(int(x) for x in offsets)  # one copy, shared by every task
    keeper_tasks = [
        KeeperTask(
            inputs,
            k,
            partitions,
            run.stage_path("keepers", split, k),
            paths,
            starts,
            by_score=run.keeper_paths is not None,
            verify=run.config.verify,
            verify_threshold=run.verify_threshold,
            num_perm=run.hashing.num_perm,
            memory_bytes=executor.task_memory,
        )
        for k in range(partitions)
    ]
    executor.run(keeper_tasks, desc="minhash: keepers", overwrite=False)
    wanted = max(partitions, -(-int(offsets[-1]) // DOCUMENTS_PER_CLUSTER_FILE_TASK))
    groups = np.array_split(np.arange(len(run.documents)), min(len(run.documents), wanted))
    keeper_outputs = tuple(t.output for t in keeper_tasks)
    file_tasks = [
        ClusterFileTask(
            keeper_outputs,
            tuple(run.cluster_path(run.documents[i]) for i in group),
            tuple(int(offsets[i]) for i in [*group, group[-1] + 1]),
            tuple(run.documents[i] for i in group),
        )
        for group in groups
        if len(group)
    ]
    summary = executor.run(file_tasks, desc="minhash: clusters", overwrite=False)
    steps = number + 1
    return stage_counters(file_tasks, summary), f"{partitions} partition(s), {steps} star step(s)"
