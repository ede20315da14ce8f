"""c4's bad-phrase search skips texts whose words rule a phrase out; it must never skip a text that has one."""

from __future__ import annotations

import random

from taggers.c4 import PhraseFinder

PHRASES = ("heck no", "a b", "tongue in a", "darn it all", "no way out", "2 girls 1 cup")


def contains(finder: PhraseFinder, text: str) -> bool:
    lowered = text.lower()
    return any(finder.phrases[i] in lowered for i in finder.candidates(set(lowered.split())))


def test_finds_exactly_the_texts_with_a_phrase_also_as_parts_of_words() -> None:
    rng = random.Random(3)
    pieces = ["heck", "no", "nope", "oheck", "a", "ab", "b", "ba", "tongue", "in", "x", "darn", "it", "all", "2", "1"]
    pieces += ["girls", "cup", "cups", "way", "out", "outer", "DARN", "It"]
    finder = PhraseFinder(PHRASES)
    finder.max_remembered = 5  # forget often: what it remembers is only a shortcut
    for _ in range(3000):
        text = "".join(rng.choice(pieces) + rng.choice([" ", " ", "  ", "\n", "-"]) for _ in range(rng.randint(1, 12)))
        assert contains(finder, text) == any(phrase in text.lower() for phrase in PHRASES), text
    assert contains(finder, "OHECK NOPE")  # first word ends a word, last word starts one
    assert not contains(finder, "heck\nno")  # words allow it, the text does not
