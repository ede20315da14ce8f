"""gopher_repetition ranks words by their string hash; a hash collision must fall back to exact ranks."""

from __future__ import annotations

import random

import dolma.taggers.gopher as gopher
import pytest


@pytest.mark.parametrize("fake_hash", [lambda word: 0, len])
def test_colliding_word_hashes_give_the_exact_statistics(monkeypatch: pytest.MonkeyPatch, fake_hash) -> None:
    rng = random.Random(7)
    docs = [[rng.choice("abcde") * rng.randint(1, 3) for _ in range(rng.randint(0, 60))] for _ in range(40)]
    exact = gopher.batch_ngram_fractions(docs)
    monkeypatch.setattr(gopher, "hash", fake_hash, raising=False)  # every word of a document shares a key
    assert gopher.batch_ngram_fractions(docs) == exact
    assert gopher.batch_ngram_fractions(docs, [len(set(words)) for words in docs]) == exact
