"""C4 tagger: line spans tile the text, flags, the user's bad-word file, offsets into the original text."""

from __future__ import annotations

import pytest
from dolma.taggers.c4 import C4

from dolma import ConfigError, Document


def tag(text: str, **params: object) -> dict[str, list]:
    return C4(C4.Params(**params)).predict(Document(id="d", text=text))  # type: ignore[arg-type]


def test_line_spans_cover_offending_lines_with_their_newline() -> None:
    text = "A full sentence here.\nno end\nOK!\n"
    out = tag(text)
    assert out["lines_with_no_ending_punctuation"] == [(22, 29, 1.0), (33, 33, 1.0)]
    assert out["lines_with_too_few_words"] == [(22, 29, 1.0), (29, 33, 1.0), (33, 33, 1.0)]
    assert text[22:29] == "no end\n"
    assert out["line_count"] == [(0, len(text), 4)]


def test_document_flags() -> None:
    text = 'Lorem Ipsum dolor sit amet. Enable JavaScript now. function() { return 1; } "quoted."'
    out = tag(text)
    for flag in ("has_lorem_ipsum", "has_javascript", "has_curly_brace"):
        assert out[flag] == [(0, len(text), 1.0)]
    assert out["lines_with_javascript"] == [(0, len(text), 1.0)]
    assert "has_naughty_word" not in out  # no bad-word list, no attribute
    clean = tag("Plain text. Nothing else here. Three sentences!")
    for flag in ("has_lorem_ipsum", "has_javascript", "has_curly_brace", "has_too_few_sentences"):
        assert clean[flag] == []  # false: the key is there, with no span
    assert clean["lines_with_javascript"] == [] and clean["lines_with_policy"] == []
    assert clean["sentence_count"][0][2] == 3


def test_policy_lines_and_too_few_sentences() -> None:
    text = "Read our Privacy Policy today.\nThis site uses cookies.\nReal content goes here"
    out = tag(text)
    assert out["lines_with_policy"] == [(0, 31, 1.0), (31, 55, 1.0)]
    assert out["has_too_few_sentences"] == [(0, len(text), 1.0)]
    assert tag(text, min_sentences=2)["has_too_few_sentences"] == []


def test_bad_words_from_user_file(tmp_path) -> None:
    words = tmp_path / "bad.txt"
    words.write_text("darn\nheck no\n")
    assert tag("Well DARN it.", bad_words_path=str(words))["has_naughty_word"] == [(0, 13, 1.0)]
    assert tag("oh Heck Now.", bad_words_path=str(words))["has_naughty_word"]  # phrases match as substrings
    assert tag("darned luck.", bad_words_path=str(words))["has_naughty_word"] == []  # words match whole


def test_missing_bad_words_file_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="bad_words_path"):
        tag("x", bad_words_path=str(tmp_path / "nope.txt"))


def test_offsets_refer_to_the_original_text_when_lowercasing_grows_it() -> None:
    text = "İstanbul is big\nshort\n"  # "İ".lower() is two code points; dolma's offsets drift by one
    out = tag(text)
    assert out["lines_with_no_ending_punctuation"][0] == (0, 16, 1.0)
    assert text[16:22] == "short\n" and (16, 22, 1.0) in out["lines_with_too_few_words"]


def test_bad_words_file_on_s3(s3_bucket) -> None:
    from dolma import io

    io.write_bytes(f"{s3_bucket}/lists/bad.txt", b"darn\n")
    assert tag("Well darn it.", bad_words_path=f"{s3_bucket}/lists/bad.txt")["has_naughty_word"]


def reference_line_flags(text: str, min_words: int) -> tuple[list, list, int]:
    """The rule line by line, as C4 states it."""
    lines = text.split("\n")
    no_punctuation, too_few, start = [], [], 0
    for i, line in enumerate(lines):
        end = len(text) if i == len(lines) - 1 else start + len(line) + 1
        if not line.rstrip().endswith((".", "?", "!", '"')):
            no_punctuation.append((start, end, 1.0))
        if len(line.split()) < min_words:
            too_few.append((start, end, 1.0))
        start = end
    return no_punctuation, too_few, len(lines)


def test_line_spans_equal_the_rule_line_by_line_on_any_whitespace() -> None:
    import random

    rng = random.Random(11)
    pieces = ["word", "two words", "end.", "ask?", "wow!", '"quoted"', ".", " ", "  ", "\t", "\n", "\n\n", "\r\n"]
    pieces += ["\u3000", "\xa0", "\x1c", "\u2028", "\x85", "é", "😀", "\ud800", "日本語", "x\u3001", "!\u3000"]
    texts = ["", "\n", "one", "a b c", "a b c.\n"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(2000)]
    for min_words in (1, 3, 5):
        tagger = C4(C4.Params(min_words_per_line=min_words))
        docs = [Document(id=str(i), text=text) for i, text in enumerate(texts)]
        for text, out in zip(texts, tagger.predict_batch(docs), strict=True):
            no_punctuation, too_few, lines = reference_line_flags(text, min_words)
            assert out["lines_with_no_ending_punctuation"] == no_punctuation, text
            assert out["lines_with_too_few_words"] == too_few, text
            assert out["line_count"] == [(0, len(text), float(lines))]
