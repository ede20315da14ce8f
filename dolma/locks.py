"""Run locks: one run at a time per destination (and per Bloom filter), locally and on S3.

Two runs writing the same outputs interleave silently: both exit 0 while one's Bloom filter overwrites the
other's, or one sweeps temporary files the other is still writing. A run therefore takes a lock on each
destination before any work, and a second run stops at once with a one-line error naming the holder.

- Local: ``flock`` on a hidden file in the destination. The kernel drops the lock when its process dies,
  however it dies, so a killed run never leaves a lock that blocks the next; the file holds the holder's
  description only to name it in the error, and is removed when the run ends (a killed run's, by the next).
- S3 has no locks, so the lock is an object created with a conditional write (``If-None-Match: *``: only one
  creator wins). Its holder rewrites a heartbeat into it; a lock whose holder is a dead process of this host,
  or whose heartbeat is older than ``STALE_AFTER``, is taken over with a write conditional on its ETag, so of
  two runs taking over the same stale lock exactly one wins.

Usage: ``with locks.hold([locks.for_directory(output), locks.for_file(bloom_file)], "dolma dedupe"): ...``.
Taking the lock writes into the destination, so it is also the check that the destination is writable
(a missing bucket, bad credentials, a read-only directory fail here, before any work).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from dolma import io
from dolma.errors import LockError

HEARTBEAT = 30.0
"""Seconds between heartbeats of an S3 lock."""
STALE_AFTER = 300.0
"""An S3 lock whose heartbeat is older than this is a dead run's (ten missed heartbeats)."""


def for_directory(path: str) -> str:
    """The lock of a destination directory (or S3 prefix)."""
    return io.join(path, io.LOCK_SUFFIX)


def for_file(path: str) -> str:
    """The lock of one output file, e.g. a Bloom filter: a hidden file beside it."""
    head, _, name = path.rstrip("/").rpartition("/")
    return f"{head}/.{name}{io.LOCK_SUFFIX}" if head else f".{name}{io.LOCK_SUFFIX}"


def _holder(command: str) -> dict[str, Any]:
    now = time.time()
    return {
        "command": command,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "user": os.environ.get("USER", ""),
        "started": now,
        "heartbeat": now,
        "token": uuid.uuid4().hex,
    }


def _describe(path: str, holder: dict[str, Any] | None) -> str:
    if not holder:
        return f"{path} is locked by another run"
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(holder.get("started", 0))))
    return (
        f"{path} is locked by another run: `{holder.get('command', '?')}`, pid {holder.get('pid', '?')} on "
        f"{holder.get('host', '?')}, started {started}; wait for it to finish, or stop it, then rerun"
    )


@contextmanager
def hold(lock_paths: Sequence[str], command: str) -> Iterator[None]:
    """Hold every lock in ``lock_paths`` for the duration of the block; raise :class:`LockError` naming the
    holder of the first one another run holds (the ones taken so far are released).

    Once a destination is locked, no live run writes there, so what killed runs left in it (temporary files,
    incomplete multipart uploads) is removed, and only that: files with the toolkit's temporary naming."""
    with ExitStack() as stack:
        for path in sorted(set(lock_paths)):
            stack.enter_context(_s3_lock(path, command) if io.is_s3(path) else _local_lock(path, command))
            directory, _, name = path.rpartition("/")
            if name == io.LOCK_SUFFIX:
                io.sweep_leftovers(directory or ".")
            else:  # the lock of one file: .<name>.dolma-lock
                io.sweep_leftovers(directory or ".", only=name[1 : -len(io.LOCK_SUFFIX)])
        yield


# ------------------------------------------------------------------------------------------------- local


@contextmanager
def _local_lock(path: str, command: str) -> Iterator[None]:
    """``flock`` on ``path``; the file is removed on release (so nothing is left in the user's directory), which
    is safe because a run that locked a file since unlinked sees that its path names another inode, and
    starts over."""
    import fcntl

    directory = os.path.dirname(path)
    while True:
        try:
            if directory:
                os.makedirs(directory, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise io.storage_error(exc, path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_local(fd)
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise io.storage_error(exc, path) from None
            raise LockError(_describe(directory or path, holder)) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder before us removed the file it released: lock the new one
    try:
        data = json.dumps(_holder(command)).encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        except OSError as exc:
            raise io.storage_error(exc, path) from None
        try:
            yield
        finally:
            try:
                os.remove(path)  # still holding the lock: see the docstring
            except OSError:
                pass
    finally:
        os.close(fd)  # releases the flock


def _read_local(fd: int) -> dict[str, Any] | None:
    try:
        data = os.pread(fd, 1 << 16, 0)
        value = json.loads(data) if data else None
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


# ---------------------------------------------------------------------------------------------------- S3


def _is_stale(holder: dict[str, Any], now: float) -> bool:
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
        if not _pid_alive(holder["pid"]):
            return True
    try:
        return now - float(holder.get("heartbeat", 0)) > STALE_AFTER
    except (TypeError, ValueError):
        return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _get(bucket: str, key: str) -> tuple[dict[str, Any], str] | None:
    """The lock object's holder and ETag, or None when there is none."""
    from botocore.exceptions import ClientError

    try:
        response = io.s3_client().get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    try:
        holder = json.loads(response["Body"].read())
    except ValueError:
        holder = {}
    return (holder if isinstance(holder, dict) else {}), str(response["ETag"])


def _put(bucket: str, key: str, holder: dict[str, Any], condition: dict[str, str]) -> str | None:
    """Write the lock object if ``condition`` holds; its new ETag, or None if another run got there first."""
    from botocore.exceptions import ClientError

    try:
        response = io.s3_client().put_object(Bucket=bucket, Key=key, Body=json.dumps(holder).encode(), **condition)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404"):
            return None
        raise
    return str(response["ETag"])


def _acquire_s3(path: str, holder: dict[str, Any]) -> str:
    bucket, key = io.split_s3(path)
    for _ in range(3):
        etag = _put(bucket, key, holder, {"IfNoneMatch": "*"})
        if etag is not None:
            return etag
        found = _get(bucket, key)
        if found is None:
            continue  # released between our write and our read: try again
        current, current_etag = found
        if not _is_stale(current, time.time()):
            raise LockError(_describe(path.rpartition("/")[0], current))
        etag = _put(bucket, key, holder, {"IfMatch": current_etag})  # exactly one taker of a stale lock wins
        if etag is not None:
            return etag
    raise LockError(_describe(path.rpartition("/")[0], (_get(bucket, key) or ({}, ""))[0]))


@contextmanager
def _s3_lock(path: str, command: str) -> Iterator[None]:
    try:
        holder = _holder(command)
        etag = _acquire_s3(path, holder)
    except LockError:
        raise
    except Exception as exc:
        raise io.remote_error(exc, path) from None
    bucket, key = io.split_s3(path)
    state = {"etag": etag}
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT):
            holder["heartbeat"] = time.time()
            try:
                new = _put(bucket, key, holder, {"IfMatch": state["etag"]})
            except Exception:  # noqa: BLE001 - a missed heartbeat is retried; ten in a row make the lock stale
                continue
            if new is None:  # taken over: this run was presumed dead; stop rewriting another run's lock
                return
            state["etag"] = new

    thread = threading.Thread(target=beat, name="dolma-lock-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        try:
            found = _get(bucket, key)
            if found is not None and found[0].get("token") == holder["token"]:
                io.s3_client().delete_object(Bucket=bucket, Key=key)
        except Exception:  # noqa: BLE001 - an unreleased lock goes stale; the run's own error matters more
            pass
