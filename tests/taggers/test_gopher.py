"""Gopher quality and repetition taggers: each statistic on small texts, dolma's n-gram definitions, blank
lines never counted as lines."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from dolma.taggers.gopher import GopherQuality, GopherRepetition, batch_ngram_fractions, ngram_fractions

from dolma import Document


def rounded(value: float) -> float:
    """Scores are stored as floats rounded to 5 decimals; the taggers round them themselves."""
    return round(value, 5)


def quality(text: str) -> dict[str, float]:
    out = GopherQuality(GopherQuality.Params()).predict(Document(id="d", text=text))
    assert all(spans == [(0, len(text), spans[0][2])] for spans in out.values())
    return {name: spans[0][2] for name, spans in out.items()}


def repetition(text: str) -> dict[str, float]:
    out = GopherRepetition(GopherRepetition.Params()).predict(Document(id="d", text=text))
    return {name: spans[0][2] for name, spans in out.items() if spans}


def dolma_ngrams(words: list[str]) -> dict[str, float]:
    """allenai/dolma 1.2.1's gopher_v1 n-gram statistics, restated plainly as the reference."""
    out: dict[str, float] = {}
    chars = sum(len(w) for w in words)
    for n in range(2, 11):
        counts = Counter(zip(*[words[i:] for i in range(n)], strict=False))
        if not counts:
            continue
        if n <= 4:
            gram, count = counts.most_common(1)[0]
            out[f"fraction_of_characters_in_most_common_{n}grams"] = count * sum(map(len, gram)) / max(chars, 1)
        else:
            total = sum(c * sum(map(len, g)) for g, c in counts.items())
            dup = sum(c * sum(map(len, g)) for g, c in counts.items() if c > 1)
            out[f"fraction_of_characters_in_duplicate_{n}grams"] = dup / max(total, 1)
    return out


def test_word_statistics() -> None:
    text = "The cat sat on the mat with #tags and … dots\n12 34 ... ok"
    got = quality(text)
    words = text.split()
    assert got["word_count"] == len(words) == 15
    assert got["character_count"] == len(text)
    assert got["symbol_to_word_ratio"] == rounded(2 / 15)  # "#tags" and "…"
    assert got["non_symbol_word_count"] == 13  # "…" and "..." are symbol words
    assert got["fraction_of_words_with_alpha_character"] == rounded(11 / 15)
    assert got["required_word_count"] == 3  # the, with, and: case-sensitive like dolma ("The" does not count)
    assert got["distinct_stop_word_count"] == 3  # the, with, and
    assert got["median_word_length"] == 3.0
    non_symbol = [w for w in words if w not in ("…", "...")]
    assert got["mean_word_length"] == rounded(sum(map(len, non_symbol)) / len(non_symbol))


def test_bullet_and_ellipsis_lines_ignore_blank_lines() -> None:
    text = "* one\n\n- two\n\n   \nthree…\nfour"
    got = quality(text)
    assert got["fraction_of_lines_starting_with_bullet_point"] == rounded(2 / 4)
    assert got["fraction_of_lines_ending_with_ellipsis"] == rounded(1 / 4)


def test_empty_text_scores_zero() -> None:
    got = quality("")
    assert got["word_count"] == 0 and got["character_count"] == 0 and got["mean_word_length"] == 0.0
    assert repetition("")["fraction_of_duplicate_lines"] == 0.0


def test_blank_lines_are_not_duplicate_lines() -> None:
    text = "alpha beta\n\nsecond line here\n\n\nthird one\n"
    got = repetition(text)
    assert got["fraction_of_duplicate_lines"] == 0.0
    assert got["fraction_of_characters_in_duplicate_lines"] == 0.0


def test_duplicate_lines_and_paragraphs() -> None:
    text = "same line\nother\nsame line\n\npara one\n\nsame line\nother\nsame line"
    got = repetition(text)
    # non-blank lines: same line x4, other x2, para one x1 -> 6 of 7 are in repeated groups (dolma's convention)
    assert got["fraction_of_duplicate_lines"] == rounded(6 / 7)
    word_chars = sum(len(w) for w in text.split())
    assert got["fraction_of_characters_in_duplicate_lines"] == rounded((4 * 9 + 2 * 5) / word_chars)
    # paragraphs: "same line\nother\nsame line" x2, "para one" x1
    assert got["fraction_of_duplicate_paragraphs"] == rounded(2 / 3)
    para = len("same line\nother\nsame line")
    assert got["fraction_of_characters_in_duplicate_paragraphs"] == rounded(2 * para / (2 * para + 8))


def test_ngram_attributes_empty_below_their_size() -> None:
    out = GopherRepetition(GopherRepetition.Params()).predict(Document(id="d", text="one two three"))
    assert out["fraction_of_characters_in_most_common_3grams"] == [(0, 13, 1.0)]  # the one 3-gram: all 11 chars
    assert out["fraction_of_characters_in_most_common_4grams"] == []
    assert out["fraction_of_characters_in_duplicate_5grams"] == []


def test_top_ngram_tie_goes_to_first_seen() -> None:
    words = "aaaa b aaaa b c d c d".split()  # (aaaa b) and (c d) both twice: dolma keeps the first seen
    got = ngram_fractions(words)
    assert got["fraction_of_characters_in_most_common_2grams"] == pytest.approx(2 * 5 / 14)  # not (c d): 2 * 2 / 14


@pytest.mark.parametrize("seed", range(5))
def test_batched_ngrams_match_dolma_definition_per_document(seed: int) -> None:
    rng = random.Random(seed)
    docs = []
    for _ in range(150):
        alphabet = rng.choice(["ab", "abcd", "abcdefghijklmnopqrstuvwxyz"])
        docs.append([rng.choice(alphabet) * rng.randint(1, 4) for _ in range(rng.randint(0, 400))])
    docs.append(docs[0])  # the same text twice in a batch: its n-grams must not count as repeated across them
    for words, got in zip(docs, batch_ngram_fractions(docs), strict=True):
        assert got == pytest.approx(dolma_ngrams(words), abs=1e-12)


def test_repeated_text_scores_high() -> None:
    text = " ".join(["the quick brown fox jumps over the lazy dog"] * 20)
    got = repetition(text)
    assert got["fraction_of_characters_in_duplicate_10grams"] > 0.9
    assert got["fraction_of_characters_in_most_common_2grams"] > 0.1


def test_stop_words_parameter() -> None:
    tagger = GopherQuality(GopherQuality.Params(stop_words=("cat",)))
    out = tagger.predict(Document(id="d", text="cat cat dog the"))
    assert out["required_word_count"][0][2] == 2 and out["distinct_stop_word_count"][0][2] == 1


def test_word_classes_match_unicode_categories_on_any_script() -> None:
    import unicodedata

    rng = random.Random(7)
    pool = "aZé中ß²½Ⅻ٣7_-—…#.,!?😀🎉\u0301\u200b"
    words = ["".join(rng.choice(pool) for _ in range(rng.randint(1, 4))) for _ in range(3000)]
    got = quality(" ".join(words))
    symbol_words = sum(all(unicodedata.category(c)[0] in "PS" for c in w) for w in words)
    assert got["non_symbol_word_count"] == len(words) - symbol_words
    assert got["fraction_of_words_with_alpha_character"] == rounded(
        sum(any(c.isalpha() for c in w) for w in words) / len(words)
    )
    assert got["symbol_to_word_ratio"] == rounded(sum("#" in w or "…" in w for w in words) / len(words))


def test_documented_mixer_filters_keep_prose_and_drop_repetition() -> None:
    """The filter blocks of docs/taggers.md parse with the mixer's JSONPath and decide as described."""
    import pathlib

    import yaml
    from dolma.mixers.filters import DocumentFilter

    doc_text = (pathlib.Path(__file__).parents[2] / "docs" / "taggers.md").read_text()
    blocks = [yaml.safe_load(b.split("```")[0]) for b in doc_text.split("```yaml\n")[1:]]
    for block in blocks:  # every documented filter parses (c4's, pii's too)
        if "filter" in block:
            DocumentFilter(block["filter"].get("include", []), block["filter"].get("exclude", []), "jsonpath")
    gopher_filter = next(b["filter"] for b in blocks if "gopher" in str(b.get("filter", "")))
    rules = DocumentFilter(gopher_filter["include"], gopher_filter["exclude"], "jsonpath")

    def decide(text: str) -> str | None:
        doc = Document(id="d", text=text)
        attributes = {}
        for cls in (GopherQuality, GopherRepetition):
            for name, spans in cls(cls.Params()).predict(doc).items():
                attributes[f"quality__{cls.name}__{name}"] = [list(span) for span in spans]
        return rules.rule({"attributes": attributes})

    rng = random.Random(0)
    vocabulary = "the of and to that have with be cat dog house river light stone music water garden".split()
    prose = ". ".join(" ".join(rng.choice(vocabulary) for _ in range(12)) for _ in range(20)) + "."
    assert decide(prose) is None
    assert decide("too short to keep") == "filter.include"
    assert decide("\n".join(["the same line of text with the words in it"] * 30)) is not None


def test_taggers_share_one_analysis_per_text_object() -> None:
    from dolma.taggers.text import analyse

    text = "shared words here\nand a line"
    first = analyse(text)
    assert analyse(text) is first
    copy = "".join(list(text))  # equal but another object: analysed again, never confused with another text
    assert copy is not text and analyse(copy) is not first and analyse(copy).words == first.words
