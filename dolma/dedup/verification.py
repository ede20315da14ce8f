"""Similarity of pairs of documents, read from the signature files: the one place where MinHash verification
gathers what it compares, shared by the band stage (candidate edges) and the keeper stage (each removed
document against the document kept for it)."""

from __future__ import annotations

import numpy as np

from dolma.dedup.signatures import jaccard_estimate, jaccard_exact_pairs
from dolma.dedup.stage_files import gather_rows

EXACT_SET_BYTES = 2_000 * 24
"""Verification memory assumed per document with ``verify: exact``: a set of 2,000 shingle hashes (a document
of about 2,000 words), gathered (4 bytes) and sorted with its pair's tag (8 bytes, twice for the sort)."""


def pair_similarity(
    signature_paths: tuple[str, ...],
    offsets: tuple[int, ...],
    a: np.ndarray,
    b: np.ndarray,
    verify: str,
    num_perm: int,
    memory_bytes: int,
) -> np.ndarray:
    """Jaccard similarity of global rows ``a[i]`` and ``b[i]``: estimated (signature agreement) or exact
    (shingle sets). Pairs are taken in chunks whose gathered rows fit half of ``memory_bytes``; each chunk reads,
    from the files holding its documents, only that column's row groups holding them."""
    per_document = 3 * 4 * num_perm if verify == "estimated" else EXACT_SET_BYTES
    chunk = max(1, memory_bytes // 2 // (2 * per_document))
    column = "signature" if verify == "estimated" else "shingles"
    starts = np.asarray(offsets, dtype=np.int64)
    similarity = np.zeros(len(a), dtype=np.float64)
    for start in range(0, len(a), chunk):
        ca, cb = a[start : start + chunk], b[start : start + chunk]
        nodes, inverse = np.unique(np.concatenate([ca, cb]), return_inverse=True)
        ia, ib = inverse[: len(ca)], inverse[len(ca) :]
        gathered = gather_rows(list(signature_paths), starts, nodes, column)
        if verify == "estimated":
            sig = gathered.flatten().to_numpy().reshape(len(nodes), num_perm)
            similarity[start : start + len(ca)] = jaccard_estimate(sig[ia], sig[ib])
        else:
            list_offsets = gathered.offsets.to_numpy().astype(np.int64)
            similarity[start : start + len(ca)] = jaccard_exact_pairs(list_offsets, gathered.values.to_numpy(), ia, ib)
    return similarity
