"""Reading, listing and atomically writing shards on local disk and ``s3://``.

Compression is chosen by file extension (``.gz``/``.gzip``, ``.zst``/``.zstd``, anything else is plain).
Decompression runs through incremental decompressor objects rather than file wrappers so that a truncated
file is detected precisely (the decompressor never reaches its end-of-frame) and reported with its path.
"""

from __future__ import annotations

import errno
import fnmatch
import functools
import itertools
import os
import re
import shutil
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, Protocol

import zstandard

from dolma.errors import DolmaError, InputError, RemoteError, StorageError

try:  # isal's igzip is 2-3x faster than zlib for both directions; zlib is the fallback.
    from isal import isal_zlib as _gzip_zlib
except ImportError:  # pragma: no cover - isal is a declared dependency
    _gzip_zlib = zlib  # type: ignore[misc]

READ_CHUNK = 4 << 20
S3_BUFFER = 32 << 20
GZIP_LEVEL = 1  # isal level 1 (or zlib level 1): ~10x faster than gzip's default level 9
ZSTD_LEVEL = 3


def is_s3(path: str) -> bool:
    return path.startswith("s3://")


def compression_of(path: str) -> str | None:
    """Return ``"gzip"``, ``"zstd"`` or ``None`` from the path's extension."""
    lowered = path.lower()
    if lowered.endswith((".gz", ".gzip")):
        return "gzip"
    if lowered.endswith((".zst", ".zstd")):
        return "zstd"
    return None


def split_s3(path: str) -> tuple[str, str]:
    bucket, _, key = path[len("s3://") :].partition("/")
    return bucket, key


S3_ATTEMPTS = 3
"""Attempts per S3 request (botocore's and smart_open's retries): an unreachable endpoint or a missing bucket
fails in seconds, not after minutes of retries (botocore 5 x smart_open 6 with 10 s sleeps before).
``AWS_MAX_ATTEMPTS`` in the environment overrides it."""
S3_CONNECT_TIMEOUT = 5


@functools.cache
def s3_client() -> Any:
    """One boto3 client per process; endpoint, region and keys come from the standard AWS environment."""
    import boto3
    from botocore.config import Config

    attempts = int(os.environ.get("AWS_MAX_ATTEMPTS") or S3_ATTEMPTS)
    try:
        import smart_open.s3

        smart_open.s3.RETRY.attempts = 1  # botocore already retried; smart_open would sleep 10 s x 6 on top
    except ImportError:  # pragma: no cover - smart_open[s3] is a declared dependency
        pass
    config = Config(connect_timeout=S3_CONNECT_TIMEOUT, retries={"max_attempts": attempts, "mode": "standard"})
    return boto3.client("s3", config=config)


# ------------------------------------------------------------------------------------------------ errors

STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EFBIG: "file too large",
}


def storage_error(exc: OSError, path: str) -> DolmaError:
    """A local I/O failure as one line naming ``path``."""
    if isinstance(exc, FileNotFoundError):
        return InputError(f"{path}: no such file or directory")
    reason = STORAGE_ERRNOS.get(exc.errno or 0) or exc.strerror or str(exc)
    return StorageError(f"{path}: {reason}")


_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "403"}


def is_remote_failure(exc: BaseException) -> bool:
    """Whether ``exc`` comes from botocore (any S3 request failure)."""
    module = type(exc).__module__ or ""
    return module.startswith(("botocore", "urllib3")) or (isinstance(exc, OSError) and "failed after" in str(exc))


def remote_error(exc: BaseException, path: str) -> DolmaError:
    """An S3 failure as one line naming the object (or bucket) and what to check."""
    if isinstance(exc, DolmaError):
        return exc
    bucket, _ = split_s3(path) if is_s3(path) else ("", "")
    response = getattr(exc, "response", None)
    code = str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
    name = type(exc).__name__
    if code in ("NoSuchBucket",):
        return RemoteError(f"{path}: bucket {bucket!r} does not exist")
    if code in ("NoSuchKey", "404", "NotFound"):
        return InputError(f"{path}: no such object")
    if code in _DENIED:
        return RemoteError(f"{path}: access denied ({code}); check the AWS credentials and the bucket's policy")
    if name == "NoCredentialsError":
        return RemoteError(f"{path}: no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError", "ReadTimeoutError") or (
        "failed after" in str(exc)
    ):
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or "the S3 endpoint"
        return RemoteError(f"{path}: cannot reach {endpoint} ({name})")
    detail = f"{code}: " if code else ""
    message = str(exc).splitlines()[0] if str(exc) else name
    return RemoteError(f"{path}: S3 request failed: {detail}{message}")


def _translated(exc: BaseException, path: str) -> DolmaError | None:
    """The one-line error for a storage or S3 failure while writing ``path``, or None for anything else."""
    if isinstance(exc, OSError) and not is_remote_failure(exc) and exc.errno in STORAGE_ERRNOS:
        return storage_error(exc, path)
    if is_s3(path) and is_remote_failure(exc):
        return remote_error(exc, path)
    return None


def _open_raw(path: str) -> IO[bytes]:
    if is_s3(path):
        import smart_open

        return smart_open.open(  # type: ignore[no-any-return]
            path,
            "rb",
            compression="disable",
            transport_params={"client": s3_client(), "buffer_size": S3_BUFFER},
        )
    return open(path, "rb", buffering=0)


class _Decompressor(Protocol):
    eof: bool
    unused_data: bytes

    def decompress(self, data: bytes) -> bytes: ...


def _new_decompressor(kind: str | None) -> _Decompressor | None:
    if kind == "gzip":
        return _gzip_zlib.decompressobj(wbits=31)  # type: ignore[no-any-return]
    if kind == "zstd":
        return zstandard.ZstdDecompressor().decompressobj()  # type: ignore[return-value]
    return None


def iter_chunks(path: str) -> Iterator[bytes]:
    """Yield the decompressed bytes of ``path`` in chunks; concatenated gzip members and zstd frames are
    followed. A truncated or corrupt file raises :class:`InputError` naming the path."""
    kind = compression_of(path)
    try:
        raw = _open_raw(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise (remote_error(exc, path) if is_s3(path) else storage_error(exc, path)) from None
    except Exception as exc:  # botocore/smart_open raise many types for unreadable objects
        raise remote_error(exc, path) from None
    with raw:
        dec = _new_decompressor(kind)
        pending_frame = False
        empty = True
        while True:
            try:
                data = raw.read(READ_CHUNK)
            except Exception as exc:
                raise InputError(f"{path}: read failed: {exc}") from exc
            if not data:
                if empty and dec is not None:  # a real compressed file, even of no lines, has a header
                    raise InputError(f"{path}: empty file (0 bytes), not a valid {kind} stream; was its write cut?")
                break
            empty = False
            if dec is None:
                yield data
                continue
            while data:
                try:
                    out = dec.decompress(data)
                except Exception as exc:
                    raise InputError(f"{path}: corrupt {kind} data: {exc}") from exc
                if out:
                    yield out
                pending_frame = not dec.eof
                if dec.eof:
                    data = dec.unused_data
                    dec = _new_decompressor(kind)
                    assert dec is not None
                else:
                    data = b""
        if pending_frame:
            raise InputError(f"{path}: truncated {kind} file (compressed stream ends mid-frame)")


BOM = b"\xef\xbb\xbf"


def iter_line_blocks(path: str) -> Iterator[bytes]:
    """Yield blocks of whole lines (each block ends with a newline, except possibly the last). A UTF-8 byte
    order mark at the start of the file (editors on Windows write one) is dropped: it is not part of the JSON.

    A line longer than a chunk is gathered as a list of pieces joined once (appending to one bytes object
    copied it at every chunk: quadratic time, and twice its size in memory) and yielded as a block of its
    own, so that readers can decode it without splitting (another copy)."""
    pieces: list[bytes] = []
    chunks = iter_chunks(path)
    first = next(chunks, b"")
    while len(first) < len(BOM) and BOM.startswith(first):  # a BOM split across chunks
        more = next(chunks, None)
        if more is None:
            break
        first += more
    chunks = itertools.chain([first.removeprefix(BOM)], chunks)
    for chunk in chunks:
        cut = chunk.rfind(b"\n")
        if cut < 0:
            pieces.append(chunk)
            continue
        if len(pieces) > 1:  # a long line: alone, so a reader can decode it in place
            first_end = chunk.find(b"\n") + 1
            pieces.append(chunk[:first_end])
            long_line = b"".join(pieces)
            pieces.clear()
            yield long_line
            del long_line
            if first_end <= cut:
                yield chunk[first_end : cut + 1]
        else:
            yield b"".join([*pieces, chunk[: cut + 1]])
            pieces.clear()
        pieces.append(chunk[cut + 1 :])
    rest = b"".join(pieces)
    if rest:
        yield rest


def read_bytes(path: str) -> bytes:
    return b"".join(iter_chunks(path))


def read_range(path: str, start: int, length: int) -> bytes:
    """``length`` stored bytes of ``path`` from offset ``start`` (no decompression): one ``pread`` locally,
    one ranged GET on S3, so a task reads its slice of a large stage file without fetching the rest. A file
    shorter than the range is an error naming the path."""
    if length <= 0:
        return b""
    try:
        if is_s3(path):
            bucket, key = split_s3(path)
            response = s3_client().get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{start + length - 1}")
            data = response["Body"].read()
        else:
            with open(path, "rb", buffering=0) as fh:
                data = os.pread(fh.fileno(), length, start)
    except OSError as exc:
        if is_s3(path) or is_remote_failure(exc):
            raise remote_error(exc, path) from None
        raise storage_error(exc, path) from None
    except Exception as exc:  # botocore's errors for unreadable objects and ranges
        raise remote_error(exc, path) from None
    if len(data) != length:
        raise InputError(f"{path}: truncated: wanted bytes {start}-{start + length - 1}, file ends before")
    return bytes(data)


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def exists(path: str) -> bool:
    if is_s3(path):
        from botocore.exceptions import ClientError

        bucket, key = split_s3(path)
        try:
            s3_client().head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise remote_error(exc, path) from None
        except Exception as exc:
            raise remote_error(exc, path) from None
        return True
    return os.path.exists(path)


def size(path: str) -> int:
    if is_s3(path):
        bucket, key = split_s3(path)
        try:
            return int(s3_client().head_object(Bucket=bucket, Key=key)["ContentLength"])
        except Exception as exc:
            raise remote_error(exc, path) from None
    try:
        return os.path.getsize(path)
    except OSError as exc:
        raise storage_error(exc, path) from None


def remove(path: str) -> None:
    if is_s3(path):
        bucket, key = split_s3(path)
        try:
            s3_client().delete_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise remote_error(exc, path) from None
    elif os.path.exists(path):
        try:
            os.remove(path)
        except OSError as exc:
            raise storage_error(exc, path) from None


def move(source: str, target: str) -> None:
    """Give a finished file its final name: a rename on disk, a server-side copy then delete on S3 (the
    object appears whole when the copy completes)."""
    if is_s3(source) != is_s3(target):
        raise ValueError(f"cannot move {source} to {target} across storages")
    if is_s3(source):
        bucket, key = split_s3(source)
        target_bucket, target_key = split_s3(target)
        s3_client().copy({"Bucket": bucket, "Key": key}, target_bucket, target_key)
        s3_client().delete_object(Bucket=bucket, Key=key)
        return
    directory = os.path.dirname(target)
    if directory:
        os.makedirs(directory, exist_ok=True)
    os.replace(source, target)


def remove_tree(prefix: str, up_to: str | None = None) -> None:
    """Remove everything under ``prefix`` (a directory, or every S3 key below ``prefix/``); on disk, also the
    directories between it and ``up_to`` (exclusive) that it leaves empty, so a shared work directory
    disappears once the last run using it ends."""
    if is_s3(prefix):
        for path in list(list_files(prefix.rstrip("/") + "/")):
            remove(path)
        return
    shutil.rmtree(prefix, ignore_errors=True)
    if up_to is None:
        return
    stop = os.path.abspath(up_to)
    parent = os.path.dirname(os.path.abspath(prefix))
    while parent.startswith(stop + os.sep) and os.path.isdir(parent) and not os.listdir(parent):
        os.rmdir(parent)
        parent = os.path.dirname(parent)


def join(base: str, *parts: str) -> str:
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


# ----------------------------------------------------------------------------------------------- globbing

_WILDCARDS = re.compile(r"[*?\[]")


def static_prefix(pattern: str) -> str:
    """The part of a glob before its first wildcard, cut back to a directory boundary."""
    match = _WILDCARDS.search(pattern)
    if match is None:
        return pattern
    return pattern[: pattern.rfind("/", 0, match.start()) + 1]


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a glob where ``**`` spans directories and ``*``/``?`` stay within one path component."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append(fnmatch.translate(pattern[i : end + 1])[4:-3])
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _list_local(prefix: str) -> Iterator[str]:
    if os.path.isfile(prefix):
        yield prefix
        return
    for root, _dirs, files in os.walk(prefix or "."):
        for name in files:
            yield os.path.join(root, name)


def list_files(prefix: str) -> Iterator[str]:
    """Every file below ``prefix`` (a directory or key prefix), recursively."""
    if not is_s3(prefix):
        yield from _list_local(prefix)
        return
    bucket, key = split_s3(prefix)
    paginator = s3_client().get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=key):
            for obj in page.get("Contents", []):
                yield f"s3://{bucket}/{obj['Key']}"
    except Exception as exc:
        raise remote_error(exc, prefix) from None


_TEMPORARY = re.compile(r"\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]{8}\Z")
"""How :func:`_temporary_name` names a file being written: ``.<name>.tmp-<pid>-<8 hex digits>``."""
LOCK_SUFFIX = ".dolma-lock"
"""Run locks (see ``dolma.locks``) end with this."""
RECORD_NAME = ".dolma-run.json"
"""The config record of a destination (see ``dolma.provenance``)."""


def _is_temporary(path: str) -> bool:
    """A file of the toolkit's own bookkeeping (a write in progress, a run lock, a config record): never a
    shard, so globs skip it."""
    name = path.rpartition("/")[2]
    return name.startswith(".") and (".tmp-" in name or name.endswith(LOCK_SUFFIX) or name == RECORD_NAME)


def sweep_leftovers(destination: str, only: str | None = None) -> int:
    """Remove what killed runs left under ``destination``: local files with the temporary naming of
    :func:`_temporary_name`, and incomplete S3 multipart uploads (billed until aborted). ``only`` limits it
    to the leftovers of one output file's name. Call it holding the destination's lock: then no live run
    is writing there. Returns how many were removed."""
    removed = 0
    if is_s3(destination):
        bucket, key = split_s3(destination)
        prefix = key.rstrip("/") + "/" if key else ""
        if only is not None:
            prefix += only
        client = s3_client()
        try:
            paginator = client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for upload in page.get("Uploads", []):
                    client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                    removed += 1
        except Exception as exc:
            raise remote_error(exc, destination) from None
        return removed
    if not os.path.isdir(destination):
        return 0
    walk = [(destination, [], os.listdir(destination))] if only is not None else os.walk(destination)
    for root, _dirs, files in walk:
        for name in files:
            match = _TEMPORARY.match(name)
            if match is None or (only is not None and match["name"] != only):
                continue
            try:
                os.remove(os.path.join(root, name))
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise storage_error(exc, os.path.join(root, name)) from None
    return removed


def glob(pattern: str) -> list[str]:
    """Sorted files matching ``pattern`` (local or ``s3://``). A pattern without wildcards names a file or a
    directory; a directory expands to every file below it. Temporary files of unfinished writes are skipped."""
    if _WILDCARDS.search(pattern) is None:
        if is_s3(pattern):
            if exists(pattern):
                return [pattern]
            return sorted(p for p in list_files(pattern.rstrip("/") + "/") if not _is_temporary(p))
        if os.path.isdir(pattern):
            return sorted(p for p in _list_local(pattern) if not _is_temporary(p))
        return [pattern] if os.path.exists(pattern) else []
    regex = _glob_regex(pattern)
    prefix = static_prefix(pattern)
    list_root = prefix if is_s3(prefix) or prefix else "."
    found = []
    for path in list_files(list_root):
        candidate = path[2:] if not prefix and path.startswith("./") else path
        if regex.match(candidate) and not _is_temporary(candidate):
            found.append(candidate)
    return sorted(found)


def expand_globs(patterns: list[str], what: str) -> list[str]:
    """Expand each pattern; a pattern that matches nothing is an error naming it (never a silent no-op)."""
    files: list[str] = []
    for pattern in patterns:
        matched = glob(pattern)
        if not matched:
            raise InputError(f"{what}: pattern {pattern!r} matches no files")
        files.extend(matched)
    return list(dict.fromkeys(files))


# ------------------------------------------------------------------------------------------------ writing


class _Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


def _new_compressor(kind: str | None, level: int | None) -> _Compressor | None:
    if kind == "gzip":
        return _gzip_zlib.compressobj(GZIP_LEVEL if level is None else level, wbits=31)  # type: ignore[no-any-return]
    if kind == "zstd":
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL if level is None else level).compressobj()  # type: ignore[return-value]
    return None


class ShardWriter:
    """A binary sink that compresses by extension and buffers small writes."""

    def __init__(self, raw: IO[bytes], kind: str | None, level: int | None) -> None:
        self._raw = raw
        self._compressor = _new_compressor(kind, level)
        self._buffer: list[bytes] = []
        self._buffered = 0
        self.bytes_written = 0  # uncompressed

    def write(self, data: bytes) -> None:
        self._buffer.append(data)
        self._buffered += len(data)
        self.bytes_written += len(data)
        if self._buffered >= READ_CHUNK:
            self._drain()

    def _drain(self) -> None:
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        if self._compressor is not None:
            data = self._compressor.compress(data)
        if data:
            self._raw.write(data)

    def finish(self) -> None:
        self._drain()
        if self._compressor is not None:
            self._raw.write(self._compressor.flush())


def _temporary_name(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextmanager
def atomic_write_stored(path: str) -> Iterator[IO[bytes]]:
    """Write ``path``'s bytes exactly as given (no compression), so that the file appears under its final
    name only when complete.

    Locally the data goes to a hidden temporary file in the same directory, renamed into place at the end.
    On S3 the object is created by the final PUT or by completing a multipart upload; on error the upload
    is aborted, so no object appears."""
    if is_s3(path):
        import smart_open

        try:
            raw = smart_open.open(
                path,
                "wb",
                compression="disable",
                transport_params={"client": s3_client(), "min_part_size": 64 << 20},
            )
        except Exception as exc:
            raise remote_error(exc, path) from None
        try:
            yield raw
        except BaseException as exc:
            try:
                raw.terminate()  # type: ignore[attr-defined]  # smart_open's S3 writer: abort the upload
            except Exception:  # noqa: BLE001 - the failure that got us here is the one to report
                pass
            translated = _translated(exc, path)
            if translated is not None:
                raise translated from None
            raise
        try:
            raw.close()
        except Exception as exc:
            raise remote_error(exc, path) from None
        return
    tmp = _temporary_name(path)
    try:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(tmp, "wb") as raw_file:
            yield raw_file
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        translated = _translated(exc, path)
        if translated is not None:
            raise translated from None
        raise


@contextmanager
def atomic_write(path: str, level: int | None = None) -> Iterator[ShardWriter]:
    """Like :func:`atomic_write_stored`, compressing by the path's extension."""
    with atomic_write_stored(path) as raw:
        writer = ShardWriter(raw, compression_of(path), level)
        yield writer
        writer.finish()


def iter_stored_chunks(path: str) -> Iterator[bytes]:
    """The bytes of ``path`` as stored (no decompression), e.g. to concatenate compressed shards."""
    try:
        raw = _open_raw(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    with raw:
        while chunk := raw.read(READ_CHUNK):
            yield chunk


def write_bytes(path: str, data: bytes) -> None:
    with atomic_write(path) as out:
        out.write(data)


def write_stored(path: str, data: bytes) -> None:
    with atomic_write_stored(path) as out:
        out.write(data)
