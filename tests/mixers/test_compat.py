"""``compat: dolma-1.2``: allenai/dolma 1.2.1's numeric comparison and shard shapes, the default unchanged."""

from __future__ import annotations

import os

import pytest
import yaml
from dolma.mixers.filters import compile_path

from dolma.cli import main
from tests.helpers import make_docs, read_jsonl, write_docs

VALUES = [1, 2, 1.0, 2.0, 0.5, 0, 0.0, -1, 3]
# what dolma 1.2.1's mixer kept of a document per value, measured with its own `dolma mix` on these values
DOLMA_KEPT = {
    "@.k[0][2] >= 1.0": [2, 1.0, 2.0, 3],
    "@.k[0][2] >= 1": [1, 2, 2.0, 3],
    "@.k[0][2] <= 1.0": [1.0, 0.5, 0, 0.0, -1],
    "@.k[0][2] == 1.0": [1.0],
    "@.k[0][2] > 1.0": [2, 2.0, 3],
    "@.k[0][2] < 1": [0.5, 0, 0.0, -1],
    "@.k[0][2] != 1": [2, 1.0, 2.0, 0.5, 0, 0.0, -1, 3],
    "@.k[0][2] == 0": [0],
}
BY_VALUE = {
    "@.k[0][2] >= 1.0": [1, 2, 1.0, 2.0, 3],
    "@.k[0][2] == 0": [0, 0.0],
    "@.k[0][2] != 1": [2, 2.0, 0.5, 0, 0.0, -1, 3],
}


def kept(expression: str, compat: str | None) -> list:
    path = compile_path(f"$.attributes[?({expression})]", compat)
    return [v for v in VALUES if path.matches({"attributes": {"k": [[0, 1, v]]}})]


@pytest.mark.parametrize("expression", sorted(DOLMA_KEPT))
def test_dolma_compat_compares_numbers_as_dolma_1_2_1(expression):
    got = kept(expression, "dolma-1.2")
    assert [(v, type(v)) for v in got] == [(v, type(v)) for v in DOLMA_KEPT[expression]]


@pytest.mark.parametrize("expression", sorted(BY_VALUE))
def test_default_compares_numbers_by_value(expression):
    assert [(v, type(v)) for v in kept(expression, None)] == [(v, type(v)) for v in BY_VALUE[expression]]


def corpus(root, files=3, per_file=40):
    for f in range(files):
        docs = make_docs(per_file, prefix=f"f{f}-")
        rows = [{"id": d["id"], "attributes": {"a__dup": [[0, 1, 1 if i % 2 else 1.0]]}} for i, d in enumerate(docs)]
        write_docs(f"{root}/documents/{f:03d}.jsonl.gz", docs)
        write_docs(f"{root}/attributes/a/{f:03d}.jsonl.gz", rows)


def run(root, *args, cap: int = 2, **top):
    stream = {
        "name": "s",
        "documents": [f"{root}/documents/*.jsonl.gz"],
        "attributes": ["a"],
        "filter": {"exclude": ["$.attributes[?(@.a__dup[0][2] >= 1.0)]"]},
        "output": {"path": f"{root}/out", "max_size_in_bytes": cap * os.path.getsize(f"{root}/documents/000.jsonl.gz")},
    }
    path = os.path.join(root, "mix.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump({"streams": [stream], **top}, fh)
    return main(["mix", "-c", path, "--processes", "1", *args])


def test_compat_mode_keeps_what_dolma_keeps_in_shards_named_as_dolma_names_them(tmp_path):
    corpus(tmp_path)
    assert run(tmp_path, compat="dolma-1.2") == 0
    names = sorted(n for n in os.listdir(tmp_path / "out") if n.startswith("s-"))
    # inputs grouped whole: 000 and 001 fill the cap, 002 starts the last shard, named .json.gz
    assert names == ["s-0000.jsonl.gz", "s-0001.json.gz"]
    first = [d["id"] for d in read_jsonl(str(tmp_path / "out" / names[0]))]
    assert {i.split("-")[0] for i in first} == {"f0", "f1"}
    ids = first + [d["id"] for d in read_jsonl(str(tmp_path / "out" / names[1]))]
    assert len(ids) == 60 and all(int(i.split("-")[1]) % 2 == 1 for i in ids)  # integer 1 is not >= 1.0


def test_the_flag_sets_compat_and_the_default_compares_by_value(tmp_path, capsys):
    corpus(tmp_path)
    assert run(tmp_path, "--compat", "dolma-1.2") == 0
    assert sorted(n for n in os.listdir(tmp_path / "out") if n.startswith("s-"))[-1] == "s-0001.json.gz"
    by_value = tmp_path / "by_value"
    corpus(by_value)
    stream_half = {"attributes": {"a__dup": [[0, 1, 0.5]]}}
    write_docs(f"{by_value}/attributes/a/002.jsonl.gz", [{"id": d["id"], **stream_half} for d in make_docs(40, "f2-")])
    assert run(by_value) == 0
    names = sorted(n for n in os.listdir(by_value / "out") if n.startswith("s-"))
    assert names[0] == "s-00000.jsonl.gz" and all(len(n) == len(names[0]) for n in names)
    ids = [d["id"] for n in names for d in read_jsonl(str(by_value / "out" / n))]
    assert len(ids) == 40 and {i.split("-")[0] for i in ids} == {"f2"}  # 1 and 1.0 are >= 1.0: only 0.5 is kept
    assert run(tmp_path, "--compat", "dolma-9") == 2
    assert "compat: 'dolma-9' is not one of dolma-1.2" in capsys.readouterr().err


def test_a_rerun_with_other_shards_removes_the_previous_runs_shards_in_either_naming(tmp_path):
    corpus(tmp_path)

    def shards() -> tuple[list[str], int]:
        names = sorted(n for n in os.listdir(tmp_path / "out") if n.startswith("s-"))
        return names, sum(len(read_jsonl(str(tmp_path / "out" / n))) for n in names)

    assert run(tmp_path, compat="dolma-1.2") == 0
    assert shards() == (["s-0000.jsonl.gz", "s-0001.json.gz"], 60)
    assert run(tmp_path, "--overwrite", compat="dolma-1.2", cap=10) == 0  # fewer shards: one, the last
    assert shards() == (["s-0000.json.gz"], 60)
    assert run(tmp_path, "--overwrite", compat="dolma-1.2", cap=1) == 0  # more: s-0000.json.gz is no longer last
    assert shards() == (["s-0000.jsonl.gz", "s-0001.jsonl.gz", "s-0002.json.gz"], 60)
    for f in range(3):  # scores of 0.5: both modes keep every document
        rows = read_jsonl(f"{tmp_path}/attributes/a/{f:03d}.jsonl.gz")
        write_docs(
            f"{tmp_path}/attributes/a/{f:03d}.jsonl.gz", [{**r, "attributes": {"a__dup": [[0, 1, 0.5]]}} for r in rows]
        )
    assert run(tmp_path, "--overwrite", cap=10) == 0  # the default naming replaces dolma's
    assert shards() == (["s-00000.jsonl.gz"], 120)
    assert run(tmp_path, "--overwrite", compat="dolma-1.2", cap=10) == 0  # and back
    assert shards() == (["s-0000.json.gz"], 120)
