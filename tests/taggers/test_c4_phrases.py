"""c4's bad-word search skips texts whose words rule a phrase out; it must never skip a text that has a
listed word or phrase."""

from __future__ import annotations

import random

from dolma.taggers.c4 import BadWordFinder

PHRASES = ("heck no", "a b", "tongue in a", "darn it all", "no way out", "2 girls 1 cup")
WORDS = frozenset({"cups", "ba"})


def contains(finder: BadWordFinder, text: str) -> bool:
    return finder.found(set(text.split()), text.lower())


def expected(text: str, words: frozenset[str]) -> bool:
    lowered = text.lower()
    return any(phrase in lowered for phrase in PHRASES) or not words.isdisjoint(lowered.split())


def test_finds_exactly_the_texts_with_a_listed_word_or_phrase_also_as_parts_of_words() -> None:
    rng = random.Random(3)
    pieces = ["heck", "no", "nope", "oheck", "a", "ab", "b", "ba", "BA", "tongue", "in", "x", "darn", "it", "all"]
    pieces += ["2", "1", "girls", "cup", "cups", "Cups", "way", "out", "outer", "DARN", "It"]
    for words in (WORDS, frozenset()):
        finder = BadWordFinder(words, PHRASES)
        finder.max_remembered = 5  # forget often: what it remembers is only a shortcut
        for _ in range(3000):
            pick = (rng.choice(pieces) + rng.choice([" ", " ", "  ", "\n", "-"]) for _ in range(rng.randint(1, 12)))
            text = "".join(pick)
            assert contains(finder, text) == expected(text, words), text
    finder = BadWordFinder(WORDS, PHRASES)
    assert contains(finder, "OHECK NOPE")  # first word ends a word, last word starts one
    assert not contains(finder, "heck\nno")  # words allow it, the text does not
    assert contains(finder, "some CUPS here") and not contains(finder, "cupsx")


def test_listed_words_alone() -> None:
    finder = BadWordFinder(WORDS, ())
    assert contains(finder, "Ba ba") and contains(finder, "x cups") and not contains(finder, "bab cup")


def test_learning_a_batch_at_once_finds_the_same() -> None:
    rng = random.Random(5)
    pieces = ["heck", "no", "oheck", "a", "b", "BA", "tongue", "in", "darn", "it", "all", "cups", "way", "out"]
    texts = [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) for _ in range(400)]
    for remembered in (5, 1 << 17):  # 5: the batch overflows what is remembered, which is then forgotten
        finder = BadWordFinder(WORDS, PHRASES)
        finder.max_remembered = remembered
        for start in range(0, len(texts), 50):
            batch = texts[start : start + 50]
            finder.learn_batch([set(text.split()) for text in batch])
            assert finder.known.keys() >= {word for text in batch for word in text.split()}  # all learned at once
            assert [contains(finder, text) for text in batch] == [expected(text, WORDS) for text in batch]
