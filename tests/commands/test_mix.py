"""`dolma mix` end to end: filters, spans, sampling, shards, manifest, determinism, executors, errors."""

from __future__ import annotations

import gzip
import json
import os

import pytest
import yaml

from dolma import io
from dolma.cli import main
from dolma.hashing import unit_hash
from tests.helpers import make_docs, read_jsonl, write_docs


def corpus(root, files=3, per_file=60) -> list[list[dict]]:
    """Documents plus an attribute experiment ``exp``: word count, a score in [0, 1) and, for every
    fourth document, its first paragraph marked as duplicate."""
    out = []
    for f in range(files):
        docs = make_docs(per_file, prefix=f"f{f}-")
        rows = []
        for i, doc in enumerate(docs):
            text = doc["text"]
            cut = text.find("\n")
            dup = [[0, cut + 1, 1.0]] if i % 4 == 0 and cut > 0 else []
            attrs = {
                "exp__len": [[0, len(text), len(text.split())]],
                "exp__score": [[0, len(text), round(unit_hash(doc["id"], 9), 5)]],
                "exp__dup": dup,
                "exp__flag": [[0, len(text), 1 if i % 5 == 0 else 0]],
            }
            rows.append({"id": doc["id"], "attributes": attrs})
        write_docs(f"{root}/documents/part/{f:03d}.jsonl.gz", docs)
        write_docs(f"{root}/attributes/exp/part/{f:03d}.jsonl.gz", rows)
        out.append([{**d, "attributes": r["attributes"]} for d, r in zip(docs, rows, strict=True)])
    return out


def stream(root, name="s", **extra):
    base = {
        "name": name,
        "documents": [f"{root}/documents/part/*.jsonl.gz"],
        "attributes": ["exp"],
        "output": {"path": f"{root}/out", "max_size_in_bytes": 4000, **extra.pop("output", {})},
    }
    return {**base, **extra}


def mix(tmp_path, streams, *args, **top) -> int:
    path = tmp_path / f"mix-{len(list(tmp_path.glob('mix-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump({"streams": streams, **top}))
    return main(["mix", "-c", str(path), *args])


def shards(directory, stream_name="s", ext=".jsonl.gz"):
    names = sorted(n for n in os.listdir(directory) if n.startswith(f"{stream_name}-") and n.endswith(ext))
    return [os.path.join(directory, n) for n in names]


def output_docs(directory, stream_name="s"):
    return [doc for path in shards(directory, stream_name) for doc in read_jsonl(path)]


def manifest(directory):
    return json.loads(open(str(directory).rstrip("/") + ".manifest.json").read())


FILTERED = {
    "filter": {
        "include": ["$.attributes[?(@.exp__len[0][2] >= 10)]"],
        "exclude": ["$.attributes[?(@.exp__flag[0][2] == 1.0)]"],
    },
    "span_replacement": [{"span": "$.attributes.exp__dup", "min_score": 0.5, "replacement": ""}],
}


def test_filters_spans_attributes_and_provenance(tmp_path):
    data = corpus(tmp_path)
    assert mix(tmp_path, [stream(tmp_path, **FILTERED)], "--processes", "1") == 0
    expected = []
    for f, docs in enumerate(data):
        for line, doc in enumerate(docs, start=1):
            words, flag = doc["attributes"]["exp__len"][0][2], doc["attributes"]["exp__flag"][0][2]
            if words >= 10 and flag != 1:  # flag is the int 1: 1 == 1.0 must hold
                text = doc["text"]
                for start, end, _ in doc["attributes"]["exp__dup"]:
                    text = text[:start] + text[end:]
                expected.append((doc["id"], text, f"{f:03d}.jsonl.gz:{line}"))
    got = output_docs(tmp_path / "out")
    assert [(d["id"], d["text"], d["metadata"]["provenance"]) for d in got] == expected
    assert all(d["extra"] == [d["metadata"]["n"]] for d in got)  # unknown fields kept
    assert all(set(d["attributes"]) == {"exp__len", "exp__score", "exp__dup", "exp__flag"} for d in got)
    assert len(shards(tmp_path / "out")) > 1
    assert all(os.path.getsize(p) <= 4000 for p in shards(tmp_path / "out"))
    assert not os.path.exists(tmp_path / "out" / "_mix_work")


def test_counts_reconcile_per_stream_source_and_file(tmp_path):
    corpus(tmp_path)
    assert mix(tmp_path, [stream(tmp_path, sample_rate=0.7, **FILTERED)], "--processes", "2") == 0
    entry = manifest(tmp_path / "out")["streams"][0]

    def check(counts):
        for i, field in enumerate(("documents", "tokens", "bytes")):
            dropped = sum(row[field] for row in counts["dropped"].values())
            assert counts["in"][field] == counts["kept"][field] + dropped, field
            del i

    check(entry["counts"])
    for source in entry["sources"].values():
        check(source)
    assert sum(s["written"]["documents"] for s in entry["sources"].values()) == entry["counts"]["written"]["documents"]
    for item in entry["inputs"]:
        check(item["counts"])
        assert item["counts"]["in"]["documents"] == 60 and item["outputs"]
    dropped = entry["counts"]["dropped"]
    assert set(dropped) == {"filter.include", "filter.exclude[0]", "sample"}
    assert entry["counts"]["kept"]["documents"] == len(output_docs(tmp_path / "out"))
    assert sum(o["documents"] for o in entry["outputs"]) == entry["counts"]["written"]["documents"]
    fed = {path for o in entry["outputs"] for path in o["inputs"]}
    assert fed == {item["path"] for item in entry["inputs"]}


def test_one_and_two_processes_write_identical_bytes(tmp_path):
    corpus(tmp_path, files=4)
    config = stream(tmp_path, sample_rate=1.5, **FILTERED)
    assert mix(tmp_path, [config], "--processes", "1", shuffle=True) == 0
    first = {os.path.basename(p): open(p, "rb").read() for p in shards(tmp_path / "out")}
    first_manifest = open(tmp_path / "out.manifest.json", "rb").read()
    assert mix(tmp_path, [config], "--processes", "2", "--overwrite", shuffle=True) == 0
    second = {os.path.basename(p): open(p, "rb").read() for p in shards(tmp_path / "out")}
    assert first == second and len(first) > 1
    assert open(tmp_path / "out.manifest.json", "rb").read() == first_manifest


def test_local_and_ray_write_identical_bytes(tmp_path, ray_local):
    corpus(tmp_path, files=3)
    config = stream(tmp_path, **FILTERED)
    assert mix(tmp_path, [config], "--processes", "2") == 0
    local = {os.path.basename(p): open(p, "rb").read() for p in shards(tmp_path / "out")}
    assert mix(tmp_path, [config], "--executor", "ray", "--overwrite") == 0
    ray = {os.path.basename(p): open(p, "rb").read() for p in shards(tmp_path / "out")}
    assert local == ray and local


def test_upsampling_repeats_documents(tmp_path):
    data = corpus(tmp_path, files=2)
    assert mix(tmp_path, [stream(tmp_path, sample_rate=2.5)], "--processes", "1") == 0
    got = output_docs(tmp_path / "out")
    counts = {}
    for doc in got:
        counts[doc["id"]] = counts.get(doc["id"], 0) + 1
    assert set(counts.values()) == {2, 3}
    assert len(counts) == sum(len(d) for d in data)
    for doc_id, n in counts.items():
        assert n == 2 + (unit_hash(doc_id, 0) < 0.5)
    entry = manifest(tmp_path / "out")["streams"][0]
    assert entry["counts"]["written"]["documents"] == len(got) and entry["counts"]["kept"]["documents"] == 120


def test_token_budget_and_document_target(tmp_path):
    corpus(tmp_path, files=3, per_file=200)
    assert mix(tmp_path, [stream(tmp_path, target_tokens=5000)], "--processes", "2") == 0
    got = output_docs(tmp_path / "out")
    tokens = sum(len(d["text"].split()) for d in got)
    assert abs(tokens - 5000) < 150, tokens
    assert mix(tmp_path, [stream(tmp_path, name="t", target_documents=1000)], "--processes", "2", "--overwrite") == 0
    assert abs(len(output_docs(tmp_path / "out", "t")) - 1000) <= 5  # upsampled 600 -> 1000


def test_top_fraction_keeps_the_best_scores(tmp_path):
    data = corpus(tmp_path, files=2, per_file=100)
    top = {"score": "$.attributes.exp__score[0][2]", "fraction": 0.25}
    assert mix(tmp_path, [stream(tmp_path, top_fraction=top)], "--processes", "2") == 0
    scores = sorted((d["attributes"]["exp__score"][0][2] for docs in data for d in docs), reverse=True)
    kept = output_docs(tmp_path / "out")
    assert len(kept) == 50
    assert {d["attributes"]["exp__score"][0][2] for d in kept} == set(scores[:50])
    entry = manifest(tmp_path / "out")["streams"][0]
    assert entry["top_fraction_threshold"] == scores[49]
    assert entry["counts"]["dropped"]["top_fraction"]["documents"] == 150


def test_output_options_discard_min_length_zst_and_no_provenance(tmp_path):
    data = corpus(tmp_path, files=1)
    output = {"discard_fields": ["attributes", "extra"], "min_text_length": 120, "provenance": False}
    config = stream(tmp_path, output=output, compression={"output": "zst"})
    assert mix(tmp_path, [config], "--processes", "1") == 0
    got = [d for p in shards(tmp_path / "out", ext=".jsonl.zst") for d in read_jsonl(p)]
    expected = [d for d in data[0] if len(d["text"].encode()) >= 120]
    assert [d["id"] for d in got] == [d["id"] for d in expected] and got
    assert all(set(d) == {"id", "text", "source", "metadata"} and "provenance" not in d["metadata"] for d in got)


def test_unedited_documents_pass_through_byte_for_byte(tmp_path):
    root = tmp_path
    lines = [b'{"text": "a b c", "id": "x1", "zz": {"nested": [1, 2.50]}}\n', b'{"id":"x2","text":"d e"}\n']
    io.write_bytes(f"{root}/documents/part/000.jsonl.gz", b"".join(lines))
    config = {
        "name": "s",
        "documents": [f"{root}/documents/part/*.gz"],
        "output": {"path": f"{root}/out", "provenance": False},
    }
    assert mix(tmp_path, [config], "--processes", "1") == 0
    assert gzip.decompress(open(shards(root / "out")[0], "rb").read()) == b"".join(lines)


def test_parquet_output_reads_back(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    corpus(tmp_path, files=2)
    assert mix(tmp_path, [stream(tmp_path, output={"format": "parquet"}, **FILTERED)], "--processes", "2") == 0
    import pyarrow.parquet as pq

    files = shards(tmp_path / "out", ext=".parquet")
    table = pq.read_table(files)
    assert table.num_rows == manifest(tmp_path / "out")["streams"][0]["counts"]["written"]["documents"] > 0
    import datasets

    loaded = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "hf"))
    assert loaded.num_rows == table.num_rows
    assert loaded[0]["id"] == table.column("id")[0].as_py() and loaded[0]["text"] == table.column("text")[0].as_py()


def test_bad_expression_is_refused_before_any_work(tmp_path, capsys):
    corpus(tmp_path, files=1)
    bad = {"filter": {"include": ["$.attributes[?(@.exp__len[0][2] >= 1)]", "$.attributes[?(@.exp__len[0] >>= 1)]"]}}
    assert mix(tmp_path, [stream(tmp_path, **bad)]) == 2
    err = capsys.readouterr().err
    assert "streams[0].filter.include[1]:" in err and "at column 31" in err
    assert not os.path.exists(tmp_path / "out")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"documents": ["/nowhere/documents/*.gz"]}, "streams[0].documents[0]: pattern"),
        ({"output": {"path": "x", "max_size_in_bytes": 0}}, "streams[0].output.max_size_in_bytes: must be positive"),
        ({"attributes": ["missing_exp"]}, "streams[0].attributes[0]:"),
        ({"sample_rate": 0.5, "target_tokens": 10}, "at most one of"),
        ({"filter": {"include": ["$.a"], "syntax": "xpath"}}, "streams[0].filter.syntax"),
        ({"span_replacement": [{"span": "$.attributes.exp__dup"}]}, "give min_score or max_score"),
    ],
)
def test_config_errors_name_the_key(tmp_path, capsys, change, message):
    corpus(tmp_path, files=1)
    assert mix(tmp_path, [{**stream(tmp_path), **change}]) == 2
    assert message in capsys.readouterr().err


def test_misaligned_attribute_file_names_both_files(tmp_path, capsys):
    data = corpus(tmp_path, files=1)
    rows = [{"id": d["id"], "attributes": d["attributes"]} for d in data[0]]
    rows[7]["id"] = "other"
    write_docs(f"{tmp_path}/attributes/exp/part/000.jsonl.gz", rows)
    assert mix(tmp_path, [stream(tmp_path, **FILTERED)], "--processes", "1") == 2
    err = capsys.readouterr().err
    assert "attributes/exp/part/000.jsonl.gz:8" in err and "documents/part/000.jsonl.gz:8" in err
    leftovers = [name for _, _, names in os.walk(tmp_path / "out") for name in names if ".tmp-" in name]
    assert leftovers == []  # the part being written was discarded
    write_docs(f"{tmp_path}/attributes/exp/part/000.jsonl.gz", rows[:10])
    rows[7]["id"] = data[0][7]["id"]
    write_docs(f"{tmp_path}/attributes/exp/part/000.jsonl.gz", rows[:10])
    assert mix(tmp_path, [stream(tmp_path, **FILTERED)], "--processes", "1") == 2
    assert "ends before" in capsys.readouterr().err


def test_bad_lines_are_counted_with_skip(tmp_path, capsys):
    docs = make_docs(5)
    lines = [json.dumps(d).encode() for d in docs]
    lines.insert(2, b"{not json")
    io.write_bytes(f"{tmp_path}/documents/part/000.jsonl.gz", b"\n".join(lines) + b"\n")
    config = {"name": "s", "documents": [f"{tmp_path}/documents/part/*.gz"], "output": {"path": f"{tmp_path}/out"}}
    assert mix(tmp_path, [config], "--processes", "1") == 2
    assert "000.jsonl.gz:3: invalid JSON" in capsys.readouterr().err
    assert mix(tmp_path, [config], "--processes", "1", "--skip-bad-lines") == 0
    entry = manifest(tmp_path / "out")["streams"][0]
    assert entry["bad_lines"] == 1 and entry["counts"]["kept"]["documents"] == 5


def test_rerun_with_the_same_config_is_a_no_op(tmp_path, capsys):
    corpus(tmp_path, files=1)
    assert mix(tmp_path, [stream(tmp_path, **FILTERED)], "--processes", "1") == 0
    stamp = os.path.getmtime(shards(tmp_path / "out")[0])
    assert mix(tmp_path, [stream(tmp_path, **FILTERED)], "--processes", "1") == 0
    assert "up to date" in capsys.readouterr().err
    assert os.path.getmtime(shards(tmp_path / "out")[0]) == stamp


def test_jq_filters_end_to_end(tmp_path):
    data = corpus(tmp_path, files=1)
    config = stream(tmp_path, filter={"syntax": "jq", "include": [".attributes.exp__flag[0][2] == 1.0"]})
    assert mix(tmp_path, [config], "--processes", "1") == 0
    assert [d["id"] for d in output_docs(tmp_path / "out")] == [d["id"] for i, d in enumerate(data[0]) if i % 5 == 0]


def test_s3_inputs_and_outputs(tmp_path, s3_bucket):
    corpus(tmp_path, files=2)
    for path in io.glob(f"{tmp_path}/**/*.gz"):
        io.write_bytes(s3_bucket + path[len(str(tmp_path)) :], io.read_bytes(path))
    config = stream(s3_bucket, **FILTERED)
    assert mix(tmp_path, [config], "--processes", "1") == 0
    local = stream(tmp_path, **FILTERED)
    assert mix(tmp_path, [local], "--processes", "1") == 0
    remote = [p for p in io.glob(f"{s3_bucket}/out/s-*.jsonl.gz")]
    assert [read_jsonl(p) for p in remote] == [read_jsonl(p) for p in shards(tmp_path / "out")]
    assert io.exists(f"{s3_bucket}/out.manifest.json") and not io.glob(f"{s3_bucket}/out/_mix_work/**")


def test_a_run_interrupted_while_packing_packs_again_from_its_parts(tmp_path, monkeypatch):
    corpus(tmp_path, files=3)
    config = stream(tmp_path, **FILTERED)
    assert mix(tmp_path, [config], "--processes", "1") == 0
    expected = {os.path.basename(p): open(p, "rb").read() for p in shards(tmp_path / "out")}
    from dolma.mixers import manifest as manifest_module

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    import shutil

    shutil.rmtree(tmp_path / "out")
    monkeypatch.setattr(manifest_module, "write", crash)
    assert mix(tmp_path, [config], "--processes", "1") == 130
    assert os.path.exists(tmp_path / "out" / "_mix_work")
    for path in shards(tmp_path / "out")[1:]:
        os.remove(path)  # as if interrupted while packing
    monkeypatch.undo()
    assert mix(tmp_path, [config], "--processes", "1") == 0
    assert {os.path.basename(p): open(p, "rb").read() for p in shards(tmp_path / "out")} == expected


DOLMA_STYLE_CONFIG = """
streams:
  - name: dcnlp
    documents:
      - {root}/documents/part/*.jsonl.gz
    output:
      path: {root}/mixed
      max_size_in_bytes: 100_000_000
      discard_fields:
        - attributes
        - metadata
    attributes:
      - exp
    filter:
      exclude:
        - $.attributes[?(@.exp__len && @.exp__len[0] && @.exp__len[0][2] < 10)]
        - $.attributes[?(@.exp__flag && @.exp__flag[0] && @.exp__flag[0][2] > 0.5)]
    span_replacement:
      - span: $.attributes.exp__dup
        min_score: 0.5
        replacement: ""
work_dir:
  input: /tmp/unused-input
processes: 2
"""


def test_a_dolma_config_file_runs_unchanged(tmp_path):
    data = corpus(tmp_path, files=2)
    path = tmp_path / "dolma.yaml"
    path.write_text(DOLMA_STYLE_CONFIG.format(root=tmp_path))
    assert main(["mix", "-c", str(path)]) == 0
    got = [d for p in shards(tmp_path / "mixed", "dcnlp") for d in read_jsonl(p)]
    keep = [d for docs in data for d in docs if d["attributes"]["exp__len"][0][2] >= 10]
    keep = [d for d in keep if d["attributes"]["exp__flag"][0][2] <= 0.5]
    assert [d["id"] for d in got] == [d["id"] for d in keep]
    # as in dolma 1.2.1, provenance is added after discarding fields, so metadata holds only it
    assert all(set(d) == {"id", "text", "source", "extra", "metadata"} for d in got)
    assert all(set(d["metadata"]) == {"provenance"} for d in got)
