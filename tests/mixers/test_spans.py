"""Span replacement: bounds, {} for the original text, code-point offsets, overlapping spans."""

from __future__ import annotations

import pytest
from dolma.mixers.spans import SpanError, SpanRule, apply_replacements, merge_overlapping


def rule(min_score=None, max_score=None, replacement=""):
    return SpanRule.compile("$.attributes.x", min_score, max_score, replacement)


def test_min_inclusive_max_exclusive_like_dolma():
    doc = {"attributes": {"x": [[0, 1, 0.5], [1, 2, 0.9], [2, 3, 0.2], [3, 4, 0.95]]}}
    assert rule(0.5, 0.9).find(doc) == [(0, 1, "")]
    assert rule(min_score=0.5).find(doc) == [(0, 1, ""), (1, 2, ""), (3, 4, "")]
    assert rule(max_score=0.5).find(doc) == [(2, 3, "")]


def test_replacement_with_original_text_and_code_point_offsets():
    text = "héllo wörld ✓ done"
    spans = [(6, 11, "<{}>"), (12, 13, "[check]")]
    assert apply_replacements(text, spans) == "héllo <wörld> [check] done"


def test_document_level_span_replaces_everything():
    assert apply_replacements("abc def", [(0, 7, "")]) == ""
    assert apply_replacements("abc def", [(0, 7, "|||{}|||")]) == "|||abc def|||"


def test_paragraph_removal():
    text = "keep one\nduplicate\nkeep two\n"
    assert apply_replacements(text, [(9, 19, "")]) == "keep one\nkeep two\n"


def test_overlapping_spans_merge_into_one_region():
    text = "abcdefghijkl"
    # dolma 1.2.1 would give "<abc>defgh<ij>kl", leaving "def" of the second span in the text
    assert apply_replacements(text, [(0, 3, "<{}>"), (2, 6, "<{}>"), (8, 10, "<{}>")]) == "<abcdef>gh<ij>kl"
    assert apply_replacements(text, [(2, 6, "[{}]"), (0, 3, "<{}>")]) == "<abcdef>ghijkl"
    assert apply_replacements(text, [(0, 8, "X"), (2, 4, "Y")]) == "Xijkl"
    assert merge_overlapping([(0, 2, "a"), (2, 4, "b")]) == [(0, 2, "a"), (2, 4, "b")]  # touching: separate


def test_out_of_range_and_empty_spans_are_clamped_or_ignored():
    assert apply_replacements("abc", [(1, 99, "")]) == "a"
    assert apply_replacements("abc", [(2, 2, "X"), (3, 1, "Y")]) == "abc"


def test_malformed_spans_are_errors():
    with pytest.raises(SpanError):
        rule(0.5).find({"attributes": {"x": 3}})
    with pytest.raises(SpanError):
        rule(0.5).find({"attributes": {"x": [[0, 1]]}})
    assert rule(0.5).find({"attributes": {}}) == []
    assert rule(0.5).find({"attributes": {"x": None}}) == []


def test_jq_span_paths_select_as_dolma_does():
    doc = {"text": "mail a@b.co now", "attributes": {"pii": {"email": [[5, 11, 0.7], [0, 4, 0.95]]}}}
    rule = SpanRule.compile(".attributes?.pii?.email?", 0.5, 0.9, "[B]{}[E]", "jq")
    assert rule.find(doc) == [(5, 11, "[B]{}[E]")]
    assert apply_replacements(doc["text"], rule.find(doc)) == "mail [B]a@b.co[E] now"
    assert SpanRule.compile(".attributes?.pii?.company?", 0.5, None, "", "jq").find(doc) == []
    several = SpanRule.compile(".attributes.pii.email[]", 0.5, None, "x", "jq")  # two results: one list of spans
    assert several.find(doc) == [(5, 11, "x"), (0, 4, "x")]
