"""``dolma train-fasttext``: labelled JSONL or positive/negative globs in, a model and held-out scores out."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from dolma import cli, config
from dolma.commands.train_fasttext import Config, train
from dolma.errors import ConfigError, InputError
from dolma.hashing import unit_hash

SPORT = "goal match team score league player coach referee stadium season striker keeper penalty".split()
COOKING = "recipe oven flour sugar butter bake simmer garlic onion pepper salt sauce dough whisk".split()
NOISE = "the a and of to in is it that with for on was as this by at from".split()


def topic_text(topic: str, rng: random.Random) -> str:
    """Thirty words: a quarter from the topic's vocabulary, the rest shared noise (including the other topic's
    words), so a document is separable but not by any single word."""
    own = SPORT if topic == "sport" else COOKING
    words = [rng.choice(own) if rng.random() < 0.25 else rng.choice(NOISE + SPORT + COOKING) for _ in range(30)]
    return " ".join(words[:15]) + "\n" + " ".join(words[15:])


def write_labelled(path: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for i in range(n):
            topic = "sport" if i % 2 else "cooking"
            row = {"id": f"doc-{i}", "text": topic_text(topic, rng), "metadata": {"topic": topic}}
            f.write(json.dumps(row) + "\n")
    return path


def write_class(path: Path, topic: str, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"{topic}-{seed}-{i}", "text": topic_text(topic, rng)}) + "\n")
    return path


def make_config(**keys: object) -> Config:
    base: dict[str, object] = {"threads": 1, "epoch": 20, "dim": 20, "bucket": 20_000, "test_fraction": 0.2}
    base.update(keys)
    return config.build(Config, base)


def test_trains_on_a_label_field_and_separates_held_out_documents(tmp_path: Path) -> None:
    data = write_labelled(tmp_path / "data.jsonl", 1000)
    report = train(make_config(data=[str(data)], label_field="metadata.topic", model=str(tmp_path / "m.bin")))
    assert set(report.labels) == {"sport", "cooking"}
    for scores in report.labels.values():
        assert scores.held_out > 50
        assert scores.precision >= 0.8 and scores.recall >= 0.8  # chance is 0.5
    assert (tmp_path / "m.bin").stat().st_size > 0


def test_held_out_split_is_a_seeded_hash_of_the_id(tmp_path: Path) -> None:
    data = write_labelled(tmp_path / "data.jsonl", 400)
    report = train(make_config(data=[str(data)], label_field="metadata.topic", model=str(tmp_path / "m.bin"), seed=7))
    expected = sum(unit_hash(f"doc-{i}", 7) < 0.2 for i in range(400))
    assert report.held_out == expected == sum(s.held_out for s in report.labels.values())
    assert sum(s.train for s in report.labels.values()) == 400 - expected


def test_positive_and_negative_globs(tmp_path: Path) -> None:
    for part in range(2):
        write_class(tmp_path / "pos" / f"{part}.jsonl", "sport", 250, seed=part)
        write_class(tmp_path / "neg" / f"{part}.jsonl", "cooking", 250, seed=10 + part)
    report = train(
        make_config(
            positive=[str(tmp_path / "pos" / "*.jsonl")],
            negative=[str(tmp_path / "neg" / "*.jsonl")],
            positive_label="hq",
            negative_label="lq",
            model=str(tmp_path / "m.bin"),
        )
    )
    assert set(report.labels) == {"hq", "lq"}
    assert all(s.precision >= 0.8 and s.recall >= 0.8 for s in report.labels.values())


def test_cli_prints_precision_recall_and_saves_to_s3(
    tmp_path: Path, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_labelled(tmp_path / "data.jsonl", 600)
    model = f"{s3_bucket}/models/topic.bin"
    args = ["--data", str(data), "--label_field", "metadata.topic", "--model", model, "--threads", "1"]
    assert cli.main(["train-fasttext", *args, "--epoch", "20", "--dim", "20", "--bucket", "20000"]) == 0
    out = capsys.readouterr().out
    assert "precision" in out and "recall" in out and f"model saved to {model}" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("sport", "cooking"))}
    assert set(rows) == {"sport", "cooking"}
    assert all(float(row[3]) >= 0.8 and float(row[4]) >= 0.8 for row in rows.values())
    from dolma import io

    assert io.size(model) > 0


def test_one_label_only_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text("".join(json.dumps({"id": str(i), "text": "some words", "label": "a"}) + "\n" for i in range(20)))
    with pytest.raises(InputError, match="at least two labels"):
        train(make_config(data=[str(path)], model=str(tmp_path / "m.bin")))


def test_missing_label_field_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "1", "text": "x", "label": "a"}\n{"id": "2", "text": "y"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: no label field 'label'"):
        train(make_config(data=[str(path)], model=str(tmp_path / "m.bin")))


def test_data_and_positive_together_are_refused(tmp_path: Path) -> None:
    data = write_labelled(tmp_path / "data.jsonl", 10)
    with pytest.raises(ConfigError, match="either data"):
        train(make_config(data=[str(data)], positive=[str(data)], negative=[str(data)], model="m.bin"))
    with pytest.raises(ConfigError, match="positive and negative"):
        train(make_config(positive=[str(data)], model="m.bin"))


def test_label_train_tag_and_mix_workflow(tmp_path: Path) -> None:
    """The DCLM-style loop of docs/taggers-models.md: train, score a corpus, keep what scores high."""
    data = write_labelled(tmp_path / "labelled.jsonl", 800)
    model = str(tmp_path / "topic.bin")
    train(make_config(data=[str(data)], label_field="metadata.topic", model=model))
    corpus = write_labelled(tmp_path / "corpus" / "documents" / "part-0.jsonl", 200, seed=99)
    taggers = json.dumps([{"fasttext_classifier": {"model_path": model, "labels": ["sport"]}}])
    tag_args = ["--documents", str(corpus), "--experiment", "topic", "--processes", "1", "--taggers", taggers]
    assert cli.main(["tag", *tag_args]) == 0
    stream = {
        "name": "sport",
        "documents": [str(corpus)],
        "attributes": ["topic"],
        "filter": {"include": ["$.attributes[?(@.topic__fasttext_classifier__sport[0][2] >= 0.5)]"]},
        "output": {"path": str(tmp_path / "mix")},
    }
    (tmp_path / "mix.yaml").write_text(json.dumps({"streams": [stream]}))
    assert cli.main(["mix", "-c", str(tmp_path / "mix.yaml"), "--processes", "1"]) == 0
    kept = [
        json.loads(line) for path in sorted((tmp_path / "mix").glob("sport-*.jsonl.gz")) for line in gzip.open(path)
    ]
    topics = [doc["metadata"]["topic"] for doc in kept]
    assert 80 <= len(kept) <= 120  # half of the corpus is sport
    assert topics.count("sport") / len(topics) >= 0.8
