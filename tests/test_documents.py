"""One document validator for every command: tag, dedupe and mix accept and refuse the same lines."""

from __future__ import annotations

import json

import pytest
import yaml

from dolma import io
from dolma.cli import main
from tests.helpers import make_docs, read_jsonl, write_docs

BAD_LINES = [
    ({"id": "x", "text": "t", "source": 5}, "got `int` - at `$.source`"),
    ({"id": "x", "text": "t", "metadata": [1]}, "got `array` - at `$.metadata`"),
    ({"id": 7, "text": "t"}, "got `int` - at `$.id`"),
    ({"id": "x"}, "missing required field `text`"),
]


def _corpus(root, bad: dict) -> str:
    docs = make_docs(6)
    lines = [json.dumps(d).encode() for d in docs[:2]] + [json.dumps(bad).encode()]
    lines += [json.dumps(d).encode() for d in docs[2:]]
    io.write_bytes(f"{root}/documents/a.jsonl.gz", b"\n".join(lines) + b"\n")
    return f"{root}/documents/a.jsonl.gz"


def _tag(path: str, *extra: str) -> int:
    return main(["tag", "--documents", path, "--taggers", "char_length", "--experiment", "exp", *extra])


def _dedupe(path: str, root, mode: str, *extra: str) -> int:
    section = (
        ["--dedupe.paragraphs.attribute_name", "dup"]
        if mode == "paragraphs"
        else ["--dedupe.documents.attribute_name", "dup", "--dedupe.documents.key", "$.id"]
    )
    bloom = ["--bloom_filter.file", f"{root}/bloom-{mode}.bin", "--bloom_filter.size_in_bytes", "4096"]
    return main(["dedupe", "--documents", path, "--dedupe.name", f"dd-{mode}", *section, *bloom, *extra])


def _mix(root, *extra: str) -> int:
    config = root / "mix.yaml"
    stream = {"name": "s", "documents": [f"{root}/documents/*.gz"], "output": {"path": f"{root}/out"}}
    config.write_text(yaml.safe_dump({"streams": [stream]}))
    return main(["mix", "-c", str(config), *extra])


@pytest.mark.parametrize(("bad", "reason"), BAD_LINES, ids=["source", "metadata", "id", "missing"])
def test_every_command_refuses_the_same_line_with_the_same_words(tmp_path, capsys, bad, reason):
    path = _corpus(tmp_path, bad)
    for run in (lambda: _tag(path), lambda: _dedupe(path, tmp_path, "paragraphs"),
                lambda: _dedupe(path, tmp_path, "documents"), lambda: _mix(tmp_path)):  # fmt: skip
        assert run() == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{path}:3: " in err[0] and reason in err[0], err


def test_skipped_by_tag_and_mix_alike_so_their_rows_stay_aligned(tmp_path, capsys):
    path = _corpus(tmp_path, BAD_LINES[0][0])
    assert _tag(path, "--skip-bad-lines") == 0
    assert _dedupe(path, tmp_path, "paragraphs", "--skip-bad-lines") == 0
    rows = read_jsonl(f"{tmp_path}/attributes/exp/a.jsonl.gz")
    assert [r["id"] for r in rows] == [f"d{i}" for i in range(6)]
    config = tmp_path / "mix.yaml"
    stream = {"name": "s", "documents": [f"{tmp_path}/documents/*.gz"], "attributes": ["exp", "dd-paragraphs"],
              "output": {"path": f"{tmp_path}/out"}}  # fmt: skip
    config.write_text(yaml.safe_dump({"streams": [stream]}))
    assert main(["mix", "-c", str(config), "--skip-bad-lines"]) == 0
    out = [d for shard in io.glob(f"{tmp_path}/out/s-*.jsonl.gz") for d in read_jsonl(shard)]
    assert sorted(d["id"] for d in out) == sorted(f"d{i}" for i in range(6))
    assert all("exp__char_length__length" in d["attributes"] for d in out)


def test_a_utf8_byte_order_mark_before_the_first_document_is_not_a_bad_line(tmp_path):
    docs = make_docs(3)
    io.write_bytes(f"{tmp_path}/documents/a.jsonl", io.BOM + b"".join(json.dumps(d).encode() + b"\n" for d in docs))
    assert _tag(f"{tmp_path}/documents/a.jsonl") == 0
    assert [r["id"] for r in read_jsonl(f"{tmp_path}/attributes/exp/a.jsonl")] == ["d0", "d1", "d2"]


def test_a_zero_byte_compressed_shard_is_an_error_not_an_empty_shard(tmp_path, capsys):
    write_docs(f"{tmp_path}/documents/a.jsonl.gz", make_docs(3))
    open(f"{tmp_path}/documents/b.jsonl.gz", "wb").close()
    assert _tag(f"{tmp_path}/documents/*.gz") == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}/documents/b.jsonl.gz: empty file (0 bytes)" in err
    assert not io.exists(f"{tmp_path}/attributes/exp/b.jsonl.gz")
