"""Language ID past lid.176 alone: langid.py (``py3langid``) by itself, and three identifiers voting.

Measured on the labelled set of ``benchmarks/language_set.py`` (84 languages, UI strings to 1,500-character
texts; ``benchmarks/quality.py`` prints the table, ``benchmarks/RESULTS.md`` keeps it): langid.py is the most
accurate single identifier installable here, fastText lid.176 and CLD2 each err on different close pairs
(lid.176 on Malay/Indonesian, Norwegian, Galician, Occitan, Tajik; CLD2 on Spanish, Russian, Bulgarian,
Macedonian), and a majority of the three beats each alone, once the two others are not allowed to outvote
lid.176 on a language they cannot name. The vote asks langid.py, the slowest, only when
fastText and CLD2 disagree, so it costs about twice the fastText tagger, not four times.

Every identifier's codes are mapped to lid.176's (``iw`` -> ``he``, ``nb`` -> ``no``, ``zh-Hant`` -> ``zh``...),
so the keys are the ``top_<lang>`` keys of the ``language`` tagger and filters carry over.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from dolma.taggers.classifiers import Level, fasttext_line, model_labels, units
from dolma.taggers.close_pairs import refine_tops
from dolma.taggers.language import load_language_model

from dolma import Document, Span, Tagger, TaggerParams, tagger

_RENAMED = {"iw": "he", "jw": "jv", "nb": "no", "zh-Hant": "zh", "sr-ME": "sr", "in": "id", "fil": "tl"}
UNKNOWN = None


def _code(code: str) -> str | None:
    """lid.176's code for an identifier's ``code``; None for "unknown" (CLD2's ``un``, ``xxx``, ``xx-Latn``...)."""
    code = _RENAMED.get(code, code)
    return None if code in ("un", "xxx") or code.startswith(("xx-", "zz")) else code


def cld2_language(text: str) -> str | None:
    """CLD2's most likely language of ``text``, None when it names none. CLD2 refuses some code points (C0
    controls; unpaired surrogates cannot even be encoded): they are dropped and the text tried again."""
    import pycld2

    try:
        details = pycld2.detect(text.encode("utf-8", "replace"))[2]
    except pycld2.error:
        printable = "".join(c for c in text if c.isprintable() or c in "\n\t ")
        try:
            details = pycld2.detect(printable.encode("utf-8", "replace"))[2]
        except pycld2.error:
            return UNKNOWN
    return _code(details[0][1])


def cld2_known() -> set[str]:
    """Every language CLD2 can name, in lid.176's codes."""
    import pycld2

    return {code for _name, raw in pycld2.LANGUAGES if (code := _code(raw)) is not None}


class LangId:
    """langid.py's naive Bayes model (``py3langid``, 97 languages), loaded once per tagger."""

    def __init__(self) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self.model: Any = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self.known = {code for raw in self.model.nb_classes if (code := _code(raw)) is not None}

    def language(self, text: str) -> tuple[str | None, float]:
        code, probability = self.model.classify(text)
        return _code(code), float(probability)


def vote(fasttext: str | None, cld2: str | None, langid: str | None) -> tuple[str | None, float]:
    """The language most of the three name (langid.py's when all differ), with the share of the three that
    name it; an identifier that names none does not vote."""
    named = [lang for lang in (langid, fasttext, cld2) if lang is not None]
    if not named:
        return None, 0.0
    counts = Counter(named)
    top = max(named, key=lambda lang: counts[lang])  # the first of the most named: langid.py breaks ties
    return top, round(counts[top] / 3, 5)


def _unit_texts(docs: Sequence[Document], level: str) -> tuple[list[list[tuple[int, int, str]]], list[str]]:
    """Per document its ``(start, end, key prefix)`` units, and the texts of all units in order."""
    plan, texts = [], []
    for doc in docs:
        whole, paragraphs = units(doc.text, level)
        spans = [(s, e, "") for s, e in whole] + [(s, e, "paragraph_") for s, e in paragraphs]
        plan.append(spans)
        texts += [doc.text[s:e] for s, e, _ in spans]
    return plan, texts


def _emit(
    docs: Sequence[Document],
    plan: list[list[tuple[int, int, str]]],
    results: list[tuple[str | None, float]],
    close_pairs: bool,
) -> list[dict[str, list[Span]]]:
    out: list[dict[str, list[Span]]] = []
    at = 0
    for doc, spans in zip(docs, plan, strict=True):
        attributes: dict[str, list[Span]] = {}
        for start, end, prefix in spans:
            top, score = results[at]
            at += 1
            if top is not None:
                attributes.setdefault(f"{prefix}top_{top}", []).append((start, end, score))
        out.append(refine_tops(doc.text, attributes) if close_pairs else attributes)
    return out


class _LevelParams(TaggerParams):
    level: Level = "document"
    """document: key top_<lang> over the whole text; paragraph: paragraph_top_<lang> per paragraph; both."""
    close_pairs: bool = True
    """Second opinion on close pairs no identifier here separates (Maithili/Hindi, Limburgish/Dutch,
    Bosnian/Croatian, Aragonese and Asturian/Spanish, Interlingua/Latin, Malay/Indonesian, Nynorsk/Bokmål):
    see taggers/close_pairs.py."""


@tagger("language_langid")
class LanguageLangId(Tagger):
    """langid.py (py3langid, 97 languages): the top language and its probability, as ``top_<lang>``.

    The most accurate single identifier on our labelled set, at about four times the CPU of the fastText
    ``language`` tagger (see docs/taggers-models.md)."""

    Params = _LevelParams
    attributes = ("top_<lang>", "paragraph_top_<lang>")

    def __init__(self, params: TaggerParams) -> None:
        super().__init__(params)
        self.langid = LangId()

    def predict_batch(self, docs: Sequence[Document]) -> list[dict[str, list[Span]]]:
        plan, texts = _unit_texts(docs, self.params.level)
        return _emit(docs, plan, [self.langid.language(text) for text in texts], self.params.close_pairs)

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        return self.predict_batch([doc])[0]


@tagger("language_vote")
class LanguageVote(Tagger):
    """fastText lid.176, CLD2 and langid.py voting: ``top_<lang>`` with the share of the three naming it.

    fastText runs on every unit. A language only lid.176 can name (Asturian, Limburgish, Maithili... ~50 of
    its 176) is kept as it is: the others cannot vote against what they cannot name. Otherwise CLD2 runs too,
    and langid.py only where the two disagree (its vote then decides, and is taken when all three differ).
    Score 1.0: fastText and CLD2 agree (langid.py is not asked), or a language only lid.176 names; 0.66667:
    two of three; 0.33333: langid.py alone (or one identifier named a language and the others none)."""

    Params = _LevelParams
    attributes = ("top_<lang>", "paragraph_top_<lang>")

    def __init__(self, params: TaggerParams) -> None:
        super().__init__(params)
        self.fasttext = load_language_model(None)
        self.labels = model_labels(self.fasttext)
        self.langid = LangId()
        # "sh" (Serbo-Croatian) is not lid.176's alone: the others name its members (hr, bs, sr)
        others = cld2_known() | self.langid.known | {"sh"}
        self.only_fasttext = {label for label in self.labels if label not in others}

    def predict_batch(self, docs: Sequence[Document]) -> list[dict[str, list[Span]]]:
        plan, texts = _unit_texts(docs, self.params.level)
        tops = self.fasttext.predict([fasttext_line(t) for t in texts], 1, 0.0).top.tolist()
        results: list[tuple[str | None, float]] = []
        for text, top in zip(texts, tops, strict=True):
            fasttext = self.labels[top] if top >= 0 else None
            if fasttext in self.only_fasttext:
                results.append((fasttext, 1.0))
                continue
            cld2 = cld2_language(text)
            if fasttext is not None and fasttext == cld2:
                results.append((fasttext, 1.0))
            else:
                results.append(vote(fasttext, cld2, self.langid.language(text)[0]))
        return _emit(docs, plan, results, self.params.close_pairs)

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        return self.predict_batch([doc])[0]
