"""allenai/dolma 1.2.1's tagger names, for its configs to run unchanged.

A dolma config names taggers with their version and variant baked in (``c4_v2``, ``gopher_v1``) and its mix
configs filter on the keys those taggers write (``<experiment>__c4_v2__has_curly_brace``). Called by such a
name, a tagger here writes what dolma 1.2.1 writes: its key names, its values (including the quirks our own
families fix, such as blank lines counted as lines) and its sparse convention (a flag or a span list only
when it is non-empty, n-gram statistics only for documents long enough). So AI2's thresholds give AI2's
result on our tagging. ``benchmarks/compare_dolma_names.py`` checks the rows against dolma's own taggers.

Where a family of ours computes the statistic (``gopher``, ``gopher_repetition``, ``c4``, ``random_number``)
the alias runs it and reshapes its output; the length counters and dolma's old regex PII detection are
small enough to state here. Two differences stay, on purpose: ``random_number_v1`` is seeded from the
document id (dolma seeds from the process id, so no run of it can be repeated), and ``c4_*``'s
``has_naughty_word`` needs ``bad_words_path`` (dolma bundles a list; we bundle none).

``DOLMA_TAGGERS`` lists all 99 names of dolma 1.2.1 with what each maps to here, for ``dolma list`` and the
docs; a name mapped to ``None`` needs a model, a downloaded list or a library we do not ship.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import regex
from dolma.taggers.c4 import C4, TERMINAL_PUNCTUATION, BadWordFinder, load_bad_words
from dolma.taggers.classifiers import model_labels
from dolma.taggers.gopher import BULLETS, NGRAM_ATTRIBUTES, GopherQuality, GopherRepetition
from dolma.taggers.language import load_language_model
from dolma.taggers.sampling import RandomNumber
from dolma.taggers.text import analyse

from dolma import Document, Span, Tagger, TaggerParams, paragraph_bounds, tagger

_MAPPED = {
    "bytes_length_v1": "UTF-8 byte count (stated in dolma_names)",
    "doc_count_v1": "1 per document (stated in dolma_names)",
    "char_length_v1": "char_length",
    "char_length_strip_ws_v1": "char_length",
    "char_length_with_paragraphs_v1": "char_length",
    "whitespace_tokenizer_v1": "whitespace_tokenizer",
    "whitespace_tokenizer_with_paragraphs_v1": "whitespace_tokenizer",
    "random_number_v1": "random_number",
    "gopher_v1": "gopher + gopher_repetition",
    "gopher_v2": "gopher + gopher_repetition",
    "c4_v1": "c4",
    "c4_v2": "c4",
    "pii_regex_v1": "dolma's regex PII (pii is the fixed one)",
    "pii_regex_v2": "dolma's regex PII (pii is the fixed one)",
    "pii_regex_with_counts_v2": "dolma's regex PII (pii is the fixed one)",
    "pii_regex_with_counts_fast_v2": "dolma's regex PII (pii is the fixed one)",
    "ft_lang_id_en_doc_v2": "language (bundled lid.176.ftz)",
    "ft_lang_id_en_only_v2": "language (bundled lid.176.ftz)",
    "ft_lang_id_en_paragraph_v2": "language (bundled lid.176.ftz)",
    "ft_lang_id_en_paragraph_with_doc_score_v2": "language (bundled lid.176.ftz)",
}
_UNMAPPED = (
    "allowlist_wikidata_cleaned_v1 allowlist_wikidata_v1 blocklist_firebog_ads_v1 blocklist_firebog_crypto_v1 "
    "blocklist_firebog_malicious_v1 blocklist_firebog_nsfw_v1 blocklist_firebog_social_v1 "
    "blocklist_firebog_suspicious_v1 blocklist_firebog_trackers_v1 blocklist_hosts_adware_malware_v1 "
    "blocklist_hosts_fakenews_v1 blocklist_hosts_gambling_v1 blocklist_hosts_porn_v1 blocklist_hosts_social_v1 "
    "blocklist_project_ads_v1 blocklist_project_crime_v1 blocklist_project_nsfw_v1 blocklist_project_social_v1 "
    "blocklist_project_vice_v1 brave_core_abp_v1 brave_nsfw_abp_v1 cc_re cc_re_fast cld2_doc_v2 cld2_en_doc_v2 "
    "cld2_en_paragraph_v2 cld2_en_paragraph_with_doc_score_v2 cld2_paragraph_v2 cld3_en_doc_v2 cld3_en_paragraph_v2 "
    "cld3_en_paragraph_with_doc_score_v2 code_composition code_copyright_comments_v1 code_redpajama_taggers_v1 "
    "code_secrets_v1 code_starcoder_taggers_v1 code_starcoder_taggers_v2 dclm-oh-eli5 dolma17-quality "
    "dolma_v1_tokenizer dolma_v2_tokenizer domain_blocklist_phishing_v1 domain_blocklist_utp_v1 ft_lang_id_1e2 "
    "ft_lang_id_doc_v1 "
    "ft_lang_id_paragraph_v1 jigsaw_hatespeech_document_v2 "
    "jigsaw_hatespeech_sentence_v2 jigsaw_nsfw_document_v1 jigsaw_nsfw_sencence_v2 langdetect_doc_en_v1 "
    "langdetect_doc_v1 langdetect_en_paragraph_v1 langdetect_paragraph_v1 lingua_1e2 lingua_doc_en_v1 lingua_doc_v1 "
    "lingua_en_only_v1 lingua_en_par_v1 lingua_par_v1 link_blocklist_phishing_v1 not_alphanum_paragraph_v1 "
    "oisd_big_abp_v1 oisd_nsfw_abp_v1 oisd_small_abp_v1 olmo_pretokenizer_v1 olmo_pretokenizer_with_paragraphs_v1 "
    "paragraph_repetitions_v1 paragraph_tokenizer_repetitions_v1 pii_presidio_v1 repetitions_v1 "
    "tokenizer_repetitions_v1 tokenizer_repetitions_v2r2 tokenizers_AI2_OLMo_v1 tokenizers_EleutherAI_GPT_NeoX_20B "
    "uniseg_length_paragraphs_v1 uniseg_length_paragraphs_with_doc_length_v1 uniseg_length_paragraphs_with_empty_v1 "
    "uniseg_length_v1"
).split()
DOLMA_TAGGERS: dict[str, str | None] = dict(
    sorted({**_MAPPED, **dict.fromkeys(_UNMAPPED)}.items())  # type: ignore[arg-type]
)
"""Every tagger name of allenai/dolma 1.2.1, with the family of ours it runs as here (None: not mapped)."""


Result = dict[str, list[Span]]


def _whole(text: str, score: float) -> list[Span]:
    return [(0, len(text), float(score))]


def _dolma_paragraphs(text: str) -> list[tuple[int, int]]:
    """dolma's ``split_paragraphs``: each line with its newline (the last without), blank ones dropped."""
    return [(s, e) for s, e in paragraph_bounds(text) if text[s:e].strip()]


# ------------------------------------------------------------------------------------------------ length


@tagger("bytes_length_v1")
class BytesLengthV1(Tagger):
    """allenai/dolma's bytes_length_v1: UTF-8 bytes of the text (key ``bytes``)."""

    attributes = ("bytes",)

    def predict(self, doc: Document) -> Result:
        return {"bytes": _whole(doc.text, len(doc.text.encode("utf-8", "surrogatepass")))}


@tagger("doc_count_v1")
class DocCountV1(Tagger):
    """allenai/dolma's doc_count_v1: 1 per document (key ``docs``)."""

    attributes = ("docs",)

    def predict(self, doc: Document) -> Result:
        return {"docs": _whole(doc.text, 1)}


@tagger("char_length_v1")
class CharLengthV1(Tagger):
    """allenai/dolma's char_length_v1 (our char_length): characters of the text (key ``length``)."""

    attributes = ("length",)

    def predict(self, doc: Document) -> Result:
        return {"length": _whole(doc.text, len(doc.text))}


@tagger("char_length_strip_ws_v1")
class CharLengthStripWsV1(Tagger):
    """allenai/dolma's char_length_strip_ws_v1: characters without surrounding whitespace (``length_no_ws``)."""

    attributes = ("length_no_ws",)

    def predict(self, doc: Document) -> Result:
        return {"length_no_ws": _whole(doc.text, len(doc.text.strip()))}


@tagger("char_length_with_paragraphs_v1")
class CharLengthWithParagraphsV1(Tagger):
    """allenai/dolma's char_length_with_paragraphs_v1: characters per non-blank line (``paragraph``, newline
    included) and of the document (``document``)."""

    attributes = ("paragraph", "document")

    def predict(self, doc: Document) -> Result:
        text = doc.text
        paragraphs = [(s, e, float(e - s)) for s, e in _dolma_paragraphs(text)]
        return {**({"paragraph": paragraphs} if paragraphs else {}), "document": _whole(text, len(text))}


_DOLMA_TOKENS = regex.compile(r"\w+|[^\w\s]+")
"""dolma's whitespace_tokenizer_v1 counts the pieces this pattern splits a text into (so a text of n tokens
counts about n + 1); Unicode word characters as the ``regex`` module defines them (marks included)."""


def _dolma_token_count(text: str) -> int:
    return len(_DOLMA_TOKENS.split(text))


@tagger("whitespace_tokenizer_v1")
class WhitespaceTokenizerV1(Tagger):
    """allenai/dolma's whitespace_tokenizer_v1 (our whitespace_tokenizer counts words): dolma's token pieces."""

    attributes = ("length",)

    def predict(self, doc: Document) -> Result:
        return {"length": _whole(doc.text, _dolma_token_count(doc.text))}


@tagger("whitespace_tokenizer_with_paragraphs_v1")
class WhitespaceTokenizerWithParagraphsV1(Tagger):
    """allenai/dolma's whitespace_tokenizer_with_paragraphs_v1: token pieces per non-blank line and in total."""

    attributes = ("paragraph", "document")

    def predict(self, doc: Document) -> Result:
        text = doc.text
        paragraphs = [(s, e, float(_dolma_token_count(text[s:e]))) for s, e in _dolma_paragraphs(text)]
        total = sum(p[2] for p in paragraphs)
        return {**({"paragraph": paragraphs} if paragraphs else {}), "document": _whole(text, total)}


@tagger("random_number_v1")
class RandomNumberV1(RandomNumber):
    """allenai/dolma's random_number_v1 (our random_number): uniform [0, 1) under key ``random``, seeded from
    the document id, so reruns agree (dolma's is seeded by process id and cannot be reproduced)."""


# ------------------------------------------------------------------------------------------------ gopher


class _GopherDolma(Tagger):
    """gopher + gopher_repetition reshaped to dolma's gopher_v1 keys, with dolma's line statistics."""

    attributes = (
        *NGRAM_ATTRIBUTES,
        "character_count",
        "word_count",
        "median_word_length",
        "symbol_to_word_ratio",
        "fraction_of_words_with_alpha_character",
        "required_word_count",
        "fraction_of_lines_starting_with_bullet_point",
        "fraction_of_lines_ending_with_ellipsis",
        "fraction_of_duplicate_lines",
        "fraction_of_characters_in_duplicate_lines",
    )

    class Params(TaggerParams):
        pass

    KEYS = (
        "character_count",
        "word_count",
        "median_word_length",
        "symbol_to_word_ratio",
        "fraction_of_words_with_alpha_character",
        "required_word_count",
    )
    skip_blank_lines = False

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.quality = GopherQuality(GopherQuality.Params())
        self.repetition = GopherRepetition(GopherRepetition.Params())

    def predict(self, doc: Document) -> Result:
        return self.predict_batch([doc])[0]

    def predict_batch(self, docs: Sequence[Document]) -> list[Result]:
        quality = self.quality.predict_batch(docs)
        repetition = self.repetition.predict_batch(docs)
        return [self._reshape(d.text, q, r) for d, q, r in zip(docs, quality, repetition, strict=True)]

    def _reshape(self, text: str, quality: Result, repetition: Result) -> Result:
        size = len(text)
        out: Result = {}
        if text:  # dolma: n-gram statistics only for n-grams the text has
            for key in NGRAM_ATTRIBUTES:
                if repetition[key]:
                    out[key] = [(0, size, repetition[key][0][2])]
        for key in self.KEYS:
            out[key] = [(0, size, quality[key][0][2] if text else 0.0)]
        out.update(self._lines(text, analyse(text).word_characters if text else 0))
        return out

    def _lines(self, text: str, word_characters: int) -> Result:
        """dolma's line statistics: every ``\\n``-separated line counts, blank ones included (gopher_v2:
        runs of newlines split once, so only a leading or trailing blank line remains)."""
        size = len(text)
        names = (
            "fraction_of_lines_starting_with_bullet_point",
            "fraction_of_lines_ending_with_ellipsis",
            "fraction_of_duplicate_lines",
            "fraction_of_characters_in_duplicate_lines",
        )
        if not text:
            return {name: [(0, 0, 0.0)] for name in names}
        lines = re.split(r"\n+", text) if self.skip_blank_lines else text.split("\n")
        per_line = max(len(lines), 1)
        counts = Counter(lines)
        repeated = [(line, n) for line, n in counts.items() if n > 1]
        values = (
            sum(n for line, n in counts.items() if line.startswith(BULLETS)) / per_line,
            sum(n for line, n in counts.items() if line.endswith("\u2026")) / per_line,
            sum(n for _, n in repeated) / per_line,
            sum(len(line) * n for line, n in repeated) / max(word_characters, 1),
        )
        return {name: [(0, size, value)] for name, value in zip(names, values, strict=True)}


@tagger("gopher_v1")
class GopherV1(_GopherDolma):
    """allenai/dolma's gopher_v1 (our gopher + gopher_repetition): dolma's keys, blank lines counted as lines."""


@tagger("gopher_v2")
class GopherV2(_GopherDolma):
    """allenai/dolma's gopher_v2: gopher_v1 with runs of newlines split once (blank lines mostly ignored)."""

    skip_blank_lines = True


# ---------------------------------------------------------------------------------------------------- c4


class _C4Params(TaggerParams):
    bad_words_path: str | None = None
    """dolma bundles LDNOOBW's English list; we bundle none, so has_naughty_word needs this file."""


_C4_V2_KEYS = ("lines_with_no_ending_punctuation", "lines_with_too_few_words")
_C4_FLAGS = ("has_naughty_word", "has_javascript", "has_lorem_ipsum", "has_curly_brace")


@tagger("c4_v2")
class C4V2(Tagger):
    """allenai/dolma's c4_v2 (our c4): line spans and flags, each only when non-empty or true."""

    attributes = (*_C4_FLAGS, *_C4_V2_KEYS, "line_count")

    Params = _C4Params
    exact_scores = True

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.c4 = C4(C4.Params(bad_words_path=params.bad_words_path))

    def predict(self, doc: Document) -> Result:
        return self.predict_batch([doc])[0]

    def predict_batch(self, docs: Sequence[Document]) -> list[Result]:
        out = []
        for result in self.c4.predict_batch(docs):
            row = {key: result[key] for key in _C4_V2_KEYS if result[key]}
            row.update((key, result[key]) for key in _C4_FLAGS if result.get(key))
            row["line_count"] = result["line_count"]
            out.append(row)
        return out


@tagger("c4_v1")
class C4V1(Tagger):
    """allenai/dolma's c4_v1: as c4_v2, but javascript and bad words are whole words of a line, and each line
    is lower-cased and stripped before its tests."""

    attributes = (*_C4_FLAGS, *_C4_V2_KEYS, "line_count")

    Params = _C4Params
    exact_scores = True

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.bad_words: BadWordFinder | None = None
        if params.bad_words_path:
            self.bad_words = BadWordFinder(*load_bad_words(params.bad_words_path))

    def predict(self, doc: Document) -> Result:
        text = doc.text
        lines = text.split("\n")
        no_punctuation: list[Span] = []
        too_few: list[Span] = []
        flags = dict.fromkeys(_C4_FLAGS, False)
        start = 0
        for number, original in enumerate(lines):
            end = start + len(original) + (1 if number < len(lines) - 1 else 0)
            line = original.lower().strip()
            words = line.split()
            if not line.endswith(TERMINAL_PUNCTUATION):
                no_punctuation.append((start, end, 1.0))
            if len(words) < 3:
                too_few.append((start, end, 1.0))
            if self.bad_words is not None and not flags["has_naughty_word"]:
                flags["has_naughty_word"] = self.bad_words.found(set(words), line)
            flags["has_javascript"] = flags["has_javascript"] or "javascript" in words
            flags["has_lorem_ipsum"] = flags["has_lorem_ipsum"] or "lorem ipsum" in line
            flags["has_curly_brace"] = flags["has_curly_brace"] or "{" in line
            start = end
        out: Result = {}
        if no_punctuation:
            out["lines_with_no_ending_punctuation"] = no_punctuation
        if too_few:
            out["lines_with_too_few_words"] = too_few
        out.update((name, [(0, len(text), 1.0)]) for name, value in flags.items() if value)
        out["line_count"] = [(0, len(text), float(len(lines)))]
        return out


# --------------------------------------------------------------------------------------------------- pii

_EMAIL = re.compile(r"[.\s@,?!;:)(]*([^\s@]+@[^\s@,?!;:)(]+?)[.\s@,?!;:)(]?[\s\n\r]")
_PHONE = re.compile(r"\s+\(?(\d{3})\)?[-\. ]*(\d{3})[-. ]?(\d{4})")
_IP = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)")
"""dolma 1.2.1's PII patterns, kept as they are: the spans include the separators around an address, and the
e-mail and phone patterns are quadratic on a long token or run of spaces (our ``pii`` tagger is not)."""
_URL_START = "\x08"
"""dolma's URL pattern starts with a backspace (a ``\\b`` in a non-raw string), so it only matches after a
backspace character: its "not a phone number inside a URL" rule almost never fires. Reproduced."""
_URL = re.compile(
    _URL_START + r"((?:https?://|www\d{0,3}[.]|[a-z0-9.\-]+[.][a-z]{2,4}/)(?:[^\s()<>]+|\(([^\s()<>]+|"
    r"(\([^\s()<>]+\)))*\))+(?:\(([^\s()<>]+|(\([^\s()<>]+\)))*\)|[^\s`!()\[\]{};:'\".,<>?«»“”‘’]))",
    re.IGNORECASE,
)
_PII_KEYS = {"email": "EMAIL_ADDRESS", "phone": "PHONE_NUMBER", "ip": "IP_ADDRESS"}


def _dolma_regex_pii(text: str) -> list[tuple[str, int, int]]:
    """pii_regex_v1/v2's detections, in dolma's order (all e-mails, then phones, then IPs), after its rules:
    an e-mail's domain has a dot and its local part is not "("; a phone or IP has no "isbn", "doi" or "#"
    within 100 characters; a phone is dropped when the text holds a URL."""
    found = []
    has_url = None
    for kind, pattern in (("email", _EMAIL), ("phone", _PHONE), ("ip", _IP)):
        for match in pattern.finditer(text):
            start, end = match.span()
            mention = text[start:end]
            if kind == "email":
                local, _, rest = mention.partition("@")
                domain = rest.split("@")[0]
                if local.strip() == "(" or "." not in domain:
                    continue
            else:
                context = text[max(0, start - 100) : end + 100]
                if "isbn" in context or "doi" in context or "#" in context:
                    continue
                if kind == "phone":
                    if has_url is None:
                        has_url = _URL.search(text) is not None
                    if has_url:
                        continue
            found.append((kind, start, end))
    return found


class _PiiRegex(Tagger):
    """dolma's regex PII, one span per detection under dolma's keys plus a document score."""

    attributes = (*_PII_KEYS.values(), "doc", "doc_count", "doc_frac")

    def detections(self, text: str) -> Result:
        out: Result = {}
        for kind, start, end in _dolma_regex_pii(text):
            out.setdefault(_PII_KEYS[kind], []).append((start, end, 1.0))
        return out

    @staticmethod
    def count(spans: Result) -> int:
        return sum(len(v) for v in spans.values())


@tagger("pii_regex_v1")
class PiiRegexV1(_PiiRegex):
    """allenai/dolma's pii_regex_v1: its regex e-mail, phone and IP spans and ``doc`` = detections per word
    (a text without words fails in dolma; here it scores 0)."""

    def predict(self, doc: Document) -> Result:
        out = self.detections(doc.text)
        words = len(doc.text.split())
        out["doc"] = _whole(doc.text, self.count(out) / words if words else 0.0)
        return out


@tagger("pii_regex_v2")
class PiiRegexV2(_PiiRegex):
    """allenai/dolma's pii_regex_v2 (our pii fixes its false positives): as v1, ``doc`` is -1 without words."""

    def predict(self, doc: Document) -> Result:
        out = self.detections(doc.text)
        words = len(doc.text.split())
        out["doc"] = _whole(doc.text, self.count(out) / words if words else -1.0)
        return out


@tagger("pii_regex_with_counts_v2")
class PiiRegexWithCountsV2(PiiRegexV2):
    """allenai/dolma's pii_regex_with_counts_v2: pii_regex_v2 plus ``doc_count``, the number of detections."""

    def predict(self, doc: Document) -> Result:
        out = super().predict(doc)
        out["doc_count"] = _whole(doc.text, self.count(out) - 1)
        return out


_PRE_IP = re.compile(r"\.[^\s]")
_DIGIT = re.compile(r"\d")


@tagger("pii_regex_with_counts_fast_v2")
class PiiRegexWithCountsFastV2(_PiiRegex):
    """allenai/dolma's pii_regex_with_counts_fast_v2: the same patterns per non-blank line, no context rules
    (only: a URL-looking IP is dropped), ``doc_count`` and ``doc_frac`` (characters in detections per
    character; -1 for an empty text). A text with more than 10,000 "?" gets no detections, as in dolma."""

    def predict(self, doc: Document) -> Result:
        text = doc.text
        out: Result = {}
        paragraphs = [] if text.count("?") > 10_000 else _dolma_paragraphs(text)
        for start, end in paragraphs:
            line = text[start:end]
            if "@" in line:
                for match in _EMAIL.finditer(line):
                    local, _, domain = match.group(1).partition("@")
                    if local.strip() != "(" and "." in domain:
                        out.setdefault("EMAIL_ADDRESS", []).append((start + match.start(), start + match.end(), 1.0))
            if _DIGIT.search(line):
                for match in _PHONE.finditer(line):
                    out.setdefault("PHONE_NUMBER", []).append((start + match.start(), start + match.end(), 1.0))
            if _PRE_IP.search(line):
                for match in _IP.finditer(line):
                    if _URL.search(match.group(0)) is None:
                        out.setdefault("IP_ADDRESS", []).append((start + match.start(), start + match.end(), 1.0))
        count = self.count(out)
        covered = sum(e - s for spans in out.values() for s, e, _ in spans) + (len(text) if text else 0)
        out["doc_count"] = _whole(text, count)
        out["doc_frac"] = _whole(text, covered / len(text) if text else -1.0)
        return out


# ---------------------------------------------------------------------------------------------- language


class _EnglishDolma(Tagger):
    """dolma's fastText English taggers over the bundled lid.176.ftz (dolma downloads lid.176.bin, whose
    probabilities differ from the compressed model's in the later decimals): the text is lower-cased, its
    newlines made spaces and stripped, as dolma does, and ``en`` is the English probability."""

    attributes = ("en", "not_en", "doc_en", "doc_not_en")

    paragraphs = False
    negative = True
    doc_score = False

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.model = load_language_model(None)
        self.english = model_labels(self.model).index("en")

    def _english(self, texts: list[str]) -> list[float]:
        if not texts:
            return []
        cleaned = [t.lower().replace("\n", " ").strip() for t in texts]
        return [float(p) for p in self.model.predict(cleaned, k=-1).probabilities[:, self.english]]

    def predict(self, doc: Document) -> Result:
        return self.predict_batch([doc])[0]

    def predict_batch(self, docs: Sequence[Document]) -> list[Result]:
        units = [_dolma_paragraphs(d.text) if self.paragraphs else [(0, len(d.text))] for d in docs]
        scores = iter(self._english([d.text[s:e] for d, bounds in zip(docs, units, strict=True) for s, e in bounds]))
        out = []
        for doc, bounds in zip(docs, units, strict=True):
            spans = [(s, e, next(scores)) for s, e in bounds]
            row: Result = {"en": spans} if spans else {}
            if self.negative and spans:
                row["not_en"] = [(s, e, 1.0 - p) for s, e, p in spans]
            if self.doc_score:
                size = len(doc.text)
                english = sum((e - s) * p for s, e, p in spans) / size if size else 0.0
                row["doc_en"] = [(0, size, english)]
                row["doc_not_en"] = [(0, size, 1.0 - english if size else 0.0)]
            out.append(row)
        return out


@tagger("ft_lang_id_en_doc_v2")
class FtLangIdEnDocV2(_EnglishDolma):
    """allenai/dolma's ft_lang_id_en_doc_v2 (our language): ``en`` and ``not_en`` of the whole text."""


@tagger("ft_lang_id_en_only_v2")
class FtLangIdEnOnlyV2(_EnglishDolma):
    """allenai/dolma's ft_lang_id_en_only_v2 (our language): ``en`` of the whole text."""

    negative = False


@tagger("ft_lang_id_en_paragraph_v2")
class FtLangIdEnParagraphV2(_EnglishDolma):
    """allenai/dolma's ft_lang_id_en_paragraph_v2 (our language): ``en`` and ``not_en`` per non-blank line."""

    paragraphs = True


@tagger("ft_lang_id_en_paragraph_with_doc_score_v2")
class FtLangIdEnParagraphWithDocScoreV2(_EnglishDolma):
    """allenai/dolma's ft_lang_id_en_paragraph_with_doc_score_v2 (our language): per line ``en``/``not_en``,
    and ``doc_en``, the lines' English probability weighted by their length (``doc_not_en`` = 1 - it)."""

    paragraphs = True
    doc_score = True
