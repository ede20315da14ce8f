"""C4's cleaning rules (Raffel et al. 2020) as spans and flags, for the mixer to remove lines or documents.

Line spans, one per offending line (a span covers the line and its newline, so removing them keeps the rest
of the text well formed): no terminal punctuation, fewer than three words, the word "javascript", cookie
and terms-of-use boilerplate. Document flags: "lorem ipsum", a curly brace, "javascript", too few
sentences, and a word or phrase from a bad-word list file the user supplies (none is bundled).

Attributes named as in allenai/dolma's ``c4_v2`` compute what it computes, with one bug fixed: dolma takes
line offsets from the lower-cased text, which is longer than the original when it holds characters such as
"İ", so its spans drift; ours are offsets into the original text.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from functools import reduce
from itertools import accumulate, chain, compress, filterfalse, repeat
from operator import add, itemgetter, lt, methodcaller, not_, or_
from typing import Any

from dolma.taggers.text import analyse, analysed

from dolma import Document, Span, Tagger, TaggerParams, io, tagger
from dolma.errors import ConfigError, InputError

TERMINAL_PUNCTUATION = (".", "?", "!", '"')
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
"""C4's boilerplate markers (its ``_POLICY_SUBSTRINGS``), matched in the lower-cased line."""

SENTENCE_ENDS = (".", "!", "?")
_SENTENCE_END = re.compile(r"[.!?](?=\s|\Z)")
"""A sentence ends with one of ``SENTENCE_ENDS`` before whitespace or the end of the text (C4's count, as
dolma's): exactly the words (``str.split``: the same whitespace as ``\\s``) ending with one, which is how it
is counted when the words are at hand."""

_FIRST, _FIRST_TWO, _FIRST_THREE = itemgetter(slice(0, 1)), itemgetter(slice(0, 2)), itemgetter(slice(0, 3))
_LAST, _LAST_TWO, _LAST_THREE = itemgetter(slice(-1, None)), itemgetter(slice(-2, None)), itemgetter(slice(-3, None))


def load_bad_words(path: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """One word or phrase a line, matched lower-cased: words against whitespace-separated words, phrases
    (entries with a space) as substrings of the text, as C4 and dolma do."""
    try:
        lines = io.read_bytes(path).decode("utf-8").splitlines()
    except InputError as exc:
        raise ConfigError(f"c4.bad_words_path: {exc}") from None
    entries = [" ".join(line.lower().split()) for line in lines if line.strip()]
    return frozenset(e for e in entries if " " not in e), tuple(e for e in entries if " " in e)


class BadWordFinder:
    """Whether a text holds a listed word or phrase, told by its distinct words as spelt, with what each word
    allows remembered across texts (words recur from text to text: most are looked up, not worked out, and
    a text costs one dictionary lookup per distinct word, without lower-casing it).

    A listed word is a whole whitespace word of the lower-cased text. A phrase ``w1 w2 ... wk`` inside a text
    has single spaces between its words, where whitespace splits the text: ``w2 .. w(k-1)`` are words of the
    text, ``wk`` starts one and ``w1`` ends one. So a phrase is searched for in the text only when its inner
    words are words of the text, some word starts with its last word and some word ends with its first word:
    scanning the text once per phrase is what made this the slowest C4 rule."""

    max_remembered = 1 << 17
    """Words remembered (then forgotten all at once): a bound on memory, a few tens of MB."""

    def __init__(self, words: frozenset[str], phrases: tuple[str, ...]) -> None:
        self.words = words
        self.phrases = phrases
        split = [phrase.split(" ") for phrase in phrases]
        self.inner = [frozenset(parts[1:-1]) for parts in split]
        self.starting = _masks_by_length([parts[-1] for parts in split], 0)
        self.ending = _masks_by_length([parts[0] for parts in split], len(phrases))
        # a word starts with a listed last word only if its first three characters (or all of a shorter
        # last word) are those of one; likewise for its last characters and the first words
        self.last_keys = frozenset(parts[-1][:3] for parts in split)
        self.first_keys = frozenset(parts[0][-3:] for parts in split)
        self.count = len(phrases)
        self.phrase_bits = (1 << self.count) - 1
        self.listed_bit = 1 << (2 * self.count)
        self.known: dict[str, int] = {}
        """Per word as spelt, a bit mask: bit ``i`` for each phrase ``i`` whose last word starts it, bit
        ``count + i`` for each whose first word ends it, bit ``2 * count`` when it is a listed word (an int:
        one lookup and one ``|`` per word, no object to collect)."""

    def found(self, words: Collection[str], lowered: str) -> bool:
        """True when the text ``lowered`` (lower-cased), whose distinct whitespace words as spelt are
        ``words``, holds a listed word or phrase."""
        allowed = reduce(or_, filter(None, map(self.known.get, words, repeat(-1))), 0)  # most masks are 0
        if allowed < 0:  # -1: a word not seen yet
            if len(self.known) + len(words) > self.max_remembered:
                self.known.clear()
            self.learn(list(filterfalse(self.known.__contains__, words)))
            allowed = reduce(or_, filter(None, map(self.known.__getitem__, words)), 0)
        if allowed & self.listed_bit:
            return True
        both = allowed & (allowed >> self.count) & self.phrase_bits
        if not both:
            return False
        lowered_words = set(map(str.lower, words))  # = set(lowered.split()): no letter lowers to a space
        candidates = [i for i in range(both.bit_length()) if both >> i & 1 and self.inner[i] <= lowered_words]
        return any(self.phrases[i] in lowered for i in candidates)

    def learn_batch(self, texts_words: Sequence[Collection[str]]) -> None:
        """Learn the words of a batch of texts not seen yet, all at once: learning a text's few new words at a
        time costs mostly the set-up of :meth:`learn`'s passes."""
        vocabulary = set(chain.from_iterable(texts_words))
        new = vocabulary.difference(self.known)
        if len(self.known) + len(new) > self.max_remembered:
            self.known.clear()
            new = vocabulary
        self.learn(list(new))

    def learn(self, new: list[str]) -> None:
        """Remember whether each new word is listed and which phrases it starts and ends (most: none, found
        in C)."""
        self.known.update(zip(new, repeat(0)))
        low = list(map(str.lower, new))
        for word in compress(new, map(self.words.__contains__, low)):
            self.known[word] = self.listed_bit
        if not self.phrases:
            return
        keys = self.last_keys
        hits = map(or_, map(keys.__contains__, map(_FIRST_THREE, low)), map(keys.__contains__, map(_FIRST_TWO, low)))
        starting = compress(range(len(new)), map(or_, hits, map(keys.__contains__, map(_FIRST, low))))
        keys = self.first_keys
        hits = map(or_, map(keys.__contains__, map(_LAST_THREE, low)), map(keys.__contains__, map(_LAST_TWO, low)))
        ending = compress(range(len(new)), map(or_, hits, map(keys.__contains__, map(_LAST, low))))
        candidates = list(set(starting).union(ending))
        words = list(map(low.__getitem__, candidates))
        masks: Iterator[int] = repeat(0, len(words))
        for n, table in self.starting.items():  # a word's first n characters against the last words of size n
            masks = map(or_, masks, map(table.get, map(itemgetter(slice(0, n)), words), repeat(0)))
        for n, table in self.ending.items():
            masks = map(or_, masks, map(table.get, map(itemgetter(slice(-n, None)), words), repeat(0)))
        for i, mask in zip(candidates, masks, strict=True):
            if mask:
                self.known[new[i]] |= mask


def _masks_by_length(words: list[str], offset: int) -> dict[int, dict[str, int]]:
    """``{length: {word: mask}}``, the mask with bit ``offset + i`` for each phrase ``i`` with that word."""
    table: dict[int, dict[str, int]] = {}
    for i, word in enumerate(words):
        by_word = table.setdefault(len(word), {})
        by_word[word] = by_word.get(word, 0) | 1 << (offset + i)
    return table


@tagger("c4")
class C4(Tagger):
    """C4 rules: line spans (no end punctuation, < 3 words, javascript, policy) and document flags.

    Line spans (score 1; an empty list when none, so every row has the key): ``lines_with_no_ending_punctuation``,
    ``lines_with_too_few_words``, ``lines_with_javascript``, ``lines_with_policy``. Document values:
    ``line_count``, ``sentence_count``, and flags, one span of score 1 when true and an empty list when false:
    ``has_curly_brace``, ``has_lorem_ipsum``, ``has_javascript``, ``has_too_few_sentences``,
    ``has_naughty_word`` (only with ``bad_words_path``). Test a flag with ``[0][2] > 0.5`` in the mixer.

    C4 removed the flagged lines (its published line rule is 5 words: ``min_words_per_line: 5``; 3 is
    dolma's, kept as the default so ``lines_with_too_few_words`` means what it means in dolma), then the
    documents with a flag or fewer than 3 sentences: in the mixer, delete the line spans and exclude the
    flags.
    """

    attributes = (
        "lines_with_no_ending_punctuation",
        "lines_with_too_few_words",
        "lines_with_javascript",
        "lines_with_policy",
        "line_count",
        "sentence_count",
        "has_curly_brace",
        "has_lorem_ipsum",
        "has_javascript",
        "has_too_few_sentences",
        "has_naughty_word",
    )

    exact_scores = True

    class Params(TaggerParams):
        bad_words_path: str | None = None
        """A file of bad words and phrases, one a line (local or s3://); without it there is no has_naughty_word."""
        min_words_per_line: int = 3
        """Lines with fewer whitespace words are spanned in lines_with_too_few_words."""
        min_sentences: int = 3
        """Documents with fewer sentence ends (., ! or ? before whitespace or the end) get has_too_few_sentences."""

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.bad_words: BadWordFinder | None = None
        if params.bad_words_path:
            self.bad_words = BadWordFinder(*load_bad_words(params.bad_words_path))

    def predict_batch(self, docs: Sequence[Document]) -> list[dict[str, list[Span]]]:
        if self.bad_words is not None:
            self.bad_words.learn_batch([analyse(doc.text).word_counts.keys() for doc in docs])
        return list(map(self.predict, docs))

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        text = doc.text
        size = len(text)
        lowered = text.lower()
        min_words = self.params.min_words_per_line
        analysis = analyse(text) if self.bad_words else analysed(text)
        lines = text.split("\n") if analysis is None else analysis.lines
        # the line loop runs in C (map/compress) because it visits every line of every document
        bounds = list(accumulate(map(add, map(len, lines), repeat(1)), initial=0))
        bounds[-1] = size
        spans = list(zip(bounds[:-1], bounds[1:], repeat(1.0, len(lines)), strict=True))
        punctuated = map(methodcaller("endswith", TERMINAL_PUNCTUATION), map(str.rstrip, lines))
        no_punctuation = list(compress(spans, map(not_, punctuated)))
        word_counts = map(len, map(methodcaller("split", None, min_words - 1), lines))
        too_few = list(compress(spans, map(lt, word_counts, repeat(min_words))))
        check_javascript = "javascript" in lowered
        javascript: list[Span] = []
        policy: list[Span] = []
        if check_javascript or any(p in lowered for p in POLICY_SUBSTRINGS):
            for span, line in zip(spans, map(str.lower, lines), strict=True):
                if "javascript" in line:
                    javascript.append(span)
                if any(p in line for p in POLICY_SUBSTRINGS):
                    policy.append(span)
        if analysis is None:
            sentences = len(_SENTENCE_END.findall(text))
        else:  # a sentence end is a word's last character: count the words ending in one, over distinct words
            counts = analysis.word_counts
            sentences = sum(compress(counts.values(), map(methodcaller("endswith", SENTENCE_ENDS), counts)))
        whole = [(0, size, 1.0)]
        out: dict[str, list[Span]] = {
            "lines_with_no_ending_punctuation": no_punctuation,
            "lines_with_too_few_words": too_few,
            "lines_with_javascript": javascript,
            "lines_with_policy": policy,
            "line_count": [(0, size, float(len(lines)))],
            "sentence_count": [(0, size, float(sentences))],
        }
        out["has_curly_brace"] = whole if "{" in text else []
        out["has_lorem_ipsum"] = whole if "lorem ipsum" in lowered else []
        out["has_javascript"] = whole if check_javascript else []
        out["has_too_few_sentences"] = whole if sentences < self.params.min_sentences else []
        if self.bad_words is not None:  # a listed word is a whole whitespace word, a phrase a substring (dolma's rules)
            out["has_naughty_word"] = whole if self.bad_words.found(analyse(text).word_counts.keys(), lowered) else []
        return out
