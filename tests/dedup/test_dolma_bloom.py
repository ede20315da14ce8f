"""allenai/dolma's own Bloom filter files, read-only: the filters in ``data/dolma_filter`` were built by
dolma 1.2.1's Rust deduper from ``eval_docs()``, and the attribute rows beside them are what dolma 1.2.1
wrote when it tested ``train_docs()`` against them read-only (see ``data/dolma_filter/README.md``). Ours,
given the same filter files, must make the same decisions."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from dolma.cli import main
from dolma.dedup.dolma_bloom import DolmaBloomFilter, is_dolma_filter, key_hash
from tests.helpers import read_jsonl, write_docs

DATA = os.path.join(os.path.dirname(__file__), "data", "dolma_filter")
MODES = {
    "paragraphs": {"attribute_name": "dup"},
    "ngrams": {"attribute_name": "dup", "by_ngram": {"ngram_length": 4, "stride": 1, "overlap_threshold": 0.3}},
}


def eval_docs() -> list[dict]:
    docs = []
    for i in range(30):
        paragraphs = [
            f"question {i}: what is the capital of country number {i % 11}?",
            f"answer {i % 5} é",
            "the quick brown fox jumps over the lazy dog " * (1 + i % 2),
        ]
        docs.append({"id": f"e{i}", "text": "\n".join(paragraphs), "source": "eval"})
    return docs


def train_docs() -> list[dict]:
    docs = []
    for i in range(60):
        paragraphs = [
            f"intro text {i}",
            f"question {i * 3}: what is the capital of country number {(i * 3) % 11}?",
            f"answer {i % 9} é",
            f"some words then the quick brown fox jumps over the lazy dog and more {i}",
            "",
        ]
        docs.append({"id": f"t{i}", "text": "\n".join(paragraphs), "source": "train"})
    return docs


def config(root, mode: str, filter_file: str, read_only: bool = True) -> str:
    cfg = {
        "documents": [f"{root}/train/documents/*.json.gz"],
        "dedupe": {"name": f"check_{mode}", "paragraphs": MODES[mode]},
        "bloom_filter": {"file": filter_file, "read_only": read_only, "estimated_doc_count": 3000},
        "compat": "dolma-1.2",
        "processes": 1,
    }
    path = f"{root}/check_{mode}.json"
    with open(path, "w") as fh:
        json.dump(cfg, fh)
    return path


def test_the_hash_is_ahash_fallback_as_dolma_feeds_it():
    """Every paragraph dolma inserted is found with dolma's seeds, and the hashes are sensitive to the split
    of a key into strings (a VecDeque of two strings is not their concatenation)."""
    bloom = DolmaBloomFilter.load(os.path.join(DATA, "paragraphs.bin"))
    assert len(bloom.seeds) == 12 and bloom.size_in_bytes == 4096
    inserted = {p for d in eval_docs() for p in d["text"].split("\n")}
    assert all(bloom.contains([p.encode()]) for p in inserted)
    assert sum(bloom.contains([f"a paragraph never inserted {i}".encode()]) for i in range(500)) <= 5
    seeds = bloom.seeds[0]
    assert key_hash(seeds, [b"ab", b"c"]) != key_hash(seeds, [b"abc"]) != key_hash(seeds, [b"a", b"bc"])


@pytest.mark.parametrize("mode", sorted(MODES))
def test_decisions_against_a_dolma_filter_are_dolmas(tmp_path, mode):
    assert is_dolma_filter(os.path.join(DATA, f"{mode}.bin"))
    docs = train_docs()
    write_docs(f"{tmp_path}/train/documents/000.json.gz", docs)
    write_docs(f"{tmp_path}/train/documents/001.json.gz", docs[::-1][:20])
    filter_file = str(tmp_path / f"{mode}.bin")
    shutil.copy(os.path.join(DATA, f"{mode}.bin"), filter_file)
    assert main(["dedupe", "-c", config(tmp_path, mode, filter_file)]) == 0
    for shard in ("000", "001"):
        ours = read_jsonl(f"{tmp_path}/train/attributes/check_{mode}/{shard}.json.gz")
        theirs = read_jsonl(os.path.join(DATA, f"{mode}-{shard}.jsonl.gz"))
        assert ours == theirs
        assert any(row["attributes"].get("dup") for row in ours)  # the eval set overlaps: something is marked
    with open(os.path.join(DATA, f"{mode}.bin"), "rb") as fh:
        assert open(filter_file, "rb").read() == fh.read()  # read-only: the filter is untouched


def test_a_dolma_filter_is_refused_unless_read_only_and_when_truncated(tmp_path, capsys):
    write_docs(f"{tmp_path}/train/documents/000.json.gz", train_docs())
    filter_file = str(tmp_path / "paragraphs.bin")
    shutil.copy(os.path.join(DATA, "paragraphs.bin"), filter_file)
    assert main(["dedupe", "-c", config(tmp_path, "paragraphs", filter_file, read_only=False)]) == 2
    assert "is an allenai/dolma Bloom filter; it can be used read-only" in capsys.readouterr().err
    with open(filter_file, "r+b") as fh:
        fh.truncate(1000)
    assert main(["dedupe", "-c", config(tmp_path, "paragraphs", filter_file)]) == 2
    assert "bytes of bits, its header says 4096 (truncated or not a filter)" in capsys.readouterr().err
