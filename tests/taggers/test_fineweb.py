"""FineWeb quality ratios on small texts."""

from __future__ import annotations

import pytest
from dolma.taggers.fineweb import FineWebQuality

from dolma import Document


def scores(text: str, **params: object) -> dict[str, float]:
    out = FineWebQuality(FineWebQuality.Params(**params)).predict(Document(id="d", text=text))  # type: ignore[arg-type]
    return {name: spans[0][2] for name, spans in out.items()}


def test_ratios() -> None:
    long_line = "This line is long enough to not count as a short one."
    text = f"{long_line}\nshort\n\nshort\nno end here but long enough to pass the length"
    got = scores(text)
    assert got["line_punct_ratio"] == pytest.approx(1 / 4)
    assert got["short_line_ratio"] == pytest.approx(2 / 4)
    assert got["char_duplicates_ratio"] == pytest.approx(len("short") / (len(text) - text.count("\n")))
    assert got["new_line_ratio"] == pytest.approx(text.count("\n") / len(text.split()))


def test_parameters_change_scores() -> None:
    assert scores("abc\ndef", short_line_length=2)["short_line_ratio"] == 0.0
    assert scores("end;\nend;", terminal_punctuation=";")["line_punct_ratio"] == 1.0


def test_blank_text_scores_zero() -> None:
    blank = scores("\n \n")
    assert blank["line_punct_ratio"] == blank["short_line_ratio"] == blank["char_duplicates_ratio"] == 0.0
    assert blank["new_line_ratio"] == 2.0  # two newlines, no word
    got = scores("")
    assert got["line_punct_ratio"] == 0.0 and got["new_line_ratio"] == 0.0
