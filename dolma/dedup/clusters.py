"""Connected components of the candidate graph and one keeper per component, as rounds of tasks over
partitioned edges, so no process ever holds every edge or every document.

Documents are numbered by their global input order (files sorted, then lines), so "the smallest number in a
component" is "the first occurrence", and every choice here is independent of how the work was split.

Components: alternating *large-star* and *small-star* steps (Kiveris et al., "Connected Components in
MapReduce and Beyond", SoCC 2014). Each step is one set of tasks; the task for partition ``k`` sees the whole
neighbourhood of every node hashed to ``k`` (edges are stored in both directions) and writes new edges:

- large-star: every node links its *larger* neighbours to the smallest node of its neighbourhood;
- small-star: every node links its *smaller* neighbours, and itself, to the smallest of those.

Both keep each component connected and move every node closer to its component's smallest node; the
alternation ends, in O(log^2 n) steps at worst and a handful in practice, with each component a star around
its smallest node. A large-star task counts the nodes of its input that are not yet in that shape
(``unsettled``); when the count is zero everywhere the input was already the final stars, and the driver only
ever reads that one counter per task.

Keepers: the task of partition ``k`` takes the stars whose centre hashes to ``k`` (whole components) and
orders each one's members by priority: input order, or the highest ``keeper`` score with ties to input order,
the scores read from the signature files of the members only. The first is kept. With verification, a member
is removed only if it is itself a near-duplicate of a kept document (:func:`checked_keepers`): a component is
a chain of pairwise links, and its ends can be far apart. Cluster facts are then written per shard by tasks
over groups of shards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from dolma.dedup.signatures import FORMAT, splitmix64
from dolma.dedup.stage_files import gather_rows, read_range, write_sorted, write_table
from dolma.dedup.verification import pair_similarity
from dolma.executors import Report, TaskResult

BYTES_PER_EDGE = 96
"""Memory of one stored (directed) edge in a component task: the node pair and its key read (24 bytes), and
the sorted, de-duplicated neighbourhoods and output edges built from it."""


def partition_key(nodes: np.ndarray) -> np.ndarray:
    """A node's 32-bit partition key: a hash, so partitions get equal shares of nodes whatever their order."""
    return splitmix64(nodes.astype(np.uint64)) >> np.uint64(32)


def key_range(partition: int, partitions: int) -> tuple[int, int]:
    """The partition keys ``[low, high)`` of ``partition``: those with ``key * partitions >> 32 == partition``."""
    return -(-(partition << 32) // partitions), -(-((partition + 1) << 32) // partitions)


def edge_columns(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Undirected edges stored in both directions ``u -> v``, keyed by ``u``'s partition key, so the task of a
    partition reads every neighbour of its nodes."""
    u = np.concatenate([a, b]).astype(np.int64)
    v = np.concatenate([b, a]).astype(np.int64)
    return {"key": partition_key(u), "u": u, "v": v}


def neighbourhoods(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """De-duplicated directed edges sorted by ``(u, v)``, without self-loops, and the start of each ``u``'s
    run."""
    keep = u != v
    pairs = np.unique(np.stack([u[keep], v[keep]], axis=1), axis=0)
    u, v = pairs[:, 0], pairs[:, 1]
    starts = np.flatnonzero(np.concatenate([[True], u[1:] != u[:-1]])) if len(u) else np.zeros(0, np.int64)
    return u, v, starts


def large_star(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Edges ``(w, m(x))`` for every node ``x`` and neighbour ``w > x``, ``m(x)`` the smallest of ``x`` and its
    neighbours; and how many nodes are not yet a star centre (all neighbours larger) or a settled leaf (one
    neighbour, smaller)."""
    u, v, starts = neighbourhoods(u, v)
    if not len(u):
        return u, v, 0
    degree = np.diff(np.append(starts, len(u)))
    smallest = np.minimum(u[starts], v[starts])  # v is sorted within each run
    centre = v[starts] > u[starts]
    settled = centre | ((degree == 1) & ~centre)
    unsettled = int((~settled).sum())
    m = np.repeat(smallest, degree)
    larger = v > u
    return v[larger], m[larger], unsettled


def small_star(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``(w, m(x))`` for every node ``x`` and each ``w`` among ``x`` and its smaller neighbours (``w !=
    m(x)``), ``m(x)`` the smallest of those."""
    u, v, _ = neighbourhoods(u, v)
    smaller = v < u
    u, v = u[smaller], v[smaller]
    if not len(u):
        return u, v
    starts = np.flatnonzero(np.concatenate([[True], u[1:] != u[:-1]]))
    m = v[starts]  # the smallest smaller neighbour of each node that has one
    degree = np.diff(np.append(starts, len(u)))
    targets = np.repeat(m, degree)
    others = v != targets
    return np.concatenate([v[others], u[starts]]), np.concatenate([targets[others], m])


def stars(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For edges forming stars around their smallest nodes, ``(member, centre)`` of every member of every
    star whose centre is among the ``u`` (centres included, as their own members)."""
    u, v, starts = neighbourhoods(u, v)
    if not len(u):
        return u, v
    is_centre = (v[starts] > u[starts])[np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(u))))]
    centres = np.unique(u[is_centre])
    return np.concatenate([v[is_centre], centres]), np.concatenate([u[is_centre], centres])


def read_partition(paths: tuple[str, ...], partition: int, partitions: int) -> tuple[np.ndarray, np.ndarray]:
    """The edges ``u -> v`` of every node of ``partition`` stored in ``paths``."""
    low, high = key_range(partition, partitions)
    parts = [read_range(path, "key", low, high, ["u", "v"]) for path in paths]
    u = np.concatenate([p["u"] for p in parts]) if parts else np.zeros(0, np.int64)
    v = np.concatenate([p["v"] for p in parts]) if parts else np.zeros(0, np.int64)
    return u, v


@dataclass(frozen=True)
class StarTask:
    """One partition of one large-star or small-star step: edges of the previous step (or of the band stage)
    in, new edges out."""

    step: str
    inputs: tuple[str, ...]
    partition: int
    partitions: int
    output: str

    @property
    def label(self) -> str:
        return f"{self.step}-star, partition {self.partition + 1}/{self.partitions}"

    def outputs(self) -> list[str]:
        return [self.output]

    def run(self, report: Report) -> TaskResult:
        u, v = read_partition(self.inputs, self.partition, self.partitions)
        counters = {"edges": len(u)}
        if self.step == "large":
            a, b, counters["unsettled"] = large_star(u, v)
        else:
            a, b = small_star(u, v)
        write_sorted(self.output, "key", edge_columns(a, b), {"format": FORMAT, "counters": counters})
        report(0, 0)
        return TaskResult(counters=counters)


MAX_KEEPER_ROUNDS = 8
"""Rounds of the keeper check: each round resolves at least one document of every cluster still open, and
real clusters need one to three. Documents still open after the last round are kept (never removed unchecked):
a cap on work that can only cost recall, on a chain of more than this many mutually distant documents."""

Similarity = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Jaccard similarity of rows ``a[i]`` and ``b[i]`` (the verification's measure)."""


def checked_keepers(
    cluster: np.ndarray, member: np.ndarray, similarity: Similarity | None, threshold: float
) -> np.ndarray:
    """Per member (rows in priority order within each cluster: the keeper first), the member it is kept for:
    itself if it is kept. The first member is kept; every other member close enough to it (``similarity >=
    threshold``) is removed for it; of the rest, the first is kept too and the same is done, for at most
    :data:`MAX_KEEPER_ROUNDS` rounds. So a removed document is always a verified near-duplicate of a kept one,
    even in a chain A~B~C where C is far from A (C is then kept). Without ``similarity`` (``verify: none``)
    every member is removed for the first."""
    first = np.concatenate([[True], cluster[1:] != cluster[:-1]]) if len(cluster) else np.zeros(0, bool)
    head = np.flatnonzero(first)[np.cumsum(first) - 1]
    if similarity is None:
        return member[head]
    kept_for = member.copy()
    open_rows = np.arange(len(member))
    for _ in range(MAX_KEEPER_ROUNDS):
        if not len(open_rows):
            break
        c = cluster[open_rows]
        leads = np.concatenate([[True], c[1:] != c[:-1]])
        leader = open_rows[np.flatnonzero(leads)[np.cumsum(leads) - 1]]
        others = open_rows[~leads]
        near = similarity(member[others], member[leader[~leads]]) >= threshold
        kept_for[others[near]] = member[leader[~leads]][near]
        open_rows = others[~near]
    return kept_for


@dataclass(frozen=True)
class KeeperTask:
    """The stars centred in one partition (whole components): per member, the kept document it is removed for
    or itself (``cluster_id``, a global row), how many documents share that id (``cluster_size``) and whether
    it is removed (``duplicate``). With verification, each removal is checked against that kept document."""

    inputs: tuple[str, ...]
    partition: int
    partitions: int
    output: str
    signature_paths: tuple[str, ...]
    offsets: tuple[int, ...]
    by_score: bool
    verify: str = "none"
    verify_threshold: float = 1.0
    num_perm: int = 0
    memory_bytes: int = 1 << 30

    @property
    def label(self) -> str:
        return f"keepers, partition {self.partition + 1}/{self.partitions}"

    def outputs(self) -> list[str]:
        return [self.output]

    def run(self, report: Report) -> TaskResult:
        member, centre = stars(*read_partition(self.inputs, self.partition, self.partitions))
        order = np.lexsort((member, centre))  # by component, then input order: the centre (smallest) first
        if self.by_score and len(member):
            rows = np.unique(member)
            scores = gather_rows(list(self.signature_paths), np.asarray(self.offsets), rows, "keeper_score")
            score = scores.to_numpy()[np.searchsorted(rows, member)]
            order = np.lexsort((member, -score, centre))  # per component: highest score, then input order
        member, centre = member[order], centre[order]
        similarity = None
        if self.verify != "none":
            similarity = partial(
                pair_similarity,
                self.signature_paths,
                self.offsets,
                verify=self.verify,
                num_perm=self.num_perm,
                memory_bytes=self.memory_bytes,
            )
        kept_for = checked_keepers(centre, member, similarity, self.verify_threshold)
        _, group = np.unique(kept_for, return_inverse=True)
        size = np.bincount(group)[group] if len(group) else np.zeros(0, np.int64)
        duplicate = member != kept_for
        columns = {
            "node": member.astype(np.int64),
            "cluster_id": kept_for.astype(np.int64),
            "cluster_size": size.astype(np.int64),
            "duplicate": duplicate.astype(np.uint8),
        }
        counters = {"clusters": int(((~duplicate) & (size > 1)).sum()), "duplicates": int(duplicate.sum())}
        write_sorted(self.output, "node", columns, {"format": FORMAT, "counters": counters})
        report(0, 0)
        return TaskResult(counters=counters)


@dataclass(frozen=True)
class ClusterFileTask:
    """Cluster facts of a group of consecutive shards, one dense file per shard (one row per document):
    members of clusters as the keeper tasks decided, every other document its own cluster of one."""

    inputs: tuple[str, ...]
    cluster_paths: tuple[str, ...]
    offsets: tuple[int, ...]
    """Global row of each shard's first document, and of the document after the last shard's end."""
    shards: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"clusters of {self.shards[0]} (+{len(self.shards) - 1} shards)"

    def outputs(self) -> list[str]:
        return list(self.cluster_paths)

    def run(self, report: Report) -> TaskResult:
        low, high = self.offsets[0], self.offsets[-1]
        parts = [read_range(p, "node", low, high, ["cluster_id", "cluster_size", "duplicate"]) for p in self.inputs]
        node = np.concatenate([p["node"] for p in parts]) - low if parts else np.zeros(0, np.int64)
        cluster_id = np.arange(low, high, dtype=np.int64)
        size = np.ones(high - low, dtype=np.int64)
        duplicate = np.zeros(high - low, dtype=np.uint8)
        if parts:
            cluster_id[node] = np.concatenate([p["cluster_id"] for p in parts])
            size[node] = np.concatenate([p["cluster_size"] for p in parts])
            duplicate[node] = np.concatenate([p["duplicate"] for p in parts])
        totals = {"documents": 0, "duplicates": 0, "clusters": 0}
        for i, (shard, path) in enumerate(zip(self.shards, self.cluster_paths, strict=True)):
            rows = slice(self.offsets[i] - low, self.offsets[i + 1] - low)
            counters = {
                "documents": self.offsets[i + 1] - self.offsets[i],
                "duplicates": int(duplicate[rows].sum()),
                "clusters": int(((duplicate[rows] == 0) & (size[rows] > 1)).sum()),  # counted at the keeper
            }
            columns = {"duplicate": duplicate[rows], "cluster_id": cluster_id[rows], "cluster_size": size[rows]}
            write_table(path, columns, {"format": FORMAT, "shard": shard, "counters": counters})
            totals = {k: totals[k] + counters[k] for k in totals}
            report(0, 0)
        return TaskResult(counters=totals)
