"""Exact dedup keys and decisions: dolma's rules for documents, paragraphs and n-grams, checked against a
plain one-key-at-a-time reference with a Python set."""

from __future__ import annotations

import random

import numpy as np
import pytest

from dolma.dedup.array_files import load_arrays, save_arrays
from dolma.dedup.exact_keys import WORDS, KeySpec, ShardKeys, compile_path, select, unit_spans
from dolma.errors import ConfigError


def decide_with_set(spec: KeySpec, texts: list[str]) -> list[list[list[float]]]:
    """Reference: build keys for one shard and decide with an exact set, key by key, in order."""
    keys = ShardKeys(spec)
    for i, text in enumerate(texts):
        keys.add_document(i, text, text)
    arrays = keys.arrays()
    arrays["n_docs"] = np.asarray(len(texts))
    seen: set[int] = set()
    dup = []
    for h in arrays["hashes"].tolist():
        dup.append(h in seen)
        seen.add(h)
    return unit_spans(spec, arrays, np.array(dup, dtype=bool))


def paragraph_reference(texts: list[str], sep: str) -> list[list[list[float]]]:
    """Independent model of whole-paragraph dedup over code-point offsets."""
    seen: set[str] = set()
    out = []
    for text in texts:
        spans = []
        start = 0
        pieces = text.split(sep)
        for i, piece in enumerate(pieces):
            end = start + len(piece) + (len(sep) if i < len(pieces) - 1 else 0)
            if end > start:
                if piece in seen:
                    spans.append([start, end, 1])
                seen.add(piece)
            start = end
        out.append(spans if text else [])
    return out


@pytest.mark.parametrize("sep", ["\n", "\n\n", "§"])
def test_paragraph_spans_match_an_independent_model(sep):
    rng = random.Random(7)
    pool = ["héllo wörld", "plain line", "", "  ", "ünïcode ✓ line", "x"]
    texts = [sep.join(rng.choice(pool) for _ in range(rng.randint(0, 6))) for _ in range(300)]
    spec = KeySpec(mode="paragraphs", attribute_name="p", separator=sep)
    assert decide_with_set(spec, texts) == paragraph_reference(texts, sep)


def test_spans_are_code_point_offsets():
    spec = KeySpec(mode="paragraphs", attribute_name="p")
    spans = decide_with_set(spec, ["ü\nsame", "ééé\nsame\n"])
    assert spans == [[], [[4, 9, 1]]]
    assert "ééé\nsame\n"[4:9] == "same\n"


def test_ngram_overlap_fraction_and_threshold():
    first = "one two three four five six"
    second = "one two three four five seven"  # n=3: 4 n-grams, 3 seen before
    spec = KeySpec(mode="paragraphs", attribute_name="p", ngram_length=3, overlap_threshold=0.5)
    assert decide_with_set(spec, [first, second]) == [[], [[0, len(second), 0.75]]]
    strict = KeySpec(mode="paragraphs", attribute_name="p", ngram_length=3, overlap_threshold=0.8)
    assert decide_with_set(strict, [first, second]) == [[], []]


def test_ngram_stride_and_short_paragraphs():
    spec = KeySpec(mode="paragraphs", attribute_name="p", ngram_length=3, stride=2, overlap_threshold=1.0)
    keys = ShardKeys(spec)
    keys.add_document(0, "a b c d e f g\nshort one", None)
    arrays = keys.arrays()
    assert arrays["unit_ngrams"].tolist() == [3, 0]  # 3-grams start at words 0, 2, 4; "short one" has none
    short = decide_with_set(spec, ["tiny\nx", "tiny\ny"])
    assert short == [[], [[0, 5, 1.0]]]  # fewer than two n-grams: the whole paragraph decides, score 1
    skip = KeySpec(mode="paragraphs", attribute_name="p", ngram_length=3, skip_short_paragraphs=True)
    assert decide_with_set(skip, ["tiny\nx", "tiny\ny"]) == [[], []]


def test_threshold_zero_writes_scored_spans_like_dolma():
    spec = KeySpec(mode="paragraphs", attribute_name="p", ngram_length=2, overlap_threshold=0.0)
    assert decide_with_set(spec, ["a b c"]) == [[[0, 5, 0.0]]]


def test_min_length_min_words_skip_empty():
    texts = ["ab\n\nab\n\nlonger text here\nlonger text here"]
    plain = decide_with_set(KeySpec(mode="paragraphs", attribute_name="p"), texts)
    assert plain == [[[4, 7, 1], [7, 8, 1], [25, 41, 1]]]  # the second empty paragraph is a duplicate too
    empty = decide_with_set(KeySpec(mode="paragraphs", attribute_name="p", skip_empty=True), texts)
    assert empty == [[[4, 7, 1], [25, 41, 1]]]
    length = decide_with_set(KeySpec(mode="paragraphs", attribute_name="p", min_length=3), texts)
    assert length == [[[25, 41, 1]]]
    words = decide_with_set(KeySpec(mode="paragraphs", attribute_name="p", min_words=3), texts)
    assert words == [[[25, 41, 1]]]


def test_documents_mode_span_covers_the_text():
    spec = KeySpec(mode="documents", attribute_name="d", key="$.text")
    assert decide_with_set(spec, ["same", "other", "same"]) == [[], [], [[0, 4, 1]]]


def test_word_units_follow_unicode_segmentation_closely():
    assert WORDS.findall("You can follow the RSS 2.0 feed, can't you?") == [
        "You",
        "can",
        "follow",
        "the",
        "RSS",
        "2.0",
        "feed",
        ",",
        "can't",
        "you",
        "?",
    ]


def test_jsonpath_subset():
    doc = {"text": "t", "metadata": {"url": "u", "tags": ["a", "b"], "n": 3}}
    assert select(doc, compile_path("$.metadata.url")) == "u"
    assert select(doc, compile_path("$['metadata'].tags[1]")) == "b"
    assert select(doc, compile_path("$.metadata.n")) == "3"
    assert select(doc, compile_path("$.metadata.missing")) is None
    for bad in ("metadata.url", "$", "$..url"):
        with pytest.raises(ConfigError):
            compile_path(bad)


def test_stage_files_round_trip(tmp_path, s3_bucket):
    arrays = {
        "n_docs": np.asarray(5),
        "digest": np.asarray("0123abcd"),
        "matrix": np.arange(6, dtype=np.uint64).reshape(2, 3).T,
        "empty": np.zeros(0, dtype=np.int64),
        "flags": np.array([True, False, True]),
    }
    for path in (str(tmp_path / "x.arrays"), f"{s3_bucket}/work/x.arrays"):
        save_arrays(path, arrays)
        back = load_arrays(path)
        assert set(back) == set(arrays)
        for name, value in arrays.items():
            assert back[name].shape == value.shape and back[name].dtype == value.dtype
            assert np.array_equal(back[name], value)
