"""Sampling: seeded by the document id, whole copies plus a fraction, targets from a histogram."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dolma.mixers.sampling import (
    HASH_BINS,
    Sampler,
    digit_histogram,
    hash_bin,
    order_keys,
    sampler_for_target,
    top_threshold,
)

from dolma.hashing import unit_hash

IDS = [f"doc-{i}" for i in range(20_000)]


def test_rate_below_one_keeps_about_that_fraction_and_depends_only_on_id_and_seed():
    sampler = Sampler.from_rate(0.3, seed=1)
    kept = [i for i in IDS if sampler.copies(i)]
    assert abs(len(kept) / len(IDS) - 0.3) < 0.02
    assert kept == [i for i in reversed(IDS) if Sampler.from_rate(0.3, seed=1).copies(i)][::-1]
    assert kept != [i for i in IDS if Sampler.from_rate(0.3, seed=2).copies(i)]
    assert all(unit_hash(i, 1) < 0.3 for i in kept)


def test_upsampling_gives_whole_copies_plus_a_fraction():
    sampler = Sampler.from_rate(2.25, seed=0)
    copies = [sampler.copies(i) for i in IDS]
    assert set(copies) == {2, 3}
    assert abs(sum(copies) / len(IDS) - 2.25) < 0.02
    assert Sampler.from_rate(3.0, 0).copies("x") == 3
    assert Sampler.from_rate(0.0, 0).copies("x") == 0


def test_target_from_histogram_lands_within_a_bin():
    hist = np.zeros(HASH_BINS, dtype=np.int64)
    for i in IDS:
        hist[hash_bin(i, 5)] += 1
    for target in (1_000, 12_345, 20_000, 50_000):
        sampler = sampler_for_target(hist, target, seed=5)
        total = sum(sampler.copies(i) for i in IDS)
        assert abs(total - target) <= max(3, hist.max()), (target, total)
    assert sampler_for_target(hist, 40_000, 5) == Sampler(2, 0.0, 5)


def test_token_target_weights_bins_by_tokens():
    tokens = {i: (k % 7) + 1 for k, i in enumerate(IDS)}
    hist = np.zeros(HASH_BINS, dtype=np.int64)
    for i in IDS:
        hist[hash_bin(i, 0)] += tokens[i]
    sampler = sampler_for_target(hist, 30_000, seed=0)
    kept_tokens = sum(sampler.copies(i) * tokens[i] for i in IDS)
    assert abs(kept_tokens - 30_000) <= 7 * 10


def select(parts, fraction):
    """The radix select over scores split across shards, as the mix's tasks run it."""
    return top_threshold(lambda p, k: sum(digit_histogram(order_keys(x), p, k) for x in parts), fraction)


def test_top_threshold_keeps_the_best_fraction():
    scores = np.arange(1000, dtype=np.float64)
    threshold = select([scores[:300], scores[300:]], 0.1)
    assert (scores >= threshold).sum() == 100 and threshold == 900
    assert select([scores], 1.0) == 0
    assert select([np.zeros(0)], 0.5) == math.inf


@pytest.mark.parametrize("seed", range(5))
def test_the_radix_select_equals_sorting_on_any_scores(seed):
    """Negative, tied, huge and tiny scores split over shards: the threshold is exactly the sorted one."""
    rng = np.random.default_rng(seed)
    scores = np.concatenate(
        [rng.normal(0, 1e3, 500), rng.choice([-1.5, 0.0, -0.0, 2.0, 7.25], 400), rng.random(100) * 1e-300, [np.inf]]
    )
    parts = np.array_split(rng.permutation(scores), 7)
    for fraction in (0.001, 0.1, 0.37, 0.5, 0.999, 1.0):
        keep = max(1, math.ceil(fraction * len(scores)))
        expected = np.sort(scores)[len(scores) - keep] if keep < len(scores) else scores.min()
        assert select(parts, fraction) == expected
