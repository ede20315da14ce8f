"""The MinHash clustering as it was done in one process before the stages were partitioned, kept as a test
oracle: every document's band hashes at once, one bucket pass per band, per-pair verification, union-find
components over every edge, keepers over every document, and the keeper check one document at a time. The
partitioned stages must give exactly its clusters, keepers and ids."""

from __future__ import annotations

import numpy as np

from dolma.dedup.bands import bucket_edges
from dolma.dedup.clusters import MAX_KEEPER_ROUNDS
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


def kept_for(labels: np.ndarray, scores: np.ndarray | None, near) -> np.ndarray:
    """Per node, the node it is kept for (itself when kept): in each component, in priority order, the first
    open member is kept and every open member ``near`` it is removed for it; repeated while members are open,
    for at most ``MAX_KEEPER_ROUNDS`` rounds (then the rest are kept)."""
    n = len(labels)
    index = np.arange(n, dtype=np.int64)
    priority = np.zeros(n) if scores is None else -np.asarray(scores, dtype=np.float64)
    result = index.copy()
    members: dict[int, list[int]] = {}
    for node in np.lexsort((index, priority, labels)).tolist():
        members.setdefault(int(labels[node]), []).append(node)
    for nodes in members.values():
        open_nodes = nodes
        for _ in range(MAX_KEEPER_ROUNDS):
            if not open_nodes:
                break
            leader, rest = open_nodes[0], open_nodes[1:]
            for node in rest:
                if near(node, leader):
                    result[node] = leader
            open_nodes = [node for node in rest if result[node] == node]
    return result


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
    near = lambda i, j: True  # noqa: E731 (verify: none)
    if verify == "estimated":
        sig = np.concatenate([np.asarray(t.column("signature").to_pylist(), dtype=np.uint32) for t in tables])
        near = lambda i, j: jaccard_estimate(sig[i], sig[j]) >= threshold  # noqa: E731
        if len(a):
            keep = jaccard_estimate(sig[a], sig[b]) >= threshold
            a, b = a[keep], b[keep]
    if verify == "exact":
        sets = [np.asarray(s, dtype=np.uint32) for t in tables for s in t.column("shingles").to_pylist()]
        near = lambda i, j: jaccard_exact(sets[i], sets[j]) >= threshold  # noqa: E731
        keep = np.array([near(i, j) for i, j in zip(a, b, strict=True)], dtype=bool)
        a, b = a[keep], b[keep]
    labels = components(n, a, b)
    scores = np.concatenate([t.column("keeper_score").to_numpy() for t in tables]) if by_score else None
    cluster_id = kept_for(labels, scores, near)
    return {
        "duplicate": (cluster_id != np.arange(n)).astype(np.uint8),
        "cluster_id": cluster_id,
        "cluster_size": np.bincount(cluster_id, minlength=n)[cluster_id],
    }
