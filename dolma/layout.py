"""Where things go: the one place that derives attribute paths from document paths.

<prefix>/documents/<sub/dirs>/<shard>.jsonl.gz
<prefix>/attributes/<experiment>/<sub/dirs>/<shard>.jsonl.gz
"""

from __future__ import annotations

from dolma import io
from dolma.errors import ConfigError

DOCUMENTS = "documents"


def split_documents_path(document_path: str, document_dir: str = DOCUMENTS) -> tuple[str, str]:
    """``(prefix, relative)`` around the first ``/documents/`` component of a document path (or another
    directory name: allenai/dolma's ``dedupe.document_dir``)."""
    marker = f"/{document_dir}/"
    cut = ("/" + document_path).find(marker) - 1
    if cut < -1:
        raise ConfigError(
            f"{document_path}: document paths must contain a '{document_dir}/' directory "
            f"(<prefix>/{document_dir}/...) so attributes can be placed beside them; or set `destination`"
        )
    if cut == -1:  # a relative path that starts with documents/
        return ".", document_path[len(marker) - 1 :]
    return document_path[:cut], document_path[cut + len(marker) :]


def check_name(value: str, key: str) -> str:
    """A name that becomes one path component (an experiment, a dedupe name, a stream): refused if it would
    leave its directory (``..``, a ``/``), be hidden (a leading dot: globs skip hidden files, so its shards
    would vanish from later runs) or hold a character no file system or S3 tool takes (NUL, newline)."""
    bad = next((c for c in value if c in "/\\\0\n\r"), None)
    if not value or bad is not None or value.startswith("."):
        why = "is empty" if not value else f"contains {bad!r}" if bad is not None else "starts with a dot"
        raise ConfigError(
            f"{key}: {value!r} {why}; it names a directory or file, so use letters, digits, '-', '_' (no '/', "
            "'..' or leading '.')"
        )
    return value


def attribute_root(document_path: str, experiment: str, document_dir: str = DOCUMENTS) -> str:
    """``<prefix>/attributes/<experiment>``: the directory an experiment's attribute files go under."""
    prefix, _ = split_documents_path(document_path, document_dir)
    return f"{prefix}/attributes/{check_name(experiment, 'experiment')}"


def attribute_path(document_path: str, experiment: str, document_dir: str = DOCUMENTS) -> str:
    _, relative = split_documents_path(document_path, document_dir)
    return f"{attribute_root(document_path, experiment, document_dir)}/{relative}"


def destination_path(document_path: str, pattern: str, destination: str) -> str:
    """The output for ``document_path`` matched by glob ``pattern``, mirrored below ``destination``."""
    base = io.static_prefix(pattern)
    if base == pattern:  # a single file or a directory named without wildcards
        base = pattern if not io.compression_of(pattern) and not pattern.endswith((".jsonl", ".json")) else ""
        base = base.rstrip("/") + "/" if base else document_path[: document_path.rfind("/") + 1]
    return io.join(destination, document_path[len(base) :])
