"""fastText prediction in numpy: subword ids, hidden vectors, labels and probabilities against the fasttext module
itself, on the bundled lid.176 model (pruned, product-quantized, hierarchical softmax) and on tiny models the tests
train (softmax, hierarchical softmax, quantized with norms), on real text and adversarial input."""

from __future__ import annotations

import glob
import gzip
import importlib.resources
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import fasttext
import numpy as np
import pytest
from dolma.taggers import fasttext_numpy
from dolma.taggers.fasttext_numpy import FastTextNumpy

from dolma.documents import paragraph_bounds

LID = str(importlib.resources.files("dolma.taggers").joinpath("resources", "lid.176.ftz"))
SAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "sample", "documents", "**", "*.jsonl.gz")
ADVERSARIAL = [
    "",
    "   ",
    " \t \x0b \x0c \r ",
    "😀" * 100_000,
    "tab\tseparated\rwords\x0bhere\x0cand\x00nul",
    "\x0b",
    "__label__en",
    "__label__en __label__fr bonjour tout le monde",
    "__label__nope hello world",
    "</s> </s>",
    "non\xa0breaking\u2003spaces\x1cand\x85separators",
    "日本語のテキスト、English words, и русский текст",
]


@pytest.fixture(scope="module")
def lid() -> FastTextNumpy:
    model = fasttext_numpy.load(LID)
    assert model is not None
    return model


@pytest.fixture(scope="module")
def lid_reference() -> Any:
    return fasttext.load_model(LID)


def sample_texts() -> list[str]:
    """The repository's sample corpus: every document on one line, and each of its paragraphs."""
    texts = []
    for path in sorted(glob.glob(SAMPLE, recursive=True)):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                text = json.loads(line)["text"]
                texts.append(text.replace("\n", " "))
                texts += [text[s:e].replace("\n", " ") for s, e in paragraph_bounds(text)]
    assert len(texts) > 10_000
    return texts


def reference_matrix(model: FastTextNumpy, reference: Any, texts: list[str], k: int, threshold: float) -> Any:
    """fastText's own predictions as a probability matrix and top columns, like :class:`Predictions`."""
    labels, probs = reference.predict(texts, k=k, threshold=threshold)
    columns = {label: i for i, label in enumerate(model.labels)}
    matrix = np.zeros((len(texts), len(model.labels)))
    top = np.full(len(texts), -1)
    for i, (row_labels, row_probs) in enumerate(zip(labels, probs, strict=True)):
        matrix[i, [columns[label] for label in row_labels]] = row_probs
        if len(row_labels):
            top[i] = columns[row_labels[0]]
    return matrix, top


def words_to_check(reference: Any) -> list[str]:
    rng = random.Random(0)
    alphabet = list("abcdefghijklmnopqrstuvwxyz<>_-.,!?0123456789éßçñøåäöü日本語中文한국어русскийالعربية😀🎉👍🏽\x80")
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))) for _ in range(4000)]
    return words + reference.get_words()[:3000] + ["a", "é", "😀", "</s>", "x" * 40, "__label", "_label__en"]


def test_subword_ids_equal_fasttext_get_subwords(lid: FastTextNumpy, lid_reference: Any) -> None:
    words = words_to_check(lid_reference)
    mismatched = [w for w in words if lid.subword_ids(w) != lid_reference.get_subwords(w)[1].tolist()]
    assert mismatched == []
    assert any(len(lid.subword_ids(w)) > 1 for w in words)  # n-grams surviving the pruning are found
    rows, owners = lid._ngram_rows(words)  # one vectorised pass over many words = one word at a time
    for i in range(0, len(words), 11):
        assert rows[owners == i].tolist() == lid._ngram_rows([words[i]])[0].tolist()


def test_label_tokens_are_not_inputs(lid: FastTextNumpy) -> None:
    assert lid.subword_ids("__label__en") == [] and lid.subword_ids("__label__unknown") == []
    with_labels, _ = lid.hidden(["__label__en hello __label__xx world"])
    without, _ = lid.hidden(["hello world"])
    assert np.array_equal(with_labels, without)


def test_tokens_split_like_fasttext() -> None:
    python_only = {chr(c) for c in range(0x110000) if chr(c).isspace()} - set(" \n\r\t\x0b\x0c")
    assert set(fasttext_numpy.PYTHON_ONLY_SEPARATORS) == python_only | {"\x00"}
    for text in ADVERSARIAL + ["a\u2003b", "a\x00b", "a\x1cb c", "x\xa0y\u3000z"]:
        assert fasttext_numpy.tokens(text) == re.findall("[^ \n\r\t\x0b\x0c\x00]+", text)


def test_hidden_is_fasttext_sentence_vector(lid: FastTextNumpy, lid_reference: Any) -> None:
    """fastText adds the rows one by one in float32; we sum them exactly. Adding our rows the way fastText does
    gives its sentence vector bit for bit, and ours is within 1e-6 of it on paragraphs (fastText's float32 sum
    drifts by up to ~1e-5 on long documents)."""
    texts = sample_texts()
    hidden, has_input = lid.hidden(texts)
    assert has_input.all()
    reference = np.array([lid_reference.get_sentence_vector(t) for t in texts])
    short = np.array([len(fasttext_numpy.tokens(t)) <= 100 for t in texts])
    assert np.abs(hidden - reference)[short].max() < 1e-6
    assert np.abs(hidden - reference).max() < 2e-5
    worst = int(np.abs(hidden - reference).max(axis=1).argmax())
    ids = [i for word in fasttext_numpy.tokens(texts[worst]) for i in lid.subword_ids(word)] + [0]  # 0: </s>
    rows = lid.input.take(np.array(ids))
    assert np.array_equal(np.cumsum(rows, axis=0, dtype=np.float32)[-1] * np.float32(1 / len(ids)), reference[worst])
    assert np.abs(rows.astype(np.float64).mean(axis=0) - hidden[worst]).max() < 1e-7


def test_hidden_from_word_counts_equals_hidden_from_the_text(lid: FastTextNumpy) -> None:
    """Counts of ``str.split()`` words (shared by another tagger) give the same hidden vectors; a batch Python
    splits differently from fastText (a no-break space, a NUL, \x1c) falls back to fastText's own words."""
    texts = sample_texts()[:3000]
    counts = [Counter(t.split()) for t in texts]
    assert np.abs(lid.hidden(texts, counts)[0] - lid.hidden(texts)[0]).max() < 1e-12
    for odd in ["non\xa0breaking words", "a\x00b c", "x\x1cy z", "\u3000wide space"]:
        batch = [*texts[:5], odd]
        with_counts = lid.hidden(batch, [Counter(t.split()) for t in batch])[0]
        assert np.abs(with_counts - lid.hidden(batch)[0]).max() < 1e-12, odd
    assert np.abs(lid.hidden(texts[:5], [*counts[:4], None])[0] - lid.hidden(texts[:5])[0]).max() < 1e-12


@pytest.mark.parametrize(("k", "threshold"), [(1, 0.0), (-1, 0.001), (-1, 5e-6), (3, 0.0), (2, 0.2)])
def test_predictions_equal_fasttext_on_real_text(
    lid: FastTextNumpy, lid_reference: Any, k: int, threshold: float
) -> None:
    texts = sample_texts()
    predictions = lid.predict(texts, k=k, threshold=threshold)
    matrix, top = reference_matrix(lid, lid_reference, texts, k, threshold)
    assert np.array_equal(predictions.top, top)
    assert np.array_equal(predictions.probabilities > 0, matrix > 0)  # the same labels returned
    short = np.array([len(fasttext_numpy.tokens(t)) <= 100 for t in texts])
    assert np.abs(predictions.probabilities - matrix)[short].max() <= 2e-6
    assert np.abs(predictions.probabilities - matrix).max() <= 1e-5  # long documents: see the hidden test


@pytest.mark.parametrize(("k", "threshold"), [(1, 0.0), (-1, 0.001), (-1, 0.0)])
def test_adversarial_inputs_match_fasttext(lid: FastTextNumpy, lid_reference: Any, k: int, threshold: float) -> None:
    predictions = lid.predict(ADVERSARIAL, k=k, threshold=threshold)
    matrix, top = reference_matrix(lid, lid_reference, [t.replace("\n", " ") for t in ADVERSARIAL], k, threshold)
    assert np.array_equal(predictions.top, top)
    assert np.abs(predictions.probabilities - matrix).max() <= 2e-6
    assert predictions.top[0] >= 0  # an empty line still has </s>: fastText predicts something


def test_exact_tree_search_agrees_where_it_is_used(lid: FastTextNumpy, lid_reference: Any) -> None:
    """Rows whose best leaves are within the margin go through a copy of fastText's depth-first search: force
    every row through it, and it must still agree with fastText."""
    model = fasttext_numpy.load(LID)
    assert model is not None
    model.margin = np.float32(np.inf)
    texts = sample_texts()[:3000]
    for k in (1, 2):
        predictions = model.predict(texts, k=k)
        matrix, top = reference_matrix(model, lid_reference, texts, k, 0.0)
        assert np.array_equal(predictions.top, top)
        assert np.array_equal(predictions.probabilities > 0, matrix > 0)


def test_token_cache_is_bounded_and_results_do_not_depend_on_it(lid_reference: Any) -> None:
    small = fasttext_numpy.load(LID, max_cached_tokens=50)
    assert small is not None
    texts = sample_texts()[:2000]
    batches = [small.predict(texts[i : i + 100], k=-1, threshold=0.0) for i in range(0, len(texts), 100)]
    assert len(small._index) < 50 + 100 * 200
    matrix, top = reference_matrix(small, lid_reference, texts, -1, 0.0)
    assert np.array_equal(np.concatenate([p.top for p in batches]), top)
    assert np.abs(np.concatenate([p.probabilities for p in batches]) - matrix).max() <= 1e-5


@pytest.mark.parametrize("k", [1, 2, -1])
def test_empty_batch(lid: FastTextNumpy, k: int) -> None:
    predictions = lid.predict([], k=k)
    assert predictions.probabilities.shape == (0, 176) and predictions.top.shape == (0,)


SYLLABLES = {
    "north": ["ka", "to", "mi", "ru", "sen", "dai", "kö", "ñu"],
    "south": ["el", "la", "qu", "ez", "ção", "ão", "ij", "öl"],
    "east": ["жа", "ли", "ков", "ни", "ость", "ра", "😀", "ть"],
}


def synthetic_line(rng: random.Random, language: str) -> str:
    own = SYLLABLES[language]
    words = ["".join(rng.choice(own) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(3, 12))]
    return " ".join(words)


TRAINING = {
    "softmax": {"loss": "softmax"},
    "hs": {"loss": "hs"},
    "bigrams": {"loss": "softmax", "wordNgrams": 2},
    "ova": {"loss": "ova"},
}


TRAIN_SCRIPT = """
import json, sys
import fasttext
fasttext.train_supervised(input=sys.argv[1], **json.loads(sys.argv[3])).save_model(sys.argv[2])
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Tiny models trained on three made-up languages, each by a fresh interpreter that imports nothing else:
    fasttext-numpy2 0.10.4 intermittently diverges to NaN when it trains in a process that has trained before
    or imported more (seen here in spawned workers too)."""
    root = tmp_path_factory.mktemp("train")
    rng = random.Random(1)
    lines = [f"__label__{lang} {synthetic_line(rng, lang)}" for lang in list(SYLLABLES) * 300]
    train = str(root / "train.txt")
    Path(train).write_text("\n".join(lines) + "\n", encoding="utf-8")
    base = {"dim": 8, "epoch": 3, "minn": 2, "maxn": 4, "bucket": 5000, "thread": 1, "verbose": 0}
    paths = {name: str(root / f"{name}.bin") for name in TRAINING}
    runs = [
        subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT, train, paths[name], json.dumps({**base, **options})])
        for name, options in TRAINING.items()
    ]
    assert [run.wait() for run in runs] == [0] * len(runs)
    return {**paths, "train": train}


def held_out_texts() -> list[str]:
    rng = random.Random(2)
    mixed = [synthetic_line(rng, "north") + " " + synthetic_line(rng, "east") for _ in range(100)]
    return [synthetic_line(rng, lang) for lang in list(SYLLABLES) * 100] + mixed + ADVERSARIAL + ["unseen wörds"]


def assert_agrees(path: str, reference: Any) -> None:
    model = fasttext_numpy.load(path)
    assert model is not None, path
    texts = held_out_texts()
    short = np.array([len(text) <= 1000 for text in texts])  # fastText's float32 sums drift on 100k emoji
    hidden, _ = model.hidden(texts)
    vectors = np.array([reference.get_sentence_vector(t) for t in texts])
    assert np.abs(hidden - vectors)[short].max() < 1e-6 and np.abs(hidden - vectors).max() < 1e-5
    for k, threshold in ((1, 0.0), (-1, 0.0), (-1, 0.3), (2, 0.0)):
        predictions = model.predict(texts, k=k, threshold=threshold)
        matrix, top = reference_matrix(model, reference, texts, k, threshold)
        assert np.array_equal(predictions.top, top)
        assert np.array_equal(predictions.probabilities > 0, matrix > 0)
        assert np.abs(predictions.probabilities - matrix)[short].max() <= 2e-6
        assert np.abs(predictions.probabilities - matrix).max() <= 1e-5


@pytest.mark.parametrize("name", ["softmax", "hs"])
def test_tiny_trained_models_agree_with_fasttext(trained: dict[str, str], name: str) -> None:
    assert_agrees(trained[name], fasttext.load_model(trained[name]))


def test_softmax_probabilities_are_fasttexts_p_plus_1e_5(trained: dict[str, str]) -> None:
    _, probs = fasttext.load_model(trained["softmax"]).predict(held_out_texts()[:50], k=-1)
    assert all(abs(float(row.sum()) - (1 + 3e-5)) < 2e-6 for row in probs)  # three labels, each p + 1e-5


def quantized(trained: dict[str, str], tmp_path: Path, **options: Any) -> tuple[str, Any]:
    reference = fasttext.load_model(trained["softmax"])
    reference.quantize(input=trained["train"], retrain=False, **options)
    path = str(tmp_path / "quantized.ftz")
    reference.save_model(path)
    return path, reference


@pytest.mark.parametrize(("qnorm", "cutoff"), [(False, 2000), (True, 2000), (True, 300)])
def test_quantized_models_agree_with_fasttext(
    trained: dict[str, str], tmp_path: Path, qnorm: bool, cutoff: int
) -> None:
    """Pruned to the ``cutoff`` rows of largest norm: 2000 keeps words and n-grams, 300 words only (fastText then
    uses no n-gram at all)."""
    path, reference = quantized(trained, tmp_path, qnorm=qnorm, cutoff=cutoff, dsub=2)
    model = fasttext_numpy.load(path)
    assert model is not None and (model.input.norm_pq is not None) == qnorm
    assert (model.prune_size > 0) == (cutoff > 300) and model.prune_size >= 0
    assert_agrees(path, reference)


def test_unsupported_models_and_files_return_none(trained: dict[str, str], tmp_path: Path) -> None:
    for path in (trained["bigrams"], trained["ova"]):
        assert fasttext_numpy.load(path) is None, path
    lid = Path(LID).read_bytes()
    qout = len(lid) - 176 * 16 * 4 - 16 - 1  # the qout flag precedes the output matrix (two int64, 176 x 16 floats)
    assert lid[qout] == 0
    good = Path(trained["hs"]).read_bytes()
    broken = {
        "qout": lid[:qout] + b"\1" + lid[qout + 1 :],  # a quantized output layer (fastText would read it as such)
        "trailing": good + b"\0",
        "truncated": good[:-4],
        "text": b"not a model\n" * 10,
    }
    for name, data in broken.items():
        (tmp_path / name).write_bytes(data)
        assert fasttext_numpy.load(str(tmp_path / name)) is None, name
