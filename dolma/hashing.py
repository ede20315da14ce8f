"""Seeded hashing shared by taggers and the mixer: the same number for the same key on every machine."""

from __future__ import annotations

import xxhash


def unit_hash(key: str, seed: int) -> float:
    """A uniform number in [0, 1) from ``key`` and ``seed``: the same on every machine and run."""
    return xxhash.xxh64_intdigest(key.encode(), seed=seed) / 2.0**64
