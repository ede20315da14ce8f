"""Documents of every shape through the rule-based quality taggers: inputs that make backtracking regexes or
per-position rescans blow up (dolma's issue #123: 64 s on one emoji-heavy document) finish quickly, and
empty, blank, short and long texts all get the same attribute keys."""

from __future__ import annotations

import time

import pytest
from dolma.taggers.c4 import C4
from dolma.taggers.fineweb import FineWebQuality
from dolma.taggers.gopher import GopherQuality, GopherRepetition
from dolma.taggers.pii import Pii

from dolma import Document

MB = 1_000_000
ADVERSARIAL = {
    "100k_emoji": "😀" * 100_000,
    "100k_emoji_words": "😀 🎉 " * 50_000,
    "1mb_single_line_words": ("word " * (MB // 5)).strip(),
    "1mb_single_token": "a" * MB,
    "1mb_token_then_at": "a" * MB + "@",
    "1mb_spaces_then_digits": " " * MB + "4155552671",
    "1mb_digits": "7" * MB,
    "1mb_dotted_digits": "1." * (MB // 2),
    "1mb_at_signs": "@." * (MB // 2),
    "100k_one_char_lines": "x\n" * 100_000,
    "100k_blank_lines": "\n" * 100_000,
    "1mb_dots": "." * MB,
}
TAGGERS = [GopherQuality, GopherRepetition, C4, FineWebQuality, Pii]
BUDGET_SECONDS = 5.0  # each finishes in well under a second here; the budget allows a loaded 2-core CI machine


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cls", TAGGERS, ids=lambda c: c.name)
def test_adversarial_inputs_finish_quickly(cls: type) -> None:
    tagger = cls(cls.Params())
    slow = {}
    for name, text in ADVERSARIAL.items():
        started = time.process_time()
        out = tagger.predict(Document(id=name, text=text))
        elapsed = time.process_time() - started
        assert out, name
        if elapsed > BUDGET_SECONDS:
            slow[name] = round(elapsed, 2)
    assert not slow, f"{cls.name} took too long on {slow}"


def test_emoji_words_are_symbol_words() -> None:
    out = GopherQuality(GopherQuality.Params()).predict(Document(id="e", text=ADVERSARIAL["100k_emoji_words"]))
    assert out["word_count"][0][2] == 100_000
    assert out["non_symbol_word_count"][0][2] == 0


def test_every_key_on_every_row_through_dolma_tag(tmp_path) -> None:
    """`dolma mix` checks the attribute names a config uses against the first rows, so a key must not depend
    on the document: empty, blank, short and long texts get the same keys."""
    import json

    from dolma.cli import main
    from tests.helpers import read_jsonl, write_docs

    texts = ["", "\n\n \n", "one", "two words here.", "A line.\n\nAnother, longer one with a@b.org!\n" * 20]
    write_docs(f"{tmp_path}/documents/x.jsonl.gz", [{"id": str(i), "text": t} for i, t in enumerate(texts)])
    bad = tmp_path / "bad.txt"
    bad.write_text("darn\n")
    config = {
        "documents": [f"{tmp_path}/documents/x.jsonl.gz"],
        "experiment": "q",
        "processes": 1,
        "taggers": ["gopher", "gopher_repetition", {"c4": {"bad_words_path": str(bad)}}, "fineweb_quality", "pii"],
    }
    (tmp_path / "tag.json").write_text(json.dumps(config))
    assert main(["tag", "-c", str(tmp_path / "tag.json")]) == 0
    rows = read_jsonl(f"{tmp_path}/attributes/q/x.jsonl.gz")
    assert len(rows) == len(texts)
    keys = [set(row["attributes"]) for row in rows]
    assert all(k == keys[0] for k in keys)
    assert {"q__gopher_repetition__fraction_of_characters_in_duplicate_10grams", "q__c4__has_naughty_word"} <= keys[0]


@pytest.mark.parametrize("cls", [cls for cls in TAGGERS if cls.exact_scores], ids=lambda c: c.name)
def test_exact_score_taggers_return_floats_already_rounded(cls: type) -> None:
    """``dolma tag`` writes an ``exact_scores`` tagger's spans without rounding them, so every score must
    already be a float with at most 5 decimals (an int would be written as ``1``, not dolma's ``1.0``)."""
    tagger = cls(cls.Params())
    texts = [*ADVERSARIAL.values(), "", "Call 415-555-2671 or mail a@b.org.\nshort\n1.2.3.4 of 7 words " * 3]
    for text in texts:
        for key, spans in tagger.predict(Document(id="x", text=text)).items():
            for _start, _end, score in spans:
                assert type(score) is float and score == round(score, 5), (key, score)
