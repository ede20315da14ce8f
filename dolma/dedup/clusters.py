"""Connected components over candidate edges, and one keeper per component, vectorised with numpy.

Documents are numbered by their global input order (files sorted, then lines), so "the smallest index in a
component" is "the first occurrence", and every choice here is independent of how the work was split.
"""

from __future__ import annotations

import numpy as np


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Label each of ``n`` nodes with the smallest node index of its connected component.

    Min-label propagation along edges, hooking both endpoints and their current roots, with pointer jumping
    (``label = label[label]``): each round is a few numpy passes over the edges, and the number of rounds
    grows with the logarithm of component diameters."""
    labels = np.arange(n, dtype=np.int64)
    if len(a) == 0:
        return labels
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    while True:
        la, lb = labels[a], labels[b]
        low = np.minimum(la, lb)
        before = labels.copy()
        for targets in (a, b, la, lb):  # the nodes and their current roots
            np.minimum.at(labels, targets, low)
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels, before):
            return labels


def component_sizes(labels: np.ndarray) -> np.ndarray:
    """Per node, the size of its component."""
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
