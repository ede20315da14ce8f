"""Shard I/O: every compression round-trips on disk and on a real S3 API server; partial writes never
appear under a final name; truncated files are named in the error."""

from __future__ import annotations

import os

import pytest

from dolma import io
from dolma.errors import InputError

EXTENSIONS = [".jsonl", ".jsonl.gz", ".jsonl.zst"]
PAYLOAD = b"".join(b'{"id":"%d","text":"line %d \xc3\xa9"}\n' % (i, i) for i in range(20_000))


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_local_round_trip(tmp_path, ext):
    path = str(tmp_path / f"shard{ext}")
    io.write_bytes(path, PAYLOAD)
    assert io.read_bytes(path) == PAYLOAD
    assert b"".join(io.iter_line_blocks(path)) == PAYLOAD
    assert all(block.endswith(b"\n") for block in io.iter_line_blocks(path))
    assert os.listdir(tmp_path) == [f"shard{ext}"]


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_s3_round_trip(s3_bucket, ext):
    path = f"{s3_bucket}/data/documents/shard{ext}"
    io.write_bytes(path, PAYLOAD)
    assert io.exists(path)
    assert io.read_bytes(path) == PAYLOAD
    assert io.glob(f"{s3_bucket}/data/documents/*") == [path]
    assert io.glob(f"{s3_bucket}/**/*{ext}") == [path]


def test_s3_failed_write_leaves_no_object(s3_bucket):
    path = f"{s3_bucket}/out/shard.jsonl.gz"
    with pytest.raises(RuntimeError):
        with io.atomic_write(path) as out:
            out.write(PAYLOAD)
            raise RuntimeError("crash mid-write")
    assert not io.exists(path)
    assert io.glob(f"{s3_bucket}/out/*") == []


def test_local_failed_write_leaves_nothing(tmp_path):
    path = str(tmp_path / "out.jsonl.zst")
    with pytest.raises(RuntimeError):
        with io.atomic_write(path) as out:
            out.write(PAYLOAD)
            raise RuntimeError("crash mid-write")
    assert os.listdir(tmp_path) == []


def test_gzip_output_is_not_level_9(tmp_path):
    """Output uses a fast level; level 9 would be several times slower for little gain."""
    import gzip

    fast = str(tmp_path / "a.jsonl.gz")
    io.write_bytes(fast, PAYLOAD)
    assert len(gzip.compress(PAYLOAD, compresslevel=9)) < os.path.getsize(fast)


def test_concatenated_members_and_frames_are_read_whole(tmp_path):
    import gzip

    import zstandard

    gz = tmp_path / "multi.jsonl.gz"
    gz.write_bytes(gzip.compress(b"a\n") + gzip.compress(b"b\n"))
    zst = tmp_path / "multi.jsonl.zst"
    cctx = zstandard.ZstdCompressor()
    zst.write_bytes(cctx.compress(b"a\n") + cctx.compress(b"b\n"))
    assert io.read_bytes(str(gz)) == b"a\nb\n"
    assert io.read_bytes(str(zst)) == b"a\nb\n"


@pytest.mark.parametrize("ext", [".jsonl.gz", ".jsonl.zst"])
def test_truncated_file_is_an_error_naming_it(tmp_path, ext):
    path = str(tmp_path / f"cut{ext}")
    io.write_bytes(path, PAYLOAD)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.jsonl\.(gz|zst).*(truncated|corrupt)"):
        io.read_bytes(path)


def test_corrupt_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(b"this is not gzip at all\n")
    with pytest.raises(InputError, match="bad.jsonl.gz"):
        io.read_bytes(str(path))


def test_glob_local(tmp_path):
    for rel in ["documents/a/1.jsonl.gz", "documents/a/2.jsonl.gz", "documents/b/3.jsonl.zst", "other/4.jsonl"]:
        os.makedirs(tmp_path / os.path.dirname(rel), exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    base = str(tmp_path)
    assert io.glob(f"{base}/documents/*/*.gz") == [f"{base}/documents/a/1.jsonl.gz", f"{base}/documents/a/2.jsonl.gz"]
    assert len(io.glob(f"{base}/**/*.jsonl*")) == 4
    assert io.glob(f"{base}/documents") == sorted(io.glob(f"{base}/documents/**"))
    with pytest.raises(InputError, match="matches no files"):
        io.expand_globs([f"{base}/nothing/*.gz"], "documents")


def test_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(InputError, match="nope.jsonl"):
        io.read_bytes(str(tmp_path / "nope.jsonl"))


def test_read_range_local_and_s3(tmp_path, s3_bucket):
    data = bytes(range(256)) * 40
    for path in (str(tmp_path / "r.bin"), f"{s3_bucket}/r.bin"):
        io.write_stored(path, data)
        assert io.read_range(path, 0, 16) == data[:16]
        assert io.read_range(path, 5000, 1234) == data[5000:6234]
        assert io.read_range(path, 100, 0) == b""
        with pytest.raises(InputError, match="truncated"):
            io.read_range(path, len(data) - 4, 8)
        with pytest.raises(InputError, match="no such"):
            io.read_range(path + ".missing", 0, 4)
