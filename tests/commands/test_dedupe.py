"""`dolma dedupe` end to end: dolma's config keys and attribute format, first occurrence kept whatever the
worker count or executor, reruns, read-only decontamination, and refusal of configs that write nothing."""

from __future__ import annotations

import glob
import os

import pytest
import yaml

from dolma.cli import main
from tests.helpers import read_jsonl, write_docs

PARAGRAPHS = "bff_duplicate_paragraph_spans"


def corpus(root, shards: int = 4, per_shard: int = 60, prefix: str = "") -> str:
    """Shards where paragraphs and urls repeat across and within shards."""
    for s in range(shards):
        docs = []
        for i in range(per_shard):
            n = s * per_shard + i
            text = f"common header\nbody {n % 37} of the text\nunique {prefix}{n}\n\nfooter {n % 5}"
            docs.append({"id": f"{prefix}{s}-{i}", "text": text, "metadata": {"url": f"http://x/{n % 50}"}})
        write_docs(f"{root}/documents/{s:02d}.jsonl.gz", docs)
    return f"{root}/documents/*.jsonl.gz"


def config(root, docs: str, **sections) -> str:
    cfg = {
        "documents": [docs],
        "dedupe": {"name": "dd", "paragraphs": {"attribute_name": PARAGRAPHS}},
        "bloom_filter": {
            "file": f"{root}/filter.bin",
            "estimated_doc_count": 10_000,
            "desired_false_positive_rate": 1e-6,
        },
        "processes": 1,
    }
    for key, value in sections.items():
        cfg[key] = value
    path = f"{root}/dedupe-{len(os.listdir(root))}.yaml"
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    return path


def attributes(root, name: str = "dd") -> dict[str, bytes]:
    out = {}
    for path in sorted(glob.glob(f"{root}/attributes/{name}/*.jsonl.gz")):
        with open(path, "rb") as fh:
            out[os.path.basename(path)] = fh.read()
    return out


def rows(root, name: str = "dd") -> list[dict]:
    return [r for p in sorted(glob.glob(f"{root}/attributes/{name}/*.jsonl.gz")) for r in read_jsonl(p)]


def documents(root) -> list[dict]:
    return [d for p in sorted(glob.glob(f"{root}/documents/*.jsonl.gz")) for d in read_jsonl(p)]


def expected_paragraph_spans(docs: list[dict]) -> list[list[list[int]]]:
    seen: set[str] = set()
    out = []
    for doc in docs:
        spans, start = [], 0
        pieces = doc["text"].split("\n")
        for i, piece in enumerate(pieces):
            end = start + len(piece) + (1 if i < len(pieces) - 1 else 0)
            if piece in seen:
                spans.append([start, end, 1])
            seen.add(piece)
            start = end
        out.append(spans)
    return out


def test_paragraphs_first_occurrence_kept_in_input_order(tmp_path):
    docs = corpus(tmp_path)
    assert main(["dedupe", "-c", config(tmp_path, docs)]) == 0
    got = [r["attributes"][PARAGRAPHS] for r in rows(tmp_path)]
    assert got == expected_paragraph_spans(documents(tmp_path))
    assert [r["id"] for r in rows(tmp_path)] == [d["id"] for d in documents(tmp_path)]


def test_one_and_two_processes_give_byte_identical_attributes(tmp_path):
    results = []
    for processes in (1, 2):
        root = tmp_path / f"p{processes}"
        root.mkdir()
        docs = corpus(root)
        assert main(["dedupe", "-c", config(root, docs), "--processes", str(processes)]) == 0
        results.append(attributes(root))
    assert results[0] == results[1] and len(results[0]) == 4


def test_ray_executor_matches_local(tmp_path, ray_local):
    results = []
    for executor in ("local", "ray"):
        root = tmp_path / executor
        root.mkdir()
        docs = corpus(root)
        assert main(["dedupe", "-c", config(root, docs), "--executor", executor, "--processes", "2"]) == 0
        results.append(attributes(root))
    assert results[0] == results[1]


def test_documents_by_url_key(tmp_path):
    docs = corpus(tmp_path, shards=2, per_shard=40)
    dedupe = {"name": "dd", "documents": {"attribute_name": "bff_duplicate_docs", "key": "$.metadata.url"}}
    assert main(["dedupe", "-c", config(tmp_path, docs, dedupe=dedupe)]) == 0
    seen: set[str] = set()
    for doc, row in zip(documents(tmp_path), rows(tmp_path), strict=True):
        url = doc["metadata"]["url"]
        expected = [[0, len(doc["text"]), 1]] if url in seen else []
        seen.add(url)
        assert row["attributes"]["bff_duplicate_docs"] == expected


def test_ngram_overlap_config(tmp_path):
    a = "the quick brown fox jumps over the lazy dog today"
    b = "the quick brown fox jumps over the lazy cat today"
    write_docs(f"{tmp_path}/documents/0.jsonl", [{"id": "a", "text": a}, {"id": "b", "text": b}])
    paragraphs = {"attribute_name": PARAGRAPHS, "by_ngram": {"ngram_length": 3, "overlap_threshold": 0.5}}
    cfg = config(tmp_path, f"{tmp_path}/documents/0.jsonl", dedupe={"name": "dd", "paragraphs": paragraphs})
    assert main(["dedupe", "-c", cfg]) == 0
    out = read_jsonl(f"{tmp_path}/attributes/dd/0.jsonl")
    assert out[0]["attributes"][PARAGRAPHS] == []
    assert out[1]["attributes"][PARAGRAPHS] == [[0, len(b), 0.75]]  # 6 of 8 trigrams seen before


def test_rerun_skips_and_never_marks_the_corpus_as_its_own_duplicate(tmp_path):
    docs = corpus(tmp_path)
    cfg = config(tmp_path, docs)
    assert main(["dedupe", "-c", cfg]) == 0
    first, filter_bytes = attributes(tmp_path), (tmp_path / "filter.bin").read_bytes()
    assert main(["dedupe", "-c", cfg]) == 0
    assert attributes(tmp_path) == first
    assert (tmp_path / "filter.bin").read_bytes() == filter_bytes
    os.remove(f"{tmp_path}/attributes/dd/01.jsonl.gz")  # lost output: rebuilt from the stored decisions
    assert main(["dedupe", "-c", cfg]) == 0
    assert attributes(tmp_path) == first
    assert main(["dedupe", "-c", cfg, "--overwrite"]) == 0
    assert attributes(tmp_path) == first


def test_new_shards_are_deduplicated_against_the_saved_filter(tmp_path):
    docs = corpus(tmp_path, shards=2)
    assert main(["dedupe", "-c", config(tmp_path, docs)]) == 0
    first = attributes(tmp_path)
    corpus(tmp_path, shards=3)  # writes shard 02 too (00 and 01 unchanged)
    assert main(["dedupe", "-c", config(tmp_path, docs)]) == 0
    after = attributes(tmp_path)
    assert {k: after[k] for k in first} == first
    assert [r["attributes"][PARAGRAPHS] for r in rows(tmp_path)] == expected_paragraph_spans(documents(tmp_path))


def test_a_recorded_shard_without_its_decisions_is_refused(tmp_path, capsys):
    docs = corpus(tmp_path, shards=2)
    cfg = config(tmp_path, docs)
    assert main(["dedupe", "-c", cfg]) == 0
    for path in glob.glob(f"{tmp_path}/filter.bin.work/decisions/*"):
        os.remove(path)
    assert main(["dedupe", "-c", cfg, "--overwrite"]) == 2
    assert "would mark it a duplicate of itself" in capsys.readouterr().err


def test_read_only_decontamination(tmp_path):
    evals = tmp_path / "evals"
    evals.mkdir()
    write_docs(f"{evals}/documents/e.jsonl", [{"id": "e0", "text": "body 3 of the text\nan eval question"}])
    assert (
        main(
            [
                "dedupe",
                "-c",
                config(
                    evals,
                    f"{evals}/documents/e.jsonl",
                    bloom_filter={
                        "file": f"{tmp_path}/evals.bin",
                        "estimated_doc_count": 1000,
                        "desired_false_positive_rate": 1e-6,
                    },
                ),
            ]
        )
        == 0
    )
    filter_bytes = (tmp_path / "evals.bin").read_bytes()
    docs = corpus(tmp_path, shards=2)
    cfg = config(tmp_path, docs, bloom_filter={"file": f"{tmp_path}/evals.bin", "read_only": True})
    for _ in range(2):  # the second run skips: nothing changes
        assert main(["dedupe", "-c", cfg]) == 0
        for doc, row in zip(documents(tmp_path), rows(tmp_path), strict=True):
            spans = row["attributes"][PARAGRAPHS]
            marked = [doc["text"][s:e] for s, e, _ in spans]
            assert marked == (["body 3 of the text\n"] if "body 3 of" in doc["text"] else [])
    assert (tmp_path / "evals.bin").read_bytes() == filter_bytes


def test_filter_on_s3(tmp_path, s3_bucket):
    docs = corpus(tmp_path, shards=2, per_shard=20)
    cfg = config(tmp_path, docs, bloom_filter={"file": f"{s3_bucket}/f/filter.bin", "size_in_bytes": 1 << 16})
    assert main(["dedupe", "-c", cfg]) == 0
    assert [r["attributes"][PARAGRAPHS] for r in rows(tmp_path)] == expected_paragraph_spans(documents(tmp_path))
    assert main(["dedupe", "-c", cfg]) == 0  # the saved filter on S3 holds both shards: nothing to redo


@pytest.mark.parametrize(
    ("dedupe", "bloom", "message"),
    [
        ({"name": "dd"}, None, "nothing would be written"),
        ({"name": "dd", "documents": {"key": "$.text"}, "paragraphs": {"attribute_name": "p"}}, None, "both"),
        ({"name": "dd", "documents": {"key": "$.text"}}, None, "documents.attribute_name: required"),
        ({"name": "dd", "paragraphs": {}}, None, "paragraphs.attribute_name: required"),
        ({"name": "dd", "documents": {"attribute_name": "d"}}, None, "documents.key: required"),
        ({"name": "dd", "documents": {"attribute_name": "d", "key": "$.metadata.nope"}}, None, "selects no string"),
        ({"name": "dd", "documents": {"attribute_name": "d", "key": "metadata.url"}}, None, "not a JSONPath"),
        ({"paragraphs": {"attribute_name": "p", "by_ngram": {"ngram_length": 0}}}, None, "must be > 0"),
        ({"name": "dd", "paragraphs": {"attribute_name": "p"}}, {"file": "x.bin"}, "size_in_bytes, or"),
        ({"name": "dd", "paragraphs": {"attribute_name": "p"}}, {"file": "x.bin", "read_only": True}, "exist"),
    ],
)
def test_configs_that_cannot_produce_output_are_refused(tmp_path, capsys, dedupe, bloom, message):
    docs = corpus(tmp_path, shards=1, per_shard=5)
    sections = {"dedupe": dedupe}
    if bloom is not None:
        sections["bloom_filter"] = {**bloom, "file": f"{tmp_path}/{bloom['file']}"}
    assert main(["dedupe", "-c", config(tmp_path, docs, **sections)]) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(f"{tmp_path}/attributes")


def test_a_filter_built_with_other_keys_is_refused(tmp_path, capsys):
    docs = corpus(tmp_path, shards=1, per_shard=5)
    assert main(["dedupe", "-c", config(tmp_path, docs)]) == 0
    other = {"name": "dd2", "documents": {"attribute_name": "d", "key": "$.text"}}
    assert main(["dedupe", "-c", config(tmp_path, docs, dedupe=other)]) == 2
    assert "holds keys made with" in capsys.readouterr().err


def test_bad_lines_are_reported_with_their_line_or_skipped(tmp_path, capsys):
    path = f"{tmp_path}/documents/0.jsonl"
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as fh:
        fh.write('{"id": "a", "text": "x\\ny"}\n\n{"id": "b", "text": 3}\n{"id": "c", "text": "y"}\n')
    cfg = config(tmp_path, path)
    assert main(["dedupe", "-c", cfg]) == 2
    assert f"{path}:3:" in capsys.readouterr().err
    assert main(["dedupe", "-c", cfg, "--skip-bad-lines"]) == 0
    out = read_jsonl(f"{tmp_path}/attributes/dd/0.jsonl")
    assert [r["id"] for r in out] == ["a", "c"]
    assert out[1]["attributes"][PARAGRAPHS] == [[0, 1, 1]]
    assert "bad_lines: 1" in capsys.readouterr().err
