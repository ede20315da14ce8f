"""Shared fixtures: a real S3 API server on loopback (moto's server mode) and a private local Ray."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Start ``moto_server`` on 127.0.0.1 and point boto3/smart_open at it through the AWS environment."""
    port = _free_port()
    exe = shutil.which("moto_server") or os.path.join(os.path.dirname(sys.executable), "moto_server")
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
    from dolma.io import s3_client

    s3_client.cache_clear()
    try:
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        s3_client.cache_clear()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh bucket on the loopback S3 server; returns ``s3://<bucket>``."""
    from dolma.io import s3_client

    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_client().create_bucket(Bucket=name)
    return f"s3://{name}"


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """A private Ray on loopback with two CPUs, stopped after the session's Ray tests."""
    from dolma.executors import ensure_ray

    os.environ.setdefault("RAY_agent_register_timeout_ms", "300000")  # slow starts on a loaded machine
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "300")

    ensure_ray(None, 2)  # the toolkit's own private Ray, loopback only (before anything imports ray)
    import ray

    try:
        yield
    finally:
        ray.shutdown()
