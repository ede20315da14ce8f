"""Parts and shards: size caps, numbering, concatenated members, Parquet, seeded shuffle."""

from __future__ import annotations

import gzip

import pyarrow.parquet as pq
import pytest
from dolma.mixers.writer import Part, PartWriter, concatenate, plan_shards, remove_stale


def lines(n, size=100):
    return [(f'{{"id":"d{i}","text":"' + "x" * size + '"}\n').encode() for i in range(n)]


def test_parts_are_capped_by_uncompressed_size(tmp_path):
    writer = PartWriter(str(tmp_path / "w" / "000000"), ".jsonl.gz", max_bytes=1000)
    for line in lines(25):
        writer.add(line)
    parts = writer.close()
    assert [p.documents for p in parts] == [8, 8, 8, 1]
    assert all(p.path.endswith(f"000000-{k:05d}.jsonl.gz") for k, p in enumerate(parts))
    content = b"".join(gzip.decompress(open(p.path, "rb").read()) for p in parts)
    assert content == b"".join(lines(25))


def test_plan_groups_consecutive_parts_under_the_cap():
    parts = [Part(f"p{i}", size, 1) for i, size in enumerate([40, 50, 20, 90, 10, 150])]
    groups = plan_shards(parts, 100, ".jsonl.gz")
    assert [[p.path for p in g] for g in groups] == [["p0", "p1"], ["p2"], ["p3", "p4"], ["p5"]]
    assert len(plan_shards(parts, 100, ".parquet")) == 6


def test_packed_gzip_members_make_valid_numbered_shards(tmp_path):
    all_parts = []
    for task in range(3):
        writer = PartWriter(str(tmp_path / "w" / f"{task:06d}"), ".jsonl.gz", max_bytes=2000)
        for line in lines(10):
            writer.add(line)
        all_parts += writer.close()
    out = tmp_path / "out"
    out.mkdir()
    (out / "s-00009.jsonl.gz").write_bytes(gzip.compress(b"stale\n"))
    cap = max(p.bytes for p in all_parts) * 2
    groups = plan_shards(all_parts, cap, ".jsonl.gz")
    shards = [str(out / f"s-{k:05d}.jsonl.gz") for k in range(len(groups))]
    for group, shard in zip(groups, shards, strict=True):
        concatenate([part.path for part in group], shard)
    remove_stale(str(out), "s", ".jsonl.gz", shards)
    assert not (out / "s-00009.jsonl.gz").exists() and len(shards) > 1
    assert all(sum(p.bytes for p in group) <= cap for group in groups)
    content = b"".join(gzip.decompress(open(s, "rb").read()) for s in shards)
    assert content == b"".join(lines(10)) * 3


def test_shuffle_is_seeded_and_keeps_every_line(tmp_path):
    def run(seed, name):
        writer = PartWriter(str(tmp_path / name / "000000"), ".jsonl.gz", 10**6, shuffle_seed=seed)
        for line in lines(50):
            writer.add(line)
        (part,) = writer.close()
        return gzip.decompress(open(part.path, "rb").read()).splitlines(keepends=True)

    first, again, other = run("a", "x"), run("a", "y"), run("b", "z")
    assert first == again and first != other and sorted(first) == sorted(lines(50))


def test_parquet_parts_have_a_fixed_schema(tmp_path):
    writer = PartWriter(str(tmp_path / "w" / "000000"), ".parquet", 10**6)
    writer.add(b'{"id":"a","text":"x","source":"s","metadata":{"k":1},"other":[1]}\n')
    writer.add(b'{"id":"b","text":"y"}\n')
    (part,) = writer.close()
    table = pq.read_table(part.path)
    assert table.column_names == ["id", "text", "source", "added", "created", "metadata", "extra"]
    rows = table.to_pylist()
    assert rows[0]["metadata"] == '{"k":1}' and rows[0]["extra"] == '{"other":[1]}'
    assert rows[1]["source"] is None and rows[1]["extra"] is None


def test_unknown_compression_is_refused():
    from dolma.mixers.writer import extension

    assert extension("jsonl", None) == ".jsonl.gz" and extension("jsonl", "zst") == ".jsonl.zst"
    with pytest.raises(ValueError):
        extension("jsonl", "lzma")
