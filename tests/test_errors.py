"""Failures outside the toolkit end in one line naming the file, object or key (a traceback only with
--debug): missing bucket, unreachable endpoint, bad credentials, full or read-only disk, a NUL in a name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from dolma.cli import main
from tests.conftest import _free_port
from tests.helpers import make_docs, write_docs


def _cli(args: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "dolma.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return proc.returncode, proc.stderr, time.monotonic() - started


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_missing_input_bucket_is_one_line_naming_it(s3_endpoint, capsys):
    code = main(["tag", "--documents", "s3://no-such-bucket-here/documents/*.gz", "--taggers", "char_length"])
    assert code == 2
    line = _one_line(capsys.readouterr().err)
    assert "s3://no-such-bucket-here/documents/" in line and "bucket 'no-such-bucket-here' does not exist" in line


def test_missing_output_bucket_is_found_before_any_work(s3_endpoint, tmp_path, capsys):
    write_docs(f"{tmp_path}/documents/a.jsonl.gz", make_docs(5))
    code = main(["tag", "--documents", f"{tmp_path}/documents/a.jsonl.gz", "--taggers", "char_length",
                 "--destination", "s3://no-such-out-bucket/attrs"])  # fmt: skip
    assert code == 2
    assert "bucket 'no-such-out-bucket' does not exist" in _one_line(capsys.readouterr().err)


def test_unreachable_endpoint_fails_in_seconds_naming_the_object(tmp_path):
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}", "AWS_ACCESS_KEY_ID": "k",
           "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
    args = ["tag", "--documents", "s3://bucket/documents/a.jsonl.gz", "--taggers", "char_length"]
    code, err, seconds = _cli(args, env)
    assert code == 2
    line = _one_line(err)
    assert "s3://bucket/documents/a.jsonl.gz: cannot reach http://127.0.0.1:" in line
    assert seconds < 30  # 3 attempts with backoff; it was 6 x 10 s sleeps times botocore's retries


def test_bad_credentials_are_named(tmp_path):
    port = _free_port()
    exe = shutil.which("moto_server") or os.path.join(os.path.dirname(sys.executable), "moto_server")
    server = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], env={**os.environ,
                              "INITIAL_NO_AUTH_ACTION_COUNT": "0"}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(2)
        env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG1",
               "AWS_SECRET_ACCESS_KEY": "wrong", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
        code, err, _ = _cli(["tag", "--documents", "s3://bucket/documents/a.jsonl.gz", "--taggers", "char_length"], env)
    finally:
        server.terminate()
        server.wait()
    assert code == 2
    line = _one_line(err)
    assert "s3://bucket/documents/a.jsonl.gz" in line and "access denied (" in line and "credentials" in line


def _in_small_filesystem(tmp_path, script: str) -> tuple[int, str]:
    """Run ``script`` (sh) where ``$SMALL`` is a 64 KiB tmpfs, in a private mount namespace."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"]).returncode != 0:
        pytest.skip("no unprivileged mount namespaces here")
    small = tmp_path / "small"
    small.mkdir()
    wrapper = f"mount -t tmpfs -o size=64k tmpfs {small} || exit 99\n{script}"
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", wrapper], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SMALL": str(small)})  # fmt: skip
    if proc.returncode == 99:
        pytest.skip("cannot mount a tmpfs here")
    return proc.returncode, proc.stderr


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_full_or_read_only_destination_is_one_line(tmp_path, fault):
    docs = [{"id": f"d{i}", "text": "word " * (i % 7)} for i in range(3000)]  # ~230 KB of attribute rows
    write_docs(f"{tmp_path}/documents/a.jsonl", docs)
    remount = "mount -o remount,ro $SMALL\n" if fault == "read-only" else ""
    command = f"{sys.executable} -m dolma.cli tag --documents {tmp_path}/documents/a.jsonl --taggers char_length"
    code, err = _in_small_filesystem(tmp_path, f"{remount}{command} --destination $SMALL/out")
    assert code == 2
    line = _one_line(err)
    small = tmp_path / "small" / "out"
    if fault == "full":
        assert f"{small}/a.jsonl: no space left on device" in line
    else:
        assert f"{small}" in line and "read-only file system" in line


def test_debug_adds_the_traceback(s3_endpoint, capsys):
    args = ["tag", "--documents", "s3://no-such-bucket-here/x/*.gz", "--taggers", "char_length"]
    assert main([*args, "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("dolma tag: error: ")


@pytest.mark.parametrize("name", ["a\0b", "..", ".x.tmp-1"])
def test_a_stream_name_that_is_not_a_plain_file_name_is_refused(tmp_path, capsys, name):
    write_docs(f"{tmp_path}/documents/a.jsonl.gz", make_docs(3))
    config = tmp_path / "mix.json"
    stream = {"name": name, "documents": [f"{tmp_path}/documents/*.gz"], "output": {"path": f"{tmp_path}/out"}}
    config.write_text(json.dumps({"streams": [stream]}))
    assert main(["mix", "-c", str(config)]) == 2
    assert "streams[0].name: " in _one_line(capsys.readouterr().err)
    assert not os.path.exists(tmp_path / "out") or not os.listdir(tmp_path / "out")


def _jq_mix(tmp_path, expression: str) -> int:
    write_docs(f"{tmp_path}/documents/a.jsonl.gz", make_docs(4))
    config = tmp_path / "mix.json"
    stream = {"name": "s", "documents": [f"{tmp_path}/documents/*.gz"], "output": {"path": f"{tmp_path}/out"},
              "filter": {"syntax": "jq", "include": [expression]}}  # fmt: skip
    config.write_text(json.dumps({"streams": [stream]}))
    return main(["mix", "-c", str(config)])


@pytest.mark.parametrize("expression", ["error(env.AWS_SECRET_ACCESS_KEY)", "error($ENV.AWS_SECRET_ACCESS_KEY)"])
def test_jq_filters_cannot_read_the_environment(tmp_path, capsys, monkeypatch, expression):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value-123")
    assert _jq_mix(tmp_path, expression) == 2
    err = capsys.readouterr().err
    assert "s3cr3t-value-123" not in err
    line = _one_line(err)
    assert f"{tmp_path}/documents/a.jsonl.gz:1: jq filter {expression!r} failed on document 'd0'" in line


def test_a_jq_runtime_error_names_file_line_and_document(tmp_path, capsys):
    assert _jq_mix(tmp_path, 'if .id == "d2" then .text + 1 else true end') == 2
    line = _one_line(capsys.readouterr().err)
    assert f"{tmp_path}/documents/a.jsonl.gz:3: jq filter" in line and "on document 'd2'" in line


def test_a_jq_filter_that_never_ends_stops_at_its_time_limit(tmp_path, capsys, monkeypatch):
    from dolma.mixers import filters

    monkeypatch.setattr(filters, "JQ_TIME_LIMIT", 0.5)
    started = time.monotonic()
    assert _jq_mix(tmp_path, "repeat(true)") == 2
    assert time.monotonic() - started < 30
    assert "exceeded its time limit of 0.5 s on document 'd0'" in _one_line(capsys.readouterr().err)


def test_a_jq_filter_stuck_inside_libjq_ends_the_process(tmp_path):
    write_docs(f"{tmp_path}/documents/a.jsonl.gz", make_docs(2))
    stream = {"name": "s", "documents": [f"{tmp_path}/documents/*.gz"], "output": {"path": f"{tmp_path}/out"},
              "filter": {"syntax": "jq", "include": ["last(range(1e15))"]}}  # fmt: skip
    (tmp_path / "mix.json").write_text(json.dumps({"streams": [stream], "processes": 1}))
    script = "import sys; from mixers import filters; filters.JQ_HARD_LIMIT = 1; from dolma.cli import main; " \
             f"sys.exit(main(['mix', '-c', {str(tmp_path / 'mix.json')!r}]))"  # fmt: skip
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -14  # SIGALRM
    assert time.monotonic() - started < 60
    assert not list(tmp_path.glob("out/*.gz"))
