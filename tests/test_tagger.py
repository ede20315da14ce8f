"""Taggers declare the attribute names they write: every built-in's output is checked against its declaration,
and `dolma list` shows them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from dolma import Document, registry
from dolma.cli import main
from dolma.commands.train_fasttext import Config, train
from dolma.config import build
from dolma.tagger import Tagger

TEXTS = [
    "",
    "Hello world. This is a plain English sentence, with an e-mail a@b.com and 555-123-4567.\n\nSecond para.",
    "• bullet\n• bullet\n{ var x = 1; } javascript lorem ipsum...\nCookie policy.\n" * 3,
    "ein deutscher Satz über Bücher und Häuser, der nicht kurz ist.\nLe texte français suit ici.",
    "#### $$$ ... \n\n\n   \t",
]


def _params(name: str, tmp_path: Path) -> dict:
    if name == "url_blocklist":
        (tmp_path / "list.txt").write_text("example.com\n")
        return {"blocklists": [str(tmp_path / "list.txt")]}
    if name == "fasttext_classifier":
        data = tmp_path / "train.jsonl"
        rng = random.Random(0)
        rows = [{"id": str(i), "text": " ".join(rng.choice("a b c d e f".split()) for _ in range(9)),
                 "label": "x" if i % 2 else "y"} for i in range(200)]  # fmt: skip
        data.write_text("".join(json.dumps(row) + "\n" for row in rows))
        model = str(tmp_path / "m.bin")
        train(build(Config, {"data": [str(data)], "model": model, "threads": 1, "epoch": 2, "dim": 8}))
        return {"model_path": model, "level": "both"}
    if name == "language":
        return {"languages": ["en", "de"], "level": "both"}
    return {}


@pytest.mark.parametrize("name", sorted(registry.all_taggers()))
def test_every_builtin_tagger_writes_only_what_it_declares(name: str, tmp_path: Path) -> None:
    cls = registry.get(name)
    if not cls.__module__.startswith("dolma.taggers."):
        pytest.skip(f"{name} is not a built-in")
    assert cls.attributes, f"{name} declares no attributes"
    tagger = cls(registry.make_params(name, _params(name, tmp_path)))
    docs = [Document(id=str(i), text=text) for i, text in enumerate(TEXTS)]
    written = {key for result in tagger.predict_batch(docs) for key in result}
    assert written and cls.undeclared(written) == []


def test_undeclared_names_are_found() -> None:
    class Example(Tagger):
        attributes = ("length", "top_<lang>")

    assert Example.undeclared(["length", "top_en", "top_", "lengths", "paragraph_en"]) == [
        "top_",
        "lengths",
        "paragraph_en",
    ]


def test_list_shows_the_attributes_each_tagger_writes(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "writes: length, paragraph" in out  # whitespace_tokenizer
    assert "writes: top_<lang>, <lang>, paragraph_top_<lang>, paragraph_<lang>" in out
