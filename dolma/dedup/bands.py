"""Stage 2 of MinHash: documents sharing a band hash become candidate edges, verified by their Jaccard
similarity.

The work is split by band and by band-hash range: the task for bands ``B`` and range ``r`` of ``R`` keeps only
the documents whose band hash falls in that range, so it holds ``documents x |B| / R`` hashes, whatever the
corpus size, and the number of tasks follows the cluster. Two documents sharing a band hash share its range, so
every bucket is seen whole by exactly one task, and the edges are those of a single pass over all documents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dolma.dedup.clusters import edge_columns
from dolma.dedup.signatures import FORMAT
from dolma.dedup.stage_files import band_column, read_table, write_sorted
from dolma.dedup.verification import pair_similarity
from dolma.executors import Report, TaskResult

BYTES_PER_ENTRY = 48
"""Memory of one (document, band) entry in a band task: its hash and global row (16 bytes) kept for every band
of the task, plus the sort of the band being bucketed (argsort, sorted copy, group starts) and its edges."""


def hash_range_of(values: np.ndarray, ranges: int) -> np.ndarray:
    """Which of ``ranges`` equal slices of the 64-bit hash space each value falls in (by its top 32 bits)."""
    return (((values >> np.uint64(32)) * np.uint64(ranges)) >> np.uint64(32)).astype(np.int64)


@dataclass(frozen=True)
class BandTask:
    """Bands ``bands``, hash range ``hash_range`` of ``hash_ranges``, over every signature file in; verified
    candidate edges out, as global input rows ``(a, b)`` with ``a`` before ``b``, stored in both directions and
    sorted for the component stage (see :func:`dolma.dedup.clusters.edge_columns`)."""

    bands: tuple[int, ...]
    hash_range: int
    hash_ranges: int
    signature_paths: tuple[str, ...]
    offsets: tuple[int, ...]
    """Global row of each signature file's first document, and the total at the end."""
    edge_path: str
    verify: str
    verify_threshold: float
    num_perm: int
    memory_bytes: int

    @property
    def label(self) -> str:
        return f"bands {self.bands[0]}-{self.bands[-1]}, hash range {self.hash_range + 1}/{self.hash_ranges}"

    def outputs(self) -> list[str]:
        return [self.edge_path]

    def run(self, report: Report) -> TaskResult:
        a, b = self._candidates(report)
        candidates = len(a)
        if self.verify != "none" and len(a):
            similarity = pair_similarity(
                self.signature_paths, self.offsets, a, b, self.verify, self.num_perm, self.memory_bytes
            )
            keep = similarity >= self.verify_threshold
            a, b = a[keep], b[keep]
        counters = {"candidate_pairs": candidates, "verified_pairs": len(a)}
        meta = {"format": FORMAT, "bands": list(self.bands), "hash_range": self.hash_range, "counters": counters}
        write_sorted(self.edge_path, "key", edge_columns(a, b), meta)
        return TaskResult(counters=counters)

    def _candidates(self, report: Report) -> tuple[np.ndarray, np.ndarray]:
        """Unique pairs joining each document to the first (in input order) sharing one of its band hashes.
        Every signature file is read once, with only this task's band columns and the empty flags."""
        columns = [band_column(band) for band in self.bands]
        values: list[list[np.ndarray]] = [[] for _ in columns]
        rows: list[list[np.ndarray]] = [[] for _ in columns]
        for path, base in zip(self.signature_paths, self.offsets, strict=False):
            table = read_table(path, [*columns, "empty"])
            present = ~table.column("empty").to_numpy(zero_copy_only=False)  # empty texts are near nothing
            for j, name in enumerate(columns):
                column = table.column(name).to_numpy()
                keep = (
                    present
                    if self.hash_ranges == 1
                    else present & (hash_range_of(column, self.hash_ranges) == self.hash_range)
                )
                values[j].append(column[keep])
                rows[j].append(base + np.flatnonzero(keep))
            del table
            report(0, 0)
        firsts, others = [], []
        for j in range(len(columns)):
            band_rows = np.concatenate(rows[j]) if rows[j] else np.zeros(0, np.int64)
            first, other = bucket_edges(np.concatenate(values[j]) if values[j] else np.zeros(0, np.uint64))
            values[j] = rows[j] = []
            firsts.append(band_rows[first])
            others.append(band_rows[other])
        a = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
        b = np.concatenate(others) if others else np.zeros(0, np.int64)
        if not len(a):
            return a, b
        pairs = np.unique(np.stack([a, b], axis=1), axis=0)
        return pairs[:, 0], pairs[:, 1]


def bucket_edges(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``(first, other)`` joining every document to the first document (in input order) that shares
    its bucket value."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.ones(len(values), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    group_first = order[np.flatnonzero(starts)[np.cumsum(starts) - 1]]
    member = ~starts
    return group_first[member].astype(np.int64), order[member].astype(np.int64)


def plan_band_tasks(
    documents: int, bands: int, workers: int, memory_bytes: int, groups: int | None = None, ranges: int | None = None
) -> tuple[list[tuple[int, ...]], int]:
    """``(band groups, hash ranges)``: bands are split first (each extra group adds reading, not memory per
    document), then hash ranges until a task's entries fit ``memory_bytes``, and both until there are at least
    ``workers`` tasks."""
    if groups is None:
        needed = -(-documents * bands * BYTES_PER_ENTRY // max(memory_bytes, 1))
        groups = max(1, min(bands, max(workers, needed)))
    groups = max(1, min(bands, groups))
    split = [tuple(int(b) for b in group) for group in np.array_split(np.arange(bands), groups)]
    if ranges is None:
        widest = max(len(group) for group in split)
        ranges = max(-(-documents * widest * BYTES_PER_ENTRY // max(memory_bytes, 1)), -(-workers // groups), 1)
    return split, max(1, ranges)
