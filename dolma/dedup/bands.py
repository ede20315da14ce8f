"""Stage 2 of MinHash: documents sharing a band hash become candidate edges, verified by their Jaccard
similarity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dolma.dedup.signatures import FORMAT, jaccard_estimate, jaccard_exact
from dolma.dedup.stage_files import band_column, pyarrow_modules, read_table, write_table
from dolma.executors import Report, TaskResult


@dataclass(frozen=True)
class BandTask:
    """Stage 2: a group of bands over every signature file in, candidate edges out (Parquet of
    ``(shard, line, id)`` pairs, the second member after the first in input order)."""

    index: int
    bands: tuple[int, ...]
    signature_paths: tuple[str, ...]
    edge_path: str
    verify: str
    verify_threshold: float

    @property
    def label(self) -> str:
        return f"bands {self.bands[0]}-{self.bands[-1]}"

    def outputs(self) -> list[str]:
        return [self.edge_path]

    def run(self, report: Report) -> TaskResult:
        columns = [band_column(b) for b in self.bands]
        tables = [read_table(p, columns) for p in self.signature_paths]
        sizes = np.array([t.num_rows for t in tables], dtype=np.int64)
        firsts: list[np.ndarray] = []
        seconds: list[np.ndarray] = []
        for name in columns:
            values = np.concatenate([t.column(name).to_numpy() for t in tables]) if tables else np.zeros(0, np.uint64)
            a, b = bucket_edges(values)
            firsts.append(a)
            seconds.append(b)
        del tables
        a = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
        b = np.concatenate(seconds) if seconds else np.zeros(0, np.int64)
        if len(a):
            pairs = np.unique(np.stack([a, b], axis=1), axis=0)
            a, b = pairs[:, 0], pairs[:, 1]
        candidates = len(a)
        if self.verify != "none" and len(a):
            keep = self._verify(a, b, sizes)
            a, b = a[keep], b[keep]
        self._write(a, b, sizes)
        report(0, 0)
        return TaskResult(counters={"candidate_pairs": candidates, "verified_pairs": len(a)})

    def _rows(self, nodes: np.ndarray, sizes: np.ndarray, column: str) -> list[Any]:
        """``column`` values for global row numbers ``nodes``, reading only the files that hold them."""
        offsets = np.cumsum(sizes) - sizes
        file_of = np.searchsorted(offsets, nodes, side="right") - 1
        out: list[Any] = [None] * len(nodes)
        for f in np.unique(file_of).tolist():
            mask = np.flatnonzero(file_of == f)
            table = read_table(self.signature_paths[f], [column])
            taken = table.column(column).take(nodes[mask] - offsets[f])
            for pos, value in zip(mask.tolist(), taken.to_pylist(), strict=True):
                out[pos] = value
        return out

    def _verify(self, a: np.ndarray, b: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """Keep pairs whose (estimated or exact) Jaccard similarity reaches the verify threshold; only the
        documents named by candidate pairs are read."""
        nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
        ia, ib = inverse[: len(a)], inverse[len(a) :]
        if self.verify == "estimated":
            sig = np.asarray(self._rows(nodes, sizes, "signature"), dtype=np.uint32)
            return np.asarray(jaccard_estimate(sig[ia], sig[ib]) >= self.verify_threshold)
        sets = [np.asarray(x, dtype=np.uint32) for x in self._rows(nodes, sizes, "shingles")]
        similarity = [jaccard_exact(sets[i], sets[j]) for i, j in zip(ia.tolist(), ib.tolist(), strict=True)]
        return np.asarray(similarity) >= self.verify_threshold

    def _write(self, a: np.ndarray, b: np.ndarray, sizes: np.ndarray) -> None:
        pa, _ = pyarrow_modules()
        nodes = np.concatenate([a, b])
        shards = self._rows(nodes, sizes, "shard")
        lines = np.asarray(self._rows(nodes, sizes, "line"), dtype=np.int64)
        ids = self._rows(nodes, sizes, "id")
        half = len(a)
        columns = {
            "a_shard": pa.array(shards[:half], pa.string()),
            "a_line": lines[:half].astype(np.int64),
            "a_id": pa.array(ids[:half], pa.string()),
            "b_shard": pa.array(shards[half:], pa.string()),
            "b_line": lines[half:].astype(np.int64),
            "b_id": pa.array(ids[half:], pa.string()),
        }
        write_table(self.edge_path, columns, {"format": FORMAT, "bands": list(self.bands)})


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
