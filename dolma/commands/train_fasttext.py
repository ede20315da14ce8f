"""``dolma train-fasttext``: train a fastText classifier from labelled documents and measure it on held-out ones.

The DCLM / FineWeb-Edu / Biomed-Enriched workflow: label a sample (a label field in each document, or one
set of files per class), train a small classifier here, tag the whole corpus with the
``fasttext_classifier`` tagger, then filter or upsample by its score in the mixer. The held-out split is a
seeded hash of each document id, so it is the same on every run and machine; the texts fed to fastText go
through the tagger's own preprocessing, so training and tagging see text of the same shape.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Annotated, Any, Literal

import msgspec
from msgspec import Meta

from dolma import io
from dolma.config import Strict
from dolma.documents import BadLines, iter_decoded, read_documents
from dolma.errors import ConfigError, InputError
from dolma.executors import default_processes
from dolma.hashing import unit_hash
from dolma.taggers.classifiers import LABEL_PREFIX, fasttext_line

PREDICT_BATCH = 4096
SHUFFLE_PARTS = 64
COPY_CHUNK = 16 << 20


class Config(Strict):
    model: Annotated[str, Meta(description="where to save the trained model (.bin), local or s3://")]
    data: Annotated[
        list[str], Meta(description="labelled JSONL documents (paths or globs, local or s3://); see label_field")
    ] = []
    label_field: Annotated[
        str, Meta(description="the field of each data document holding its label(s): a key or a dotted path")
    ] = "label"
    positive: Annotated[list[str], Meta(description="documents of the positive class (instead of data)")] = []
    negative: Annotated[list[str], Meta(description="documents of the negative class (instead of data)")] = []
    positive_label: Annotated[str, Meta(description="label name given to the positive documents")] = "positive"
    negative_label: Annotated[str, Meta(description="label name given to the negative documents")] = "negative"
    test_fraction: Annotated[float, Meta(description="share of documents held out for evaluation")] = 0.1
    seed: Annotated[int, Meta(description="seed of the held-out split (a hash of each id) and of fastText")] = 0
    lr: Annotated[float, Meta(description="fastText learning rate")] = 0.1
    epoch: Annotated[int, Meta(description="fastText training epochs")] = 5
    word_ngrams: Annotated[int, Meta(description="fastText word n-gram length (2 adds bigrams)")] = 2
    dim: Annotated[int, Meta(description="fastText vector size")] = 100
    bucket: Annotated[
        int, Meta(description="hash buckets for word n-grams; the model holds bucket x dim floats (2M x 100 = 800 MB)")
    ] = 2_000_000
    min_count: Annotated[int, Meta(description="ignore words seen fewer times than this")] = 1
    loss: Annotated[Literal["softmax", "ova", "hs", "ns"], Meta(description="fastText loss")] = "softmax"
    threads: Annotated[int | None, Meta(description="training threads (default: all cores)")] = None
    skip_bad_lines: Annotated[
        bool, Meta(description="count and skip malformed lines instead of stopping at the first")
    ] = False


@dataclass
class LabelScores:
    train: int = 0
    held_out: int = 0
    true_positives: int = 0
    predicted: int = 0

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.held_out if self.held_out else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class TrainReport:
    """What a training run measured: per-label counts and held-out precision/recall of the top-1 label."""

    labels: dict[str, LabelScores] = field(default_factory=dict)
    held_out: int = 0
    correct: int = 0
    skipped_empty: int = 0
    bad_lines: BadLines = field(default_factory=BadLines)

    def lines(self, model: str) -> list[str]:
        train = sum(s.train for s in self.labels.values())
        out = [
            f"dolma train-fasttext: {train:,} training and {self.held_out:,} held-out documents, "
            f"{len(self.labels)} labels",
            f"{'label':<24}{'train':>10}{'held-out':>10}{'precision':>11}{'recall':>9}{'f1':>8}",
        ]
        for name, s in sorted(self.labels.items()):
            out.append(f"{name:<24}{s.train:>10,}{s.held_out:>10,}{s.precision:>11.3f}{s.recall:>9.3f}{s.f1:>8.3f}")
        if self.held_out:
            out.append(f"top-1 accuracy on held-out documents: {self.correct / self.held_out:.3f}")
        else:
            out.append("no held-out documents (raise test_fraction to measure the model)")
        if self.skipped_empty:
            out.append(f"skipped {self.skipped_empty:,} documents with blank text")
        if self.bad_lines.count:
            out.append(f"skipped {self.bad_lines.count:,} bad lines, first at {self.bad_lines.examples[0]}")
        out.append(f"model saved to {model}")
        return out


def _label_token(value: Any) -> str:
    text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    return "_".join(text.split())


def _labels_of(row: dict[str, Any], dotted: str, where: str) -> list[str]:
    node: Any = row
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise InputError(f"{where}: no label field {dotted!r}")
        node = node[part]
    values = node if isinstance(node, list) else [node]
    labels = [_label_token(v) for v in values if v is not None and _label_token(v)]
    if not labels:
        raise InputError(f"{where}: label field {dotted!r} is empty")
    return labels


def _labelled(config: Config, bad: BadLines | None) -> Iterator[tuple[str, str, list[str]]]:
    """``(id, text, labels)`` of every training document, from ``data`` or from ``positive``/``negative``."""
    decoder = msgspec.json.Decoder(dict[str, Any])
    for path in io.expand_globs(config.data, "data") if config.data else []:
        for lineno, row, _ in iter_decoded(path, decoder, bad):
            where = f"{path}:{lineno}"
            doc_id, text = row.get("id"), row.get("text")
            if not isinstance(doc_id, str) or not isinstance(text, str):
                if bad is None:
                    raise InputError(f"{where}: id and text must be strings")
                bad.add(f"{where}: id and text must be strings")
                continue
            yield doc_id, text, _labels_of(row, config.label_field, where)
    classes = (
        ("positive", config.positive, config.positive_label),
        ("negative", config.negative, config.negative_label),
    )
    for key, patterns, label in classes:
        for path in io.expand_globs(patterns, key) if patterns else []:
            for _, doc, _ in read_documents(path, bad):
                yield doc.id, doc.text, [_label_token(label)]


def _check(config: Config) -> None:
    if bool(config.data) == bool(config.positive or config.negative):
        raise ConfigError("give either data (with label_field) or both positive and negative, not both or neither")
    if not config.data and not (config.positive and config.negative):
        raise ConfigError("positive and negative: give both (paths or globs of each class's documents)")
    if config.positive_label == config.negative_label:
        raise ConfigError("positive_label and negative_label must differ")
    if not 0.0 <= config.test_fraction < 1.0:
        raise ConfigError("test_fraction: a share in [0, 1)")


def _write_split(config: Config, train_parts: Sequence[IO[str]], test: IO[str], report: TrainReport) -> None:
    """Held-out documents to ``test``; training documents spread over ``train_parts`` by a hash of their id,
    for :func:`_shuffle_into`."""
    bad = report.bad_lines if config.skip_bad_lines else None
    for doc_id, text, labels in _labelled(config, bad):
        line = fasttext_line(text).strip()
        if not line:
            report.skipped_empty += 1
            continue
        held_out = unit_hash(doc_id, config.seed) < config.test_fraction
        for label in labels:
            scores = report.labels.setdefault(label, LabelScores())
            if held_out:
                scores.held_out += 1
            else:
                scores.train += 1
        prefix = " ".join(LABEL_PREFIX + label for label in labels)
        out = test if held_out else train_parts[int(unit_hash(doc_id, config.seed + 1) * len(train_parts))]
        out.write(f"{prefix} {line}\n")


def _shuffle_into(parts: list[str], path: str, seed: int) -> None:
    """Concatenate the parts, each in a seeded hash order of its lines: a reproducible shuffle that holds one
    part in memory. fastText learns in file order (and splits the file between threads), so a file sorted by
    class, as positive-then-negative inputs give, would bias the model towards the last class."""
    with open(path, "w", encoding="utf-8") as out:
        for part in parts:
            with open(part, encoding="utf-8") as f:
                lines = f.readlines()
            lines.sort(key=lambda line: unit_hash(line, seed))
            out.writelines(lines)
            os.remove(part)


def _evaluate(model: Any, test_path: str, report: TrainReport) -> None:
    """Top-1 prediction of each held-out document against its labels, counted per label."""

    def flush(texts: list[str], truths: list[set[str]]) -> None:
        predicted, _ = model.predict(texts, k=1)
        for (label,), truth in zip(predicted, truths, strict=True):
            name = label.removeprefix(LABEL_PREFIX)
            scores = report.labels.setdefault(name, LabelScores())
            scores.predicted += 1
            report.held_out += 1
            if name in truth:
                scores.true_positives += 1
                report.correct += 1
        texts.clear()
        truths.clear()

    texts: list[str] = []
    truths: list[set[str]] = []
    with open(test_path, encoding="utf-8") as lines:
        for line in lines:
            tokens = line.rstrip("\n").split(" ")
            n = next((i for i, t in enumerate(tokens) if not t.startswith(LABEL_PREFIX)), len(tokens))
            truths.append({t.removeprefix(LABEL_PREFIX) for t in tokens[:n]})
            texts.append(" ".join(tokens[n:]))
            if len(texts) >= PREDICT_BATCH:
                flush(texts, truths)
    if texts:
        flush(texts, truths)


def _fit(train_path: str, model_path: str, options: dict[str, Any]) -> None:
    import fasttext

    fasttext.train_supervised(input=train_path, **options).save_model(model_path)


def fit_in_fresh_process(train_path: str, model_path: str, options: dict[str, Any]) -> None:
    """Train in a spawned child. fasttext-numpy2 0.10.4 intermittently diverges to NaN when a process trains
    a second model (seen on every other run in one process, never in a fresh one); a child also hands the
    memory of a large model (bucket x dim floats) back to the system when it ends."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        try:
            pool.submit(_fit, train_path, model_path, options).result()
        except RuntimeError as exc:
            raise InputError(f"fastText training failed: {exc} (a lower lr usually helps)") from None


def train(config: Config) -> TrainReport:
    """Split, train, evaluate and save; returns the measurements (``main`` prints them)."""
    _check(config)
    import fasttext

    report = TrainReport()
    with tempfile.TemporaryDirectory(prefix="dolma-train-fasttext-") as tmp:
        train_path, test_path, model_path = (os.path.join(tmp, n) for n in ("train.txt", "test.txt", "model.bin"))
        parts = [os.path.join(tmp, f"train-{i:02d}.txt") for i in range(SHUFFLE_PARTS)]
        with contextlib.ExitStack() as stack:
            part_files = [stack.enter_context(open(part, "w", encoding="utf-8")) for part in parts]
            test = stack.enter_context(open(test_path, "w", encoding="utf-8"))
            _write_split(config, part_files, test, report)
        _shuffle_into(parts, train_path, config.seed)
        trained = {name for name, s in report.labels.items() if s.train}
        if len(trained) < 2:
            raise InputError(f"training needs documents of at least two labels; found {sorted(trained) or 'none'}")
        options = {
            "lr": config.lr,
            "epoch": config.epoch,
            "wordNgrams": config.word_ngrams,
            "dim": config.dim,
            "minCount": config.min_count,
            "bucket": config.bucket,
            "loss": config.loss,
            "thread": config.threads or default_processes(),
            "seed": config.seed,
            "verbose": 0,
        }
        fit_in_fresh_process(train_path, model_path, options)
        _evaluate(fasttext.load_model(model_path), test_path, report)
        with open(model_path, "rb") as saved, io.atomic_write(config.model) as out:
            for chunk in iter(lambda: saved.read(COPY_CHUNK), b""):
                out.write(chunk)
    return report


def main(config: Config) -> int:
    report = train(config)
    print("\n".join(report.lines(config.model)), file=sys.stdout)
    return 0
