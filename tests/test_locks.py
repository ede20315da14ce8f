"""Run locks: a second run on the same outputs stops at once naming the holder; a dead run's lock is taken."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from dolma import io, locks
from dolma.cli import main
from dolma.errors import LockError
from tests.helpers import make_docs, write_docs


def test_a_held_directory_lock_refuses_a_second_holder_naming_the_first(tmp_path):
    lock = locks.for_directory(str(tmp_path / "out"))
    with locks.hold([lock], "dolma tag"):
        with pytest.raises(LockError, match=rf"locked by another run: `dolma tag`, pid {os.getpid()} on "):
            with locks.hold([lock], "dolma tag"):
                pass
    with locks.hold([lock], "dolma tag"):  # released on exit
        pass


def test_the_lock_of_a_killed_process_is_free_at_once(tmp_path):
    lock = locks.for_directory(str(tmp_path / "out"))
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from dolma import locks\nwith locks.hold([{lock!r}], 'x'):\n print(1, flush=True)\n"
         " import time; time.sleep(60)"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"1"
    with pytest.raises(LockError, match=f"pid {holder.pid} "):
        with locks.hold([lock], "y"):
            pass
    holder.kill()
    holder.wait()
    with locks.hold([lock], "y"):
        pass


def test_a_second_tag_run_on_the_same_destination_stops_with_one_line(tmp_path, capsys):
    write_docs(f"{tmp_path}/documents/a.jsonl.gz", make_docs(20))
    root = f"{tmp_path}/attributes/exp"
    with locks.hold([locks.for_directory(root)], "dolma tag"):
        started = time.monotonic()
        code = main(["tag", "--documents", f"{tmp_path}/documents/*.gz", "--taggers", "char_length",
                     "--experiment", "exp"])  # fmt: skip
        assert time.monotonic() - started < 10
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert f"{root} is locked by another run: `dolma tag`, pid {os.getpid()}" in err
    assert not os.path.exists(f"{root}/a.jsonl.gz")


def test_locks_and_records_are_not_shards(tmp_path):
    write_docs(f"{tmp_path}/documents/a.jsonl.gz", make_docs(5))
    assert main(["tag", "--documents", f"{tmp_path}/documents/*.gz", "--taggers", "char_length"]) == 0
    assert io.glob(f"{tmp_path}/attributes/char_length") == [f"{tmp_path}/attributes/char_length/a.jsonl.gz"]
    assert io.glob(f"{tmp_path}/attributes/char_length/*") == [f"{tmp_path}/attributes/char_length/a.jsonl.gz"]


def test_tag_start_sweeps_only_temporary_files_of_dead_runs_in_its_destination(tmp_path):
    write_docs(f"{tmp_path}/documents/a.jsonl.gz", make_docs(5))
    root = tmp_path / "attributes" / "exp"
    os.makedirs(root / "sub")
    leftover = root / "sub" / ".a.jsonl.gz.tmp-4242-0123abcd"
    leftover.write_bytes(b"x" * 1000)
    kept = [root / "notes.txt", root / ".hidden", root / ".a.jsonl.gz.tmp-notours", tmp_path / ".b.gz.tmp-1-0123abcd"]
    for path in kept:
        path.write_bytes(b"keep")
    assert main(["tag", "--documents", f"{tmp_path}/documents/*.gz", "--taggers", "char_length",
                 "--experiment", "exp"]) == 0  # fmt: skip
    assert not leftover.exists()
    assert all(path.exists() for path in kept)


# ---------------------------------------------------------------------------------------------------- S3


def _lock_object(bucket: str, key: str, holder: dict) -> None:
    io.s3_client().put_object(Bucket=bucket, Key=key, Body=json.dumps(holder).encode())


def test_s3_lock_refuses_a_live_holder_and_is_removed_after(s3_bucket):
    lock = locks.for_directory(f"{s3_bucket}/out")
    with locks.hold([lock], "dolma mix"):
        assert io.exists(lock)
        held = f"{s3_bucket}/out is locked by another run: `dolma mix`, pid {os.getpid()}"
        with pytest.raises(LockError, match=held):
            with locks.hold([lock], "dolma mix"):
                pass
    assert not io.exists(lock)


@pytest.mark.parametrize(
    "holder",
    [
        {"host": socket.gethostname(), "pid": 2**22 + 17, "heartbeat": time.time()},  # dead pid on this host
        {"host": "elsewhere", "pid": 1, "heartbeat": time.time() - locks.STALE_AFTER - 5},  # no heartbeat
    ],
    ids=["dead-pid", "old-heartbeat"],
)
def test_s3_stale_lock_is_taken_over(s3_bucket, holder):
    lock = locks.for_file(f"{s3_bucket}/filters/bloom.bin")
    bucket, key = io.split_s3(lock)
    _lock_object(bucket, key, {"command": "dolma dedupe", "started": 0, **holder})
    with locks.hold([lock], "dolma dedupe"):
        assert json.loads(io.read_bytes(lock))["pid"] == os.getpid()


def test_s3_lock_of_a_live_run_elsewhere_is_not_taken(s3_bucket):
    lock = locks.for_directory(f"{s3_bucket}/out")
    bucket, key = io.split_s3(lock)
    _lock_object(bucket, key, {"command": "dolma tag", "host": "node-7", "pid": 99, "heartbeat": time.time()})
    with pytest.raises(LockError, match="pid 99 on node-7"):
        with locks.hold([lock], "dolma tag"):
            pass


def test_two_runs_taking_over_one_stale_s3_lock_one_wins(s3_bucket):
    lock = locks.for_directory(f"{s3_bucket}/race")
    bucket, key = io.split_s3(lock)
    for _ in range(5):
        _lock_object(bucket, key, {"host": "gone", "pid": 1, "heartbeat": 0})
        results: list[str] = []
        barrier = threading.Barrier(2)

        def take(barrier: threading.Barrier = barrier, results: list[str] = results) -> None:
            barrier.wait()
            try:
                locks._acquire_s3(lock, locks._holder("t"))
                results.append("won")
            except LockError:
                results.append("refused")

        threads = [threading.Thread(target=take) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == ["refused", "won"]


def test_tag_start_aborts_incomplete_multipart_uploads_of_its_destination_only(s3_bucket):
    write_docs(f"{s3_bucket}/c/documents/a.jsonl.gz", make_docs(5))
    client = io.s3_client()
    bucket = s3_bucket[len("s3://") :]
    ours = client.create_multipart_upload(Bucket=bucket, Key="c/attributes/exp/a.jsonl.gz")["UploadId"]
    other = client.create_multipart_upload(Bucket=bucket, Key="c/attributes/other/a.jsonl.gz")["UploadId"]
    assert main(["tag", "--documents", f"{s3_bucket}/c/documents/*.gz", "--taggers", "char_length",
                 "--experiment", "exp"]) == 0  # fmt: skip
    left = {u["UploadId"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}
    assert ours not in left
    assert other in left


def _dedupe_args(root, part: str) -> list[str]:
    return ["dedupe", "--documents", f"{root}/{part}/documents/*.gz", "--dedupe.name", "dup",
            "--dedupe.paragraphs.attribute_name", "dup", "--bloom_filter.file", f"{root}/shared-bloom.bin",
            "--bloom_filter.size_in_bytes", "65536"]  # fmt: skip


def test_a_second_dedupe_into_the_same_bloom_filter_stops_at_once(tmp_path, capsys):
    for part in ("a", "b"):
        write_docs(f"{tmp_path}/{part}/documents/0.jsonl.gz", make_docs(10, prefix=part))
    with locks.hold([locks.for_file(f"{tmp_path}/shared-bloom.bin")], "dolma dedupe"):
        assert main(_dedupe_args(tmp_path, "b")) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and f"{tmp_path} is locked by another run: `dolma dedupe`, pid {os.getpid()}" in line
    assert not os.path.exists(f"{tmp_path}/b/attributes/dup/0.jsonl.gz")
    assert main(_dedupe_args(tmp_path, "a")) == 0  # released: both runs go through, one after the other
    assert main(_dedupe_args(tmp_path, "b")) == 0


def test_a_second_mix_into_the_same_output_stops_at_once(tmp_path, capsys):
    write_docs(f"{tmp_path}/documents/0.jsonl.gz", make_docs(10))
    config = tmp_path / "mix.json"
    stream = {"name": "s", "documents": [f"{tmp_path}/documents/*.gz"], "output": {"path": f"{tmp_path}/out"}}
    config.write_text(json.dumps({"streams": [stream]}))
    with locks.hold([locks.for_directory(f"{tmp_path}/out")], "dolma mix"):
        assert main(["mix", "-c", str(config)]) == 2
    assert f"{tmp_path}/out is locked by another run: `dolma mix`" in capsys.readouterr().err
    assert main(["mix", "-c", str(config)]) == 0


HOLDER = """
import sys, time
from dolma import locks
locks.HEARTBEAT, locks.STALE_AFTER = 0.1, 1.0
with locks.hold([sys.argv[1]], "dolma mix"):
    print("held", flush=True)
    time.sleep(120)
"""


def test_s3_heartbeat_keeps_a_long_run_locked_and_a_killed_one_is_taken_over(s3_bucket, monkeypatch):
    """End to end, as two hosts see it (a dead pid is only visible on its own host): a run that holds the lock
    longer than the stale age keeps it by its heartbeat; once it is killed, its lock goes stale and is taken."""
    import signal

    lock = locks.for_directory(f"{s3_bucket}/long")
    run = subprocess.Popen([sys.executable, "-c", HOLDER, lock], stdout=subprocess.PIPE, text=True)
    try:
        assert run.stdout is not None and run.stdout.readline().strip() == "held"
        monkeypatch.setattr(locks, "STALE_AFTER", 1.0)
        monkeypatch.setattr(locks.socket, "gethostname", lambda: "another-node")
        first = json.loads(io.read_bytes(lock))["heartbeat"]
        for _ in range(4):  # 2 s: twice the stale age
            time.sleep(0.5)
            with pytest.raises(LockError, match=f"pid {run.pid} on"):
                with locks.hold([lock], "dolma mix"):
                    pass
        assert json.loads(io.read_bytes(lock))["heartbeat"] > first + 1.0
        run.send_signal(signal.SIGKILL)
        run.wait()
        deadline = time.monotonic() + 10
        while True:
            try:
                with locks.hold([lock], "dolma mix"):
                    assert json.loads(io.read_bytes(lock))["host"] == "another-node"
                break
            except LockError:
                assert time.monotonic() < deadline, "the killed run's lock was never taken over"
                time.sleep(0.2)
    finally:
        run.kill()
        run.wait()
