"""The fastText classifier tagger: a model trained by ``dolma train-fasttext`` separates held-out documents;
paragraph level, label selection, top-k and models on S3."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dolma.taggers.classifiers import FastTextClassifier, FastTextModule, fasttext_line, load_fasttext_module
from dolma.taggers.fasttext_numpy import FastTextNumpy

from dolma import Document, cli, config, io
from dolma.commands.train_fasttext import Config, train
from dolma.errors import ConfigError
from dolma.hashing import unit_hash

SPORT = "goal match team score league player coach referee stadium season striker keeper penalty".split()
COOKING = "recipe oven flour sugar butter bake simmer garlic onion pepper salt sauce dough whisk".split()
NOISE = "the a and of to in is it that with for on was as this by at from".split()
SEED = 3
TEST_FRACTION = 0.25


def topic_text(topic: str, rng: random.Random) -> str:
    own = SPORT if topic == "sport" else COOKING
    return " ".join(rng.choice(own) if rng.random() < 0.25 else rng.choice(NOISE + SPORT + COOKING) for _ in range(30))


def documents(n: int) -> list[tuple[Document, str]]:
    rng = random.Random(0)
    out = []
    for i in range(n):
        topic = "sport" if i % 2 else "cooking"
        out.append((Document(id=f"doc-{i}", text=topic_text(topic, rng)), topic))
    return out


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A sport/cooking classifier trained by the train-fasttext command on the non-held-out documents."""
    root = tmp_path_factory.mktemp("classifier")
    data = root / "data.jsonl"
    with open(data, "w") as f:
        for doc, topic in documents(1200):
            f.write(json.dumps({"id": doc.id, "text": doc.text, "label": topic}) + "\n")
    cfg = {"data": [str(data)], "model": str(root / "topic.bin"), "seed": SEED, "test_fraction": TEST_FRACTION}
    train(config.build(Config, {**cfg, "threads": 1, "epoch": 20, "dim": 20, "bucket": 20_000}))
    return str(root / "topic.bin")


@pytest.fixture(scope="module")
def unigram_model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A sport/cooking classifier without word bigrams (so taggers.fasttext_numpy predicts it), with character
    n-grams, trained by a fresh interpreter that imports only fasttext (fasttext-numpy2 can diverge to NaN in a
    process that imported more)."""
    root = tmp_path_factory.mktemp("unigram")
    lines = [f"__label__{topic} {fasttext_line(doc.text)}" for doc, topic in documents(1200)]
    (root / "train.txt").write_text("\n".join(lines) + "\n")
    script = (
        "import sys, fasttext; fasttext.train_supervised(input=sys.argv[1], dim=20, epoch=20, wordNgrams=1, minn=2, "
        "maxn=4, bucket=20000, thread=1, verbose=0).save_model(sys.argv[2])"
    )
    subprocess.run([sys.executable, "-c", script, str(root / "train.txt"), str(root / "topic.bin")], check=True)
    return str(root / "topic.bin")


def held_out() -> list[tuple[Document, str]]:
    return [(doc, topic) for doc, topic in documents(1200) if unit_hash(doc.id, SEED) < TEST_FRACTION]


def test_tagger_separates_held_out_documents(model_path: str) -> None:
    tagger = FastTextClassifier(FastTextClassifier.Params(model_path=model_path))
    pairs = held_out()
    results = tagger.predict_batch([doc for doc, _ in pairs])
    best = [max(("sport", "cooking"), key=lambda label: attrs[label][0][2]) for attrs in results]
    for label in ("sport", "cooking"):
        predicted = [b == label for b in best]
        truth = [topic == label for _, topic in pairs]
        tp = sum(p and t for p, t in zip(predicted, truth, strict=True))
        precision, recall = tp / max(sum(predicted), 1), tp / sum(truth)
        print(f"{label}: precision {precision:.3f} recall {recall:.3f} on {len(pairs)} held-out documents")
        assert precision >= 0.8 and recall >= 0.8  # chance is 0.5
    for attrs, (doc, _) in zip(results, pairs, strict=True):
        assert attrs["sport"][0][2] + attrs["cooking"][0][2] == pytest.approx(1.0, abs=1e-3)
        assert attrs["sport"][0][:2] == (0, len(doc.text))


def test_paragraph_level_scores_each_paragraph(model_path: str) -> None:
    tagger = FastTextClassifier(FastTextClassifier.Params(model_path=model_path, level="paragraph"))
    rng = random.Random(5)
    sport = " ".join(rng.choice(SPORT) for _ in range(20))
    cooking = " ".join(rng.choice(COOKING) for _ in range(20))
    text = f"{sport}\n\n{cooking}\n"
    (attrs,) = tagger.predict_batch([Document(id="p", text=text)])
    assert set(attrs) == {"paragraph_sport", "paragraph_cooking"}
    (s1, e1, sport_in_sport), (s2, e2, sport_in_cooking) = attrs["paragraph_sport"]
    assert (s1, e1, s2, e2) == (0, len(sport) + 1, len(sport) + 2, len(text))
    assert sport_in_sport > 0.9 and sport_in_cooking < 0.1


def test_chosen_labels_and_top_k(model_path: str) -> None:
    doc = Document(id="d", text=" ".join(SPORT))
    only_sport = FastTextClassifier(FastTextClassifier.Params(model_path=model_path, labels=["sport"]))
    assert set(only_sport.predict(doc)) == {"sport"}
    top1 = FastTextClassifier(FastTextClassifier.Params(model_path=model_path, k=1))
    attrs = top1.predict(doc)
    assert attrs["sport"][0][2] > 0.9 and attrs["cooking"] == [(0, len(doc.text), 0.0)]


def test_blank_document_scores_zero(model_path: str) -> None:
    tagger = FastTextClassifier(FastTextClassifier.Params(model_path=model_path))
    assert tagger.predict(Document(id="b", text=" \n")) == {"sport": [(0, 2, 0.0)], "cooking": [(0, 2, 0.0)]}


def test_model_on_s3_is_downloaded_once_into_the_cache(
    model_path: str, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOLMA_MODEL_CACHE", str(tmp_path / "cache"))
    remote = f"{s3_bucket}/models/topic.bin"
    with open(model_path, "rb") as f:
        io.write_bytes(remote, f.read())
    doc = Document(id="d", text=" ".join(COOKING))
    local = FastTextClassifier(FastTextClassifier.Params(model_path=model_path)).predict(doc)
    assert FastTextClassifier(FastTextClassifier.Params(model_path=remote)).predict(doc) == local
    (cached,) = os.listdir(tmp_path / "cache")
    first = os.stat(tmp_path / "cache" / cached).st_mtime_ns
    time.sleep(0.01)
    FastTextClassifier(FastTextClassifier.Params(model_path=remote))
    assert os.listdir(tmp_path / "cache") == [cached]
    assert os.stat(tmp_path / "cache" / cached).st_mtime_ns == first


def test_missing_model_and_unknown_label_are_config_errors(model_path: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.bin does not exist"):
        FastTextClassifier.Params(model_path=str(tmp_path / "nope.bin"))
    with pytest.raises(ConfigError, match="politics"):
        FastTextClassifier(FastTextClassifier.Params(model_path=model_path, labels=["politics"]))


ADVERSARIAL = {
    "emoji": "😀" * 100_000,
    "one_long_line": ("goal oven " * 100_000)[:1_000_000],
    "one_char_lines": "a\n" * 100_000,
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_inputs_complete_quickly(model_path: str, name: str) -> None:
    tagger = FastTextClassifier(FastTextClassifier.Params(model_path=model_path, level="both"))
    start = time.perf_counter()
    (attrs,) = tagger.predict_batch([Document(id=name, text=ADVERSARIAL[name])])
    assert time.perf_counter() - start < 10
    assert len(attrs["sport"]) == 1


def test_dolma_tag_scores_with_a_trained_model_in_worker_processes(model_path: str, tmp_path: Path) -> None:
    documents = tmp_path / "documents"
    documents.mkdir()
    pairs = held_out()
    for shard in range(2):
        rows = [{"id": doc.id, "text": doc.text} for doc, _ in pairs[shard::2]]
        (documents / f"{shard}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    taggers = json.dumps([{"fasttext_classifier": {"model_path": model_path, "labels": ["sport"]}}])
    args = ["--documents", str(documents / "*.jsonl"), "--experiment", "topic", "--processes", "2"]
    assert cli.main(["tag", *args, "--taggers", taggers]) == 0
    correct = 0
    for shard in range(2):
        lines = (tmp_path / "attributes" / "topic" / f"{shard}.jsonl").read_text().splitlines()
        for line, (_, topic) in zip(lines, pairs[shard::2], strict=True):
            score = json.loads(line)["attributes"]["topic__fasttext_classifier__sport"][0][2]
            correct += (score >= 0.5) == (topic == "sport")
    assert correct / len(pairs) >= 0.8


def test_bigram_model_goes_through_the_fasttext_module(model_path: str) -> None:
    assert isinstance(FastTextClassifier(FastTextClassifier.Params(model_path=model_path)).model, FastTextModule)


@pytest.mark.parametrize("k", [1, -1])
def test_unigram_model_is_predicted_in_numpy_as_the_fasttext_module_does(unigram_model_path: str, k: int) -> None:
    params = FastTextClassifier.Params(model_path=unigram_model_path, level="both", k=k)
    fast = FastTextClassifier(params)
    assert isinstance(fast.model, FastTextNumpy)
    slow = FastTextClassifier(params)
    slow.model = FastTextModule(load_fasttext_module(unigram_model_path))
    docs = [doc for doc, _ in held_out()] + [Document(id="blank", text=" \n"), Document(id="e", text="😀" * 1000)]
    results = fast.predict_batch(docs)
    assert set(results[0]) == {"sport", "cooking", "paragraph_sport", "paragraph_cooking"}
    for ours, theirs in zip(results, slow.predict_batch(docs), strict=True):
        assert ours.keys() == theirs.keys()
        for key, spans in ours.items():
            assert [span[:2] for span in spans] == [span[:2] for span in theirs[key]]
            assert [span[2] for span in spans] == pytest.approx([span[2] for span in theirs[key]], abs=2e-6)
