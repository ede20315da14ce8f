"""The MinHash clustering as it was done in one process before the stages were partitioned, kept as a test
oracle: every document's band hashes at once, one bucket pass per band, per-pair verification, union-find
components over every edge and keepers over every document. The partitioned stages must give exactly its
clusters, keepers and ids."""

from __future__ import annotations

import numpy as np

from dolma.dedup.bands import bucket_edges
from dolma.dedup.signatures import jaccard_estimate
from dolma.dedup.stage_files import band_column, read_table


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Label each of ``n`` nodes with the smallest node index of its connected component (min-label
    propagation with pointer jumping)."""
    labels = np.arange(n, dtype=np.int64)
    if len(a) == 0:
        return labels
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    while True:
        la, lb = labels[a], labels[b]
        low = np.minimum(la, lb)
        before = labels.copy()
        for targets in (a, b, la, lb):
            np.minimum.at(labels, targets, low)
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels, before):
            return labels


def component_sizes(labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels, minlength=len(labels))[labels]


def keepers(labels: np.ndarray, scores: np.ndarray | None = None) -> np.ndarray:
    """Per node, whether it is its component's keeper: the highest score (ties and ``scores=None``: the
    first in input order)."""
    n = len(labels)
    index = np.arange(n, dtype=np.int64)
    if scores is None:
        return labels == index
    order = np.lexsort((index, -np.asarray(scores, dtype=np.float64), labels))
    first = np.ones(n, dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    keep = np.zeros(n, dtype=bool)
    keep[order[first]] = True
    return keep


def jaccard_exact(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted unique hash arrays (two empty sets: 0)."""
    if len(a) == 0 and len(b) == 0:
        return 0.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


def cluster_facts(
    signature_paths: list[str], bands: int, verify: str, threshold: float, by_score: bool
) -> dict[str, np.ndarray]:
    """``duplicate``, ``cluster_id`` and ``cluster_size`` of every document in input order."""
    tables = [read_table(p) for p in signature_paths]
    n = sum(t.num_rows for t in tables)
    empty = np.concatenate([t.column("empty").to_numpy(zero_copy_only=False) for t in tables])
    present = np.flatnonzero(~empty)
    firsts, others = [], []
    for band in range(bands):
        values = np.concatenate([t.column(band_column(band)).to_numpy() for t in tables])[present]
        a, b = bucket_edges(values)
        firsts.append(present[a])
        others.append(present[b])
    a, b = np.concatenate(firsts), np.concatenate(others)
    if len(a):
        pairs = np.unique(np.stack([a, b], axis=1), axis=0)
        a, b = pairs[:, 0], pairs[:, 1]
    if verify == "estimated" and len(a):
        sig = np.concatenate([np.asarray(t.column("signature").to_pylist(), dtype=np.uint32) for t in tables])
        keep = jaccard_estimate(sig[a], sig[b]) >= threshold
        a, b = a[keep], b[keep]
    if verify == "exact" and len(a):
        sets = [np.asarray(s, dtype=np.uint32) for t in tables for s in t.column("shingles").to_pylist()]
        keep = np.array([jaccard_exact(sets[i], sets[j]) >= threshold for i, j in zip(a, b, strict=True)])
        a, b = a[keep], b[keep]
    labels = components(n, a, b)
    scores = np.concatenate([t.column("keeper_score").to_numpy() for t in tables]) if by_score else None
    keep = keepers(labels, scores)
    cluster_id = labels
    if scores is not None:
        keeper_of = np.zeros(n, dtype=np.int64)
        keeper_of[labels[keep]] = np.flatnonzero(keep)
        cluster_id = keeper_of[labels]
    return {"duplicate": (~keep).astype(np.uint8), "cluster_id": cluster_id, "cluster_size": component_sizes(labels)}
