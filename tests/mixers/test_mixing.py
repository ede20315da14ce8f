"""Helpers of the per-file mix task."""

from __future__ import annotations

from mixers.mixing import word_count


def test_word_count_matches_str_split():
    for text in ["", " ", "a", "  a b\t\tc\n", "a\x1cb\x1fc\x0bd\x0ce", "héllo  wörld\u3000x\xa0y", "x\n\ny "]:
        assert word_count(text) == len(text.split()), text
