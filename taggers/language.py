"""Language identification with fastText's ``lid.176.ftz`` (176 languages), bundled so it works offline.

The model ships in ``taggers/resources`` under CC BY-SA 3.0 (see ``LICENSE-lid.176.md`` there). Each
document (or paragraph) gets its most probable language as the key ``top_<lang>`` with that language's
probability, so "English with score >= 0.65" (FineWeb's rule) is the filter ``top_en >= 0.65``; the languages
named in ``languages`` get their probability on every document, as ``<lang>``, whether they win or not.
Prediction runs in numpy (:mod:`taggers.fasttext_numpy`): the same top language as fastText's ``predict``,
except where the close-pair rules of :mod:`taggers.close_pairs` name the small language of a pair lid.176
confuses (``close_pairs: false`` turns them off).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence

from dolma.taggers.classifiers import Classifier, Level, check_labels, load_fasttext, model_labels, predict_levels
from dolma.taggers.close_pairs import refine_tops

from dolma import Document, Span, Tagger, TaggerParams, io, tagger
from dolma.errors import ConfigError

BUNDLED_MODEL = "lid.176.ftz"
DEFAULT_MIN_SCORE = 0.001


def load_language_model(model_path: str | None) -> Classifier:
    """The model at ``model_path`` (local or s3://), or the bundled ``lid.176.ftz`` when it is None."""
    if model_path is not None:
        return load_fasttext(model_path)
    resource = importlib.resources.files("dolma.taggers").joinpath("resources").joinpath(BUNDLED_MODEL)
    with importlib.resources.as_file(resource) as path:
        return load_fasttext(str(path))


@tagger("language")
class LanguageId(Tagger):
    """fastText language ID (bundled lid.176): top language and its score, and the scores of chosen languages."""

    attributes = ("top_<lang>", "<lang>", "paragraph_top_<lang>", "paragraph_<lang>")

    class Params(TaggerParams):
        level: Level = "document"
        """document: keys top_<lang> and <lang> over the whole text; paragraph: paragraph_top_<lang> and
        paragraph_<lang> per paragraph; both."""
        languages: list[str] = []
        """Language codes (e.g. [en]) whose probability is emitted on every document, as key <lang>."""
        model_path: str | None = None
        """Another fastText language-ID model, local or s3:// (default: the bundled lid.176.ftz)."""
        close_pairs: bool = True
        """Second opinion on the close pairs lid.176 cannot separate (Maithili read as Hindi, Limburgish as
        Dutch, Bosnian as Croatian, Aragonese and Asturian as Spanish, Interlingua as Latin or Italian, Malay
        and Indonesian, Nynorsk and Bokmål): marker words of the other language move the top key to it, scored
        with the markers' share (see taggers/close_pairs.py). false: the top language is always lid.176's."""
        min_score: float = DEFAULT_MIN_SCORE
        """Chosen languages scoring below this are written as 0 (fastText's prediction threshold). 5e-6 keeps
        every score down to the 5 stored decimals; the bundled model is predicted in numpy, where it costs little
        (through the fasttext module, 0.001 is 1.7x faster on short paragraphs)."""

        def __post_init__(self) -> None:
            if not 0.0 <= self.min_score <= 0.005:
                raise ConfigError("taggers.language.min_score: between 0 and 0.005 (so the top language is kept)")
            if self.model_path is not None and not io.exists(self.model_path):
                raise ConfigError(f"taggers.language.model_path: {self.model_path} does not exist")

    def __init__(self, params: TaggerParams) -> None:
        super().__init__(params)
        self.model = load_language_model(self.params.model_path)
        path = self.params.model_path or BUNDLED_MODEL
        known = model_labels(self.model)
        check_labels(path, self.params.languages, known, "taggers.language.languages")
        self.languages: list[str] = list(self.params.languages)
        self.columns = [known.index(lang) for lang in self.languages]
        self.k = -1 if self.languages else 1  # the top label alone, unless chosen languages need their scores

    def _spans(
        self,
        top: str | None,
        score: float,
        values: list[float],
        start: int,
        end: int,
        prefix: str,
        out: dict[str, list[Span]],
    ) -> None:
        if top is not None:
            out.setdefault(f"{prefix}top_{top}", []).append((start, end, score))
        for lang, value in zip(self.languages, values, strict=True):
            out.setdefault(prefix + lang, []).append((start, end, value))

    def predict_batch(self, docs: Sequence[Document]) -> list[dict[str, list[Span]]]:
        level, threshold = self.params.level, self.params.min_score
        results = predict_levels(self.model, docs, level, self.k, threshold, self.columns, self._spans)
        if self.params.close_pairs:
            results = [refine_tops(doc.text, out) for doc, out in zip(docs, results, strict=True)]
        return results

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        return self.predict_batch([doc])[0]
