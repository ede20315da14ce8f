"""fastText classifiers: any supervised fastText model scores documents or paragraphs.

This is the scoring half of the DCLM / FineWeb-Edu workflow (label a sample, ``dolma train-fasttext``, tag
everything with ``fasttext_classifier``, keep or upsample by score in the mixer). The helpers here are shared
with the language tagger and the training command, so training and tagging see the same text.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
from dolma.taggers import fasttext_numpy
from dolma.taggers.fasttext_numpy import FastTextNumpy, Predictions
from dolma.taggers.text import analysed

from dolma import Document, Span, Tagger, TaggerParams, io, paragraph_bounds, tagger
from dolma.errors import ConfigError, DolmaError, InputError

LABEL_PREFIX = "__label__"
CACHE_ENV = "DOLMA_MODEL_CACHE"
EXACT_THRESHOLD = 5e-6
"""Probabilities below this are reported as 0: they round to 0 at the 5 decimals attribute files keep, and
fastText prunes its search below the threshold (hierarchical-softmax models get faster)."""

Level = Literal["document", "paragraph", "both"]


def fasttext_line(text: str) -> str:
    """The single line fastText reads for ``text``: its ``predict`` refuses newlines, so they become spaces.
    Training and tagging both go through here, so a model is scored on text shaped like its training data."""
    return text.replace("\n", " ")


def _cache_dir() -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "dolma", "models")


def local_model_path(path: str) -> str:
    """A local file holding the model at ``path``. An ``s3://`` model is downloaded once into the cache
    directory (``$DOLMA_MODEL_CACHE``, default ``~/.cache/dolma/models``), keyed by path and ETag so a
    replaced object is fetched again, and renamed into place only when complete."""
    if not io.is_s3(path):
        if not os.path.isfile(path):
            raise InputError(f"model file {path} does not exist")
        return path
    from botocore.exceptions import ClientError

    bucket, key = io.split_s3(path)
    client = io.s3_client()
    try:
        etag = str(client.head_object(Bucket=bucket, Key=key)["ETag"]).strip('"')
    except ClientError as exc:
        raise InputError(f"model file {path} cannot be read: {exc}") from None
    digest = hashlib.sha1(f"{path}\0{etag}".encode()).hexdigest()[:16]
    local = os.path.join(_cache_dir(), f"{digest}-{os.path.basename(key)}")
    if not os.path.exists(local):
        os.makedirs(os.path.dirname(local), exist_ok=True)
        tmp = f"{local}.tmp-{os.getpid()}"
        try:
            client.download_file(bucket, key, tmp)
            os.replace(tmp, local)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return local


class FastTextModule:
    """A model :mod:`taggers.fasttext_numpy` does not reproduce (word n-grams, other losses, a quantized output
    layer...), predicted by the ``fasttext`` module behind the same batch API."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.labels: list[str] = list(model.get_labels())
        self._columns = {label: i for i, label in enumerate(self.labels)}

    def predict(self, texts: Sequence[str], k: int = 1, threshold: float = 0.0, word_counts: Any = None) -> Predictions:
        """``word_counts`` is accepted for the common API, and unused: fastText splits each text itself."""
        probabilities = np.zeros((len(texts), len(self.labels)))
        top = np.full(len(texts), -1)
        if not texts:
            return Predictions(probabilities, top)
        labels, probs = self.model.predict([fasttext_line(t) for t in texts], k=k, threshold=threshold)
        for i, (row_labels, row_probs) in enumerate(zip(labels, probs, strict=True)):
            columns = [self._columns[label] for label in row_labels]
            probabilities[i, columns] = row_probs
            top[i] = columns[0] if columns else -1
        return Predictions(probabilities, top)


Classifier: TypeAlias = FastTextNumpy | FastTextModule
"""Either predicts a batch as fastText's ``predict`` would: ``predict(texts, k, threshold, word_counts=None) ->
Predictions``."""


def load_fasttext_module(path: str) -> Any:
    """Load a supervised fastText model (local or ``s3://``) with the ``fasttext`` module, and check that the
    module can batch-predict with probabilities (``fasttext-predict``, if installed over fasttext-numpy2,
    cannot)."""
    import fasttext

    local = local_model_path(path)
    try:
        model = fasttext.load_model(local)
    except ValueError as exc:
        raise InputError(f"model file {path} is not a fastText model: {exc}") from None
    try:
        labels, probs = model.predict(["probe"], k=1)
        usable = len(labels) == 1 and len(probs) == 1 and len(probs[0]) == 1
    except (TypeError, ValueError):
        usable = False
    if not usable:
        raise DolmaError(
            f"model {path}: the imported fasttext module ({fasttext.__file__}) cannot batch-predict with "
            "probabilities; reinstall fasttext-numpy2 (`pip install --force-reinstall fasttext-numpy2`)"
        )
    return model


def load_fasttext(path: str) -> Classifier:
    """A supervised fastText model (local or ``s3://``): predicted in numpy when :mod:`taggers.fasttext_numpy`
    reproduces it exactly (several times faster; the bundled lid.176 is such a model), else by the ``fasttext``
    module."""
    fast = fasttext_numpy.load(local_model_path(path))
    return fast if fast is not None else FastTextModule(load_fasttext_module(path))


def model_labels(model: Classifier) -> list[str]:
    return [label.removeprefix(LABEL_PREFIX) for label in model.labels]


def check_labels(path: str, wanted: Sequence[str], known: Sequence[str], key: str) -> None:
    missing = [label for label in wanted if label not in set(known)]
    if missing:
        shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        raise ConfigError(f"{key}: {', '.join(missing)} not among the labels of {path} ({shown})")


def units(text: str, level: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Document and paragraph bounds to score at ``level``; a blank document has no document unit."""
    doc = [(0, len(text))] if level != "paragraph" and text.strip() else []
    paragraphs = list(paragraph_bounds(text)) if level != "document" else []
    return doc, paragraphs


Emit = Callable[[str | None, float, list[float], int, int, str, dict[str, list[Span]]], None]
"""``emit(top, top_score, values, start, end, key_prefix, out)`` adds one scored unit's spans to ``out``: its most
probable label (without prefix; None for a blank document) and that label's probability, and the probabilities
of the labels the tagger asked for (0 below the threshold). Probabilities are capped at 1 (hierarchical-softmax
models can return 1.00004)."""


def predict_levels(
    model: Classifier,
    docs: Sequence[Document],
    level: str,
    k: int,
    threshold: float,
    columns: Sequence[int],
    emit: Emit,
) -> list[dict[str, list[Span]]]:
    """Score every unit (document and/or paragraphs) of a batch of documents with one batched prediction, and
    read the values of label ``columns`` (indexes into ``model.labels``) for all units at once. Document units
    get keys without prefix (a blank document is emitted with no scores), paragraphs ``paragraph_``."""
    plan = [units(doc.text, level) for doc in docs]
    texts = [doc.text[s:e] for doc, (whole, paras) in zip(docs, plan, strict=True) for s, e in whole + paras]
    analyses = list(map(analysed, texts)) if level == "document" else None  # gopher or c4 may have split them
    word_counts = None if analyses is None else [None if a is None else a.word_counts for a in analyses]
    predictions = model.predict(texts, k, threshold, word_counts)
    capped = np.minimum(predictions.probabilities, 1.0)
    tops = predictions.top.tolist()
    top_scores = capped[np.arange(len(texts)), predictions.top].tolist()
    values = iter(capped[:, list(columns)].tolist())
    names = model_labels(model)
    blank = [0.0] * len(columns)
    results = []
    unit = 0
    for doc, (whole, paras) in zip(docs, plan, strict=True):
        out: dict[str, list[Span]] = {}
        if level != "paragraph":
            if whole:
                top = tops[unit]
                emit(names[top] if top >= 0 else None, top_scores[unit], next(values), 0, len(doc.text), "", out)
                unit += 1
            else:
                emit(None, 0.0, blank, 0, len(doc.text), "", out)
        for start, end in paras:
            top = tops[unit]
            emit(names[top] if top >= 0 else None, top_scores[unit], next(values), start, end, "paragraph_", out)
            unit += 1
        results.append(out)
    return results


@tagger("fasttext_classifier")
class FastTextClassifier(Tagger):
    """Label probabilities from any supervised fastText model (local or s3://), per document or paragraph."""

    attributes = ("<label>", "paragraph_<label>")

    class Params(TaggerParams):
        model_path: str
        """The fastText model file (.bin or .ftz), local or s3:// (downloaded once per machine into a cache)."""
        level: Level = "document"
        """document: one span per document, keys <label>; paragraph: one span per paragraph, keys
        paragraph_<label>; both."""
        labels: list[str] = []
        """Labels to emit on every document (default: every label of the model)."""
        k: int = -1
        """Only the k most probable labels get their probability; the other labels score 0 (-1: all)."""

        def __post_init__(self) -> None:
            if not io.exists(self.model_path):
                raise ConfigError(f"taggers.fasttext_classifier.model_path: {self.model_path} does not exist")
            if self.k == 0 or self.k < -1:
                raise ConfigError("taggers.fasttext_classifier.k: a positive number, or -1 for all labels")

    def __init__(self, params: TaggerParams) -> None:
        super().__init__(params)
        self.model = load_fasttext(self.params.model_path)
        known = model_labels(self.model)
        check_labels(self.params.model_path, self.params.labels, known, "taggers.fasttext_classifier.labels")
        self.labels: list[str] = list(self.params.labels) or known
        self.columns = [known.index(label) for label in self.labels]

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
        for label, value in zip(self.labels, values, strict=True):
            out.setdefault(prefix + label, []).append((start, end, value))

    def predict_batch(self, docs: Sequence[Document]) -> list[dict[str, list[Span]]]:
        level, k = self.params.level, self.params.k
        return predict_levels(self.model, docs, level, k, EXACT_THRESHOLD, self.columns, self._spans)

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        return self.predict_batch([doc])[0]
