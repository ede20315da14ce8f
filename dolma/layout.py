"""Where things go: the one place that derives attribute paths from document paths.

<prefix>/documents/<sub/dirs>/<shard>.jsonl.gz
<prefix>/attributes/<experiment>/<sub/dirs>/<shard>.jsonl.gz
"""

from __future__ import annotations

from dolma import io
from dolma.errors import ConfigError

DOCUMENTS = "/documents/"


def split_documents_path(document_path: str) -> tuple[str, str]:
    """``(prefix, relative)`` around the first ``/documents/`` component of a document path."""
    cut = ("/" + document_path).find(DOCUMENTS) - 1
    if cut < -1:
        raise ConfigError(
            f"{document_path}: document paths must contain a 'documents/' directory "
            "(<prefix>/documents/...) so attributes can be placed beside them; or set `destination`"
        )
    if cut == -1:  # a relative path that starts with documents/
        return ".", document_path[len(DOCUMENTS) - 1 :]
    return document_path[:cut], document_path[cut + len(DOCUMENTS) :]


def attribute_path(document_path: str, experiment: str) -> str:
    prefix, relative = split_documents_path(document_path)
    return f"{prefix}/attributes/{experiment}/{relative}"


def destination_path(document_path: str, pattern: str, destination: str) -> str:
    """The output for ``document_path`` matched by glob ``pattern``, mirrored below ``destination``."""
    base = io.static_prefix(pattern)
    if base == pattern:  # a single file or a directory named without wildcards
        base = pattern if not io.compression_of(pattern) and not pattern.endswith((".jsonl", ".json")) else ""
        base = base.rstrip("/") + "/" if base else document_path[: document_path.rfind("/") + 1]
    return io.join(destination, document_path[len(base) :])
