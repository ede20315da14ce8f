"""Recipes: the shipped published mixes parse and add up; a recipe resolved at a budget on a generated
multi-source corpus hits its shares and budget, repeats whole documents where it upsamples, and reruns
byte-identically from the resolved config alone."""

from __future__ import annotations

import glob
import gzip
import json
import os
import random
import shutil
from importlib import resources

import pytest
import yaml
from dolma.mixers import manifest
from dolma.mixers.recipes import load_recipe, shares

from dolma.cli import main
from tests.helpers import train_tokenizer, write_docs

MIXES = resources.files("dolma.configs") / "mixes"

# name: (documents, words per document (min, max), vocabulary)
SOURCES = {
    "web": (500, (40, 300), "the of and to in a is that for it as was with be by on not this are or from".split()),
    "code": (300, (10, 60), "def return self if else for in import class None True x y i len range print".split()),
    "papers": (60, (300, 700), "model data results method we show table figure analysis training set".split()),
    "wiki": (40, (20, 60), "born city river country known century population capital war king".split()),
}
RECIPE = {
    "name": "test-mix",
    "sources": [
        {"name": "web", "tokens": 60.0, "cite": "test"},
        {"name": "code", "tokens": 20.0, "cite": "test"},
        {"name": "papers", "tokens": 10.0, "cite": "test"},
        {"name": "wiki", "tokens": 5.0, "rate": 2.0, "cite": "test"},
    ],
}


def test_shipped_recipes_add_up_to_their_published_totals():
    for name in ("olmo-mix-1124", "dolmino-mix-1124", "dolma-v1_6", "dolma-v1_7"):
        recipe = load_recipe(str(MIXES / f"{name}.yaml"))
        assert all(s.cite in recipe.citations for s in recipe.sources), name
        tokens = sum(s.tokens for s in recipe.sources)
        documents = sum(s.documents or 0 for s in recipe.sources)
        assert abs(tokens / recipe.total["tokens"] - 1) < 0.005, name  # as printed, up to rounding
        assert abs(documents / recipe.total["documents"] - 1) < 0.005, name
        assert abs(sum(shares(recipe, None).values()) - 1) < 1e-9
        for sample, spec in recipe.samples.items():
            assert abs(sum(spec.shares.values()) - 100) < 0.1, (name, sample)
            got = shares(recipe, sample)
            assert abs(got["dclm"] - spec.shares["dclm"] / sum(spec.shares.values())) < 1e-9
    v17 = {s.name: s.rate for s in load_recipe(str(MIXES / "dolma-v1_7.yaml")).sources}
    assert v17["dolma-cc"] == v17["c4"] == 0.5 and v17["wiki"] == 2.0
    assert {rate for name, rate in v17.items() if name not in ("dolma-cc", "c4", "wiki")} == {1.0}


def make_corpus(root: str) -> dict[str, dict[str, str]]:
    rng = random.Random(0)
    texts: dict[str, dict[str, str]] = {}
    for name, (n, (lo, hi), words) in SOURCES.items():
        texts[name] = {}
        for shard in range(2):
            docs = []
            for i in range(shard, n, 2):
                text = " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))
                docs.append({"id": f"{name}-{i}", "text": text, "source": name})
                texts[name][f"{name}-{i}"] = text
            write_docs(f"{root}/{name}/{shard}.jsonl.gz", docs)
    return texts


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("recipes"))
    texts = make_corpus(f"{root}/corpus")
    sample = [t for by_id in texts.values() for t in list(by_id.values())[:40]]
    tokenizer = train_tokenizer(f"{root}/tokenizer.json", sample, vocab_size=290)
    recipe = f"{root}/recipe.yaml"
    with open(recipe, "w") as f:
        yaml.safe_dump(RECIPE, f)
    return root, texts, tokenizer, recipe


def sources_file(root: str, names: list[str], out: str) -> str:
    path = f"{root}/sources-{'-'.join(names)}.yaml"
    with open(path, "w") as f:
        yaml.safe_dump(
            {"output": out, "sources": {n: {"documents": [f"{root}/corpus/{n}/*.jsonl.gz"]} for n in names}}, f
        )
    return path


def token_count(tokenizer: str, texts: list[str]) -> int:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer)
    return sum(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False))


def shard_docs(out: str, stream: str) -> list[dict]:
    docs = []
    for path in sorted(glob.glob(f"{out}/{stream}-*.jsonl.gz")):
        with gzip.open(path, "rt") as f:
            docs.extend(json.loads(line) for line in f)
    return docs


def shards(out: str) -> dict[str, bytes]:
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(glob.glob(f"{out}/*.jsonl.gz"))}


def test_recipe_at_a_budget_hits_shares_and_total_repeats_whole_documents_and_reruns_identically(setup):
    root, texts, tokenizer, recipe = setup
    available = {name: token_count(tokenizer, list(by_id.values())) for name, by_id in texts.items()}
    budget = 0.5 * sum(available.values())
    weights = {s["name"]: s["tokens"] * s.get("rate", 1.0) for s in RECIPE["sources"]}
    target = {n: w / sum(weights.values()) for n, w in weights.items()}
    assert target["wiki"] * budget > 1.5 * available["wiki"]  # the corpus makes wiki upsampled...
    assert target["web"] * budget < 0.8 * available["web"]  # ... and web down-sampled
    out = f"{root}/out"
    args = ["mix", "--recipe", recipe, "--sources", sources_file(root, list(SOURCES), out)]
    args += ["--total-tokens", str(budget), "--recipe-tokenizer", tokenizer, "--processes", "2"]
    assert main(args) == 0

    achieved = {n: token_count(tokenizer, [d["text"] for d in shard_docs(out, n)]) for n in SOURCES}
    total = sum(achieved.values())
    assert abs(total / budget - 1) < 0.02
    for name in SOURCES:
        assert abs(achieved[name] / total - target[name]) < 0.01, (name, achieved[name] / total, target[name])
    report = json.load(open(manifest.path_of(out)))["recipe"]
    assert report["total_tokens"]["achieved"] == total
    assert {n: r["achieved_tokens"] for n, r in report["sources"].items()} == achieved
    assert report["sources"]["wiki"]["rate"] > 1.5 and report["sources"]["web"]["rate"] < 0.8

    wiki = shard_docs(out, "wiki")
    copies: dict[str, int] = {}
    for doc in wiki:
        assert doc["text"] == texts["wiki"][doc["id"]]  # a repeat is the whole document, unchanged
        copies[doc["id"]] = copies.get(doc["id"], 0) + 1
    rate = report["sources"]["wiki"]["rate"]
    assert set(copies) == set(texts["wiki"])  # every document at least floor(rate) times, whole
    assert set(copies.values()) <= {int(rate), int(rate) + 1} and max(copies.values()) >= 2

    resolved = f"{out}/resolved-mix.yaml"
    config = yaml.safe_load(open(resolved))
    assert "recipe" not in config and [s["name"] for s in config["streams"]] == list(SOURCES)
    first = shards(out)
    shutil.move(out, f"{root}/out-first")
    assert main(["mix", "-c", f"{root}/out-first/resolved-mix.yaml", "--processes", "1"]) == 0
    assert shards(out) == first and first


def test_missing_source_is_reported_and_renormalised_only_when_asked(setup, capsys):
    root, texts, tokenizer, recipe = setup
    available = {name: token_count(tokenizer, list(by_id.values())) for name, by_id in texts.items()}
    budget = 0.3 * sum(available.values())
    present = ["web", "code", "papers"]
    for renormalize, expected_total in ((False, 90 / 100), (True, 1.0)):
        out = f"{root}/out-missing-{renormalize}"
        args = ["mix", "--recipe", recipe, "--sources", sources_file(root, present, out), "--total-tokens", str(budget)]
        args += ["--recipe-tokenizer", tokenizer, "--renormalize", str(renormalize).lower()]
        capsys.readouterr()
        assert main(args) == 0
        assert "recipe sources without a copy: wiki" in capsys.readouterr().err
        report = json.load(open(manifest.path_of(out)))["recipe"]
        assert report["missing"] == ["wiki"]
        assert abs(report["total_tokens"]["achieved"] / budget - expected_total) < 0.02
        scale = 1 / 0.9 if renormalize else 1.0
        for name, weight in (("web", 0.6), ("code", 0.2), ("papers", 0.1)):
            assert abs(report["sources"][name]["target_share"] - weight * scale) < 1e-9


def test_unknown_source_name_is_an_error(setup, capsys):
    root, _, tokenizer, recipe = setup
    path = f"{root}/bad-sources.yaml"
    with open(path, "w") as f:
        yaml.safe_dump({"output": f"{root}/x", "sources": {"webb": {"documents": [f"{root}/corpus/web/*.gz"]}}}, f)
    assert main(["mix", "--recipe", recipe, "--sources", path, "--total-tokens", "1000"]) == 2
    assert "webb is not a source of test-mix" in capsys.readouterr().err
