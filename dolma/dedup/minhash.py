"""Near-duplicate clustering with MinHash LSH (the ``minhash`` section of ``dolma dedupe``).

Stages, each writing self-describing Parquet keyed by shard and document (never by task position), each
skipped when its outputs exist so a run restarted after any stage resumes there:

1. *signatures* (parallel, one task per shard): normalise text (lowercase, accents stripped, punctuation to
   space, digits folded to 0, whitespace collapsed), word n-gram shingles, a MinHash signature, and one
   64-bit hash per LSH band;
2. *bands* (parallel, one task per group of bands): documents sharing a band hash become candidate edges,
   optionally verified by their estimated Jaccard similarity (agreement of the signatures);
3. *clusters* (the driver): connected components over the edges (:mod:`dolma.dedup.clusters`) and one
   keeper per cluster: the first in input order, or the highest value of a named attribute;
4. *attributes* (parallel): per document, ``<name>_duplicate`` (1 for every member but the keeper),
   ``<name>_cluster_id`` and ``<name>_cluster_size``, as document-level spans.
"""

from __future__ import annotations

import json
import sys
import time
from array import array
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import numpy as np
import xxhash
from msgspec import Meta

from dolma import io, layout
from dolma.config import Strict
from dolma.dedup.bands import BandTask
from dolma.dedup.clusters import component_sizes, components, keepers
from dolma.dedup.signatures import FORMAT, Hashing, Signer
from dolma.dedup.stage_files import band_column, pyarrow_modules, read_table, write_table
from dolma.documents import BadLines, encode_line, read_attributes, read_documents
from dolma.errors import ConfigError, InputError
from dolma.executors import Executor, ProgressCounter, Report, TaskResult

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
    band_tasks: Annotated[int | None, Meta(description="band stage tasks (default: one per worker)")] = None
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
        bad = BadLines() if self.skip_bad_lines else None
        ids: list[str] = []
        lines = array("q")
        lengths = array("q")
        sigs: list[np.ndarray] = []
        sets: list[np.ndarray] = []
        bands: list[np.ndarray] = []
        empties: list[np.ndarray] = []
        texts: list[str] = []
        nbytes = chunk_chars = 0
        progress = ProgressCounter(report, every=REPORT_EVERY)

        def flush() -> None:
            sig, empty, shingles = signer.signatures_and_shingles(texts, keep_shingles=self.verify == "exact")
            bands.append(signer.band_hashes(sig, empty))
            empties.append(empty)
            if self.verify == "estimated":
                sigs.append(sig)
            if shingles is not None:
                sets.extend(shingles)
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
        meta = {**self.hashing.meta(), "shard": self.document_path}
        write_table(self.signature_path, columns, meta)
        counters = {"files": 1, "documents": len(ids), "bytes": nbytes}
        notes: list[str] = []
        if bad is not None and bad.count:
            counters["bad_lines"] = bad.count
            notes = bad.examples
        return TaskResult(counters=counters, notes=notes)

    def _columns(
        self,
        ids: list[str],
        lines: array[int],
        lengths: array[int],
        bands: list[np.ndarray],
        empties: list[np.ndarray],
        sigs: list[np.ndarray],
        sets: list[np.ndarray],
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
            sizes = np.array([len(x) for x in sets], dtype=np.int32)
            offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
            values = np.concatenate(sets) if sets else np.zeros(0, dtype=np.uint32)
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

    def edge_path(self, group: int) -> str:
        return io.join(self.work_dir, "edges", f"group-{group:04d}.parquet")

    @property
    def verify_threshold(self) -> float:
        return self.config.verify_threshold if self.config.verify_threshold is not None else self.config.threshold


def plan_minhash(config: MinhashConfig, documents: list[str], name: str, run_config: Any) -> MinhashRun:
    """Validate the section and lay out the work directory (named by a fingerprint of the inputs and
    settings, so outputs of a different run are never mistaken for this one's)."""
    if config.ngram_length < 1 or config.num_perm < 2:
        raise ConfigError("minhash.ngram_length must be >= 1 and minhash.num_perm >= 2")
    if config.verify not in ("none", "estimated", "exact"):
        raise ConfigError(f"minhash.verify: {config.verify!r}; use none, estimated or exact")
    bands, rows = choose_bands(config)
    hashing = Hashing(config.num_perm, config.ngram_length, config.seed, bands, rows)
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


@dataclass
class MinhashOutcome:
    documents: int
    clusters: int
    duplicates: int
    candidate_pairs: int
    verified_pairs: int
    state_bytes: int
    stage_seconds: dict[str, float]


def run_minhash(run: MinhashRun, executor: Executor, quiet: bool = False) -> MinhashOutcome:
    seconds: dict[str, float] = {}
    started = time.monotonic()
    sig_tasks = [
        SignatureTask(
            p,
            run.signature_path(p),
            run.hashing,
            verify=run.config.verify,
            keeper_path=run.keeper_paths[i] if run.keeper_paths else None,
            keeper_attribute=run.config.keeper.attribute if run.config.keeper else None,
            skip_bad_lines=run.skip_bad_lines,
        )
        for i, p in enumerate(run.documents)
    ]
    # stage outputs are keyed by a fingerprint of the inputs: never redone, even with overwrite
    sig_summary = executor.run(sig_tasks, desc="minhash: signatures", overwrite=False)
    seconds["signatures"] = time.monotonic() - started

    started = time.monotonic()
    groups = _band_groups(run, executor.workers)
    band_tasks = [
        BandTask(
            i,
            group,
            tuple(t.signature_path for t in sig_tasks),
            run.edge_path(i),
            run.config.verify,
            run.verify_threshold,
        )
        for i, group in enumerate(groups)
    ]
    band_summary = executor.run(band_tasks, desc="minhash: bands", overwrite=False)
    seconds["bands"] = time.monotonic() - started

    started = time.monotonic()
    if all(io.exists(run.cluster_path(p)) for p in run.documents):
        clusters, duplicates, n_docs, state = _reuse_clusters(run)
    else:
        clusters, duplicates, n_docs, state = _cluster(run, [t.edge_path for t in band_tasks])
    seconds["clusters"] = time.monotonic() - started

    started = time.monotonic()
    attr_tasks = [
        ClusterAttributeTask(run.signature_path(p), run.cluster_path(p), out, run.config.attribute_name)
        for p, out in zip(run.documents, run.attribute_paths, strict=True)
    ]
    attr_summary = executor.run(attr_tasks, desc="minhash: attributes")
    seconds["attributes"] = time.monotonic() - started
    outcome = MinhashOutcome(
        documents=n_docs,
        clusters=clusters,
        duplicates=duplicates,
        candidate_pairs=int(band_summary.counters.get("candidate_pairs", 0)),
        verified_pairs=int(band_summary.counters.get("verified_pairs", 0)),
        state_bytes=state,
        stage_seconds=seconds,
    )
    if not quiet:
        _print(run, outcome, sig_summary, attr_summary)
    return outcome


def _band_groups(run: MinhashRun, workers: int) -> list[tuple[int, ...]]:
    bands = run.hashing.bands
    tasks = run.config.band_tasks or workers
    tasks = max(1, min(bands, tasks))
    return [tuple(int(b) for b in group) for group in np.array_split(np.arange(bands), tasks)]


def _cluster(run: MinhashRun, edge_paths: list[str]) -> tuple[int, int, int, int]:
    """Stage 3 in the driver: components and keepers over global input order; one cluster file per shard.
    Returns ``(clusters with > 1 member, duplicates, documents, bytes of per-document state)``."""
    pa, _ = pyarrow_modules()
    line_tables = [read_table(run.signature_path(p), ["line"]).column("line").to_numpy() for p in run.documents]
    sizes = np.array([len(t) for t in line_tables], dtype=np.int64)
    offsets = np.cumsum(sizes) - sizes
    n = int(sizes.sum())
    shard_index = {p: i for i, p in enumerate(run.documents)}
    a_parts: list[np.ndarray] = []
    b_parts: list[np.ndarray] = []
    for path in edge_paths:
        edges = read_table(path)
        for side, parts in (("a", a_parts), ("b", b_parts)):
            shard = np.array([shard_index[s] for s in edges.column(f"{side}_shard").to_pylist()], dtype=np.int64)
            line = edges.column(f"{side}_line").to_numpy()
            parts.append(_global_rows(shard, line, line_tables, offsets))
    a = np.concatenate(a_parts) if a_parts else np.zeros(0, np.int64)
    b = np.concatenate(b_parts) if b_parts else np.zeros(0, np.int64)
    labels = components(n, a, b)
    size = component_sizes(labels)
    scores = None
    if run.keeper_paths is not None:
        scores = np.concatenate(
            [read_table(run.signature_path(p), ["keeper_score"]).column(0).to_numpy() for p in run.documents]
        )
    keep = keepers(labels, scores)
    cluster_id = labels
    if scores is not None:  # name a cluster after its keeper
        keeper_of = np.zeros(n, dtype=np.int64)
        keeper_of[labels[keep]] = np.flatnonzero(keep)
        cluster_id = keeper_of[labels]
    duplicate = ~keep
    for i, path in enumerate(run.documents):
        rows = slice(int(offsets[i]), int(offsets[i] + sizes[i]))
        columns = {
            "duplicate": duplicate[rows].astype(np.uint8),
            "cluster_id": cluster_id[rows],
            "cluster_size": size[rows],
        }
        write_table(run.cluster_path(path), columns, {"format": FORMAT, "shard": path})
    state = labels.nbytes + size.nbytes + keep.nbytes + cluster_id.nbytes + sum(t.nbytes for t in line_tables)
    if scores is not None:
        state += scores.nbytes
    return int((np.bincount(labels, minlength=n) > 1).sum()), int(duplicate.sum()), n, int(state)


def _reuse_clusters(run: MinhashRun) -> tuple[int, int, int, int]:
    """The cluster stage's files exist (a restarted run): read its counts back instead of redoing it."""
    ids: list[np.ndarray] = []
    sizes: list[np.ndarray] = []
    duplicates = 0
    for path in run.documents:
        table = read_table(run.cluster_path(path))
        ids.append(table.column("cluster_id").to_numpy())
        sizes.append(table.column("cluster_size").to_numpy())
        duplicates += int(table.column("duplicate").to_numpy().sum())
    cluster_id = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    size = np.concatenate(sizes) if sizes else np.zeros(0, np.int64)
    clusters = len(np.unique(cluster_id[size > 1]))
    return clusters, duplicates, len(cluster_id), int(cluster_id.nbytes + size.nbytes)


def _global_rows(shard: np.ndarray, line: np.ndarray, lines: list[np.ndarray], offsets: np.ndarray) -> np.ndarray:
    """Global input-order row of each ``(shard, line)``."""
    out = np.empty(len(shard), dtype=np.int64)
    for s in np.unique(shard).tolist():
        mask = shard == s
        pos = np.searchsorted(lines[s], line[mask])
        if np.any(pos >= len(lines[s])) or np.any(lines[s][np.minimum(pos, len(lines[s]) - 1)] != line[mask]):
            raise InputError("minhash: an edge names a line missing from its signature file (stale work directory?)")
        out[mask] = offsets[s] + pos
    return out


def _print(run: MinhashRun, outcome: MinhashOutcome, sig_summary: Any, attr_summary: Any) -> None:
    h = run.hashing
    lines = [
        f"dolma dedupe (minhash): {outcome.documents:,} documents, {outcome.clusters:,} clusters of near-duplicates, "
        f"{outcome.duplicates:,} duplicates marked",
        f"  {h.num_perm} bins, {h.bands} bands x {h.rows} rows, {h.ngram_length}-word shingles, threshold "
        f"{run.config.threshold}, verify {run.config.verify}",
        f"  candidate pairs {outcome.candidate_pairs:,}, kept after verification {outcome.verified_pairs:,}",
        f"  signatures: {sig_summary.tasks_run} shard(s) done, {sig_summary.tasks_skipped} skipped (exist); "
        f"attributes: {attr_summary.tasks_run} written, {attr_summary.tasks_skipped} skipped (exist)",
        "  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in outcome.stage_seconds.items()),
        f"  driver state: {outcome.state_bytes / max(outcome.documents, 1):.0f} bytes per document",
        f"  work directory: {run.work_dir}",
    ]
    lines.extend(f"  note: {note}" for note in sig_summary.notes[:20])
    print("\n".join(lines), file=sys.stderr)
