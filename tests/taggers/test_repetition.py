"""Longest repeated n-gram: exact against brute force, spans, units and adversarial inputs."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from dolma.taggers.repetition import Repetition, longest_repeat

from dolma import Document


def brute_force(seq: list[int]) -> int:
    best = 0
    for length in range(1, len(seq)):
        windows = [tuple(seq[i : i + length]) for i in range(len(seq) - length + 1)]
        if len(set(windows)) < len(windows):
            best = length
    return best


def test_matches_brute_force_on_random_sequences() -> None:
    rng = random.Random(0)
    for _ in range(300):
        seq = [rng.randrange(rng.choice([2, 3, 5])) for _ in range(rng.randrange(0, 40))]
        length, pair = longest_repeat(np.array(seq, dtype=np.uint32))
        assert length == brute_force(seq), seq
        if length:
            assert pair is not None and pair[0] < pair[1]
            assert seq[pair[0] : pair[0] + length] == seq[pair[1] : pair[1] + length]
        else:
            assert pair is None


def test_thue_morse_sequence_does_not_fool_the_hash() -> None:
    """Thue-Morse strings collide under any polynomial hash modulo 2**64; ours uses prime moduli."""
    seq = [bin(i).count("1") % 2 for i in range(4096)]
    length, pair = longest_repeat(np.array(seq, dtype=np.uint32))
    assert pair is not None and seq[pair[0] : pair[0] + length] == seq[pair[1] : pair[1] + length]
    keys = {tuple(seq[i : i + length + 1]) for i in range(len(seq) - length)}
    assert len(keys) == len(seq) - length  # no longer window repeats


def tag(text: str, unit: str = "word") -> dict[str, list[tuple[int, int, float]]]:
    return Repetition(Repetition.Params(unit=unit)).predict(Document(id="r", text=text))  # type: ignore[arg-type]


def test_word_spans_point_at_both_occurrences() -> None:
    text = "the cat sat on the mat and then the cat sat on the hat"
    attributes = tag(text)
    assert attributes["longest_repeated_ngram"] == [(0, len(text), 5)]
    (s1, e1, n1), (s2, e2, n2) = attributes["longest_repeated_spans"]
    assert text[s1:e1] == text[s2:e2] == "the cat sat on the" and n1 == n2 == 5 and s1 < s2
    assert attributes["longest_repeated_fraction"] == [
        (0, len(text), pytest.approx(len("the cat sat on the") / len(text)))
    ]


def test_character_unit() -> None:
    text = "abcXabcYab"
    attributes = tag(text, unit="char")
    assert attributes["longest_repeated_ngram"][0][2] == 3
    assert [text[s:e] for s, e, _ in attributes["longest_repeated_spans"]] == ["abc", "abc"]


def test_no_repeat() -> None:
    for text in ("", "one", "all words differ here"):
        attributes = tag(text)
        assert attributes["longest_repeated_ngram"] == [(0, len(text), 0)]
        assert attributes["longest_repeated_spans"] == []
        assert attributes["longest_repeated_fraction"] == [(0, len(text), 0.0)]


@pytest.mark.parametrize("unit", ["word", "char"])
@pytest.mark.parametrize(
    "text",
    ["😀" * 100_000, "😀 " * 100_000, ("lorem ipsum dolor " * 60_000)[:1_000_000], "a\n" * 100_000],
    ids=["emoji", "spaced_emoji", "one_long_line", "one_char_lines"],
)
def test_adversarial_inputs_complete_quickly(text: str, unit: str) -> None:
    start = time.perf_counter()
    attributes = tag(text, unit)
    assert time.perf_counter() - start < 10
    assert attributes["longest_repeated_ngram"][0][2] >= 0
