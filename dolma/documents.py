"""Document and attribute rows: msgspec codecs, line-numbered reading with clear errors, span helpers.

A tagger needs only ``id``, ``text``, ``source`` and sometimes ``metadata``; decoding into a narrow struct
(and keeping ``metadata`` as raw JSON until asked for) is what makes reading cost less than writing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from dolma import io
from dolma.errors import InputError

Span = tuple[int, int, float]
"""``(start, end, score)``: Unicode code-point offsets into ``text`` and a number."""

Attributes = dict[str, list[Span]]

_EMPTY = msgspec.Raw(b"")


class DocumentFields(msgspec.Struct):
    """What makes a line a valid document, for every command (see :func:`document_error`): ``id`` and
    ``text`` strings, ``source`` a string or null, ``metadata`` an object or null; other fields are free.

    A reader that needs fewer fields still decodes with this struct (or a subclass), so that ``tag``,
    ``dedupe`` and ``mix`` accept and refuse the same lines: a line ``tag --skip-bad-lines`` skipped and
    ``mix`` kept would misalign the attribute rows."""

    id: str
    text: str
    source: str | None = None
    metadata: msgspec.Raw = _EMPTY

    def __post_init__(self) -> None:
        raw = self.metadata
        if raw and memoryview(raw)[:1] not in (b"{", b"n"):  # msgspec checked it is JSON; null passes
            raise TypeError(f"Expected `object | null`, got `{_json_type(msgspec.json.decode(raw))}` - at `$.metadata`")


class Document(DocumentFields, dict=True):
    """The fields of a document line that taggers read; other fields are ignored on decode.

    ``metadata`` stays raw JSON until :attr:`meta` decodes it, once."""

    @property
    def meta(self) -> dict[str, Any]:
        cached = self.__dict__.get("_meta")
        if cached is None:
            raw = bytes(self.metadata)
            value = msgspec.json.decode(raw) if raw else None
            cached = value if isinstance(value, dict) else {}
            self.__dict__["_meta"] = cached
        return cached


class AttributeRow(msgspec.Struct, omit_defaults=True):
    """One line of an attribute file, aligned with the document line of the same position."""

    id: str
    attributes: dict[str, list[list[float]]]
    source: str | None = None


_MISSING = object()
_JSON_TYPES = {dict: "object", list: "array", str: "str", int: "int", float: "float", bool: "bool"}


def _json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


_OPTIONAL_STR = frozenset([str, type(None)])
_OPTIONAL_DICT = frozenset([dict, type(None)])


def document_error(obj: Any) -> str | None:
    """Why a line decoded as plain JSON is not a document (the rules of :class:`DocumentFields`, worded as
    msgspec words them for the struct readers), or None if it is one. For readers that need every field.
    A valid document is recognised in one expression (the mixer asks for every line); only a bad one is
    walked field by field to say what is wrong."""
    if type(obj) is dict:
        get = obj.get
        if (
            type(get("id")) is str
            and type(get("text")) is str
            and type(get("source")) in _OPTIONAL_STR
            and type(get("metadata")) in _OPTIONAL_DICT
        ):
            return None
    return _document_reason(obj)


def _document_reason(obj: Any) -> str | None:
    if type(obj) is not dict:
        return f"wrong type: Expected `object`, got `{_json_type(obj)}`"
    for name in ("id", "text"):
        value = obj.get(name, _MISSING)
        if value is _MISSING:
            return f"missing required field `{name}`"
        if type(value) is not str:
            return f"wrong type: Expected `str`, got `{_json_type(value)}` - at `$.{name}`"
    source = obj.get("source")
    if source is not None and type(source) is not str:
        return f"wrong type: Expected `str | null`, got `{_json_type(source)}` - at `$.source`"
    metadata = obj.get("metadata")
    if metadata is not None and type(metadata) is not dict:
        return f"wrong type: Expected `object | null`, got `{_json_type(metadata)}` - at `$.metadata`"
    return None


_document_decoder = msgspec.json.Decoder(Document)
_attribute_decoder = msgspec.json.Decoder(AttributeRow)
_encoder = msgspec.json.Encoder()


def encode_line(obj: Any) -> bytes:
    return _encoder.encode(obj) + b"\n"


@dataclass
class BadLines:
    """Lines skipped under ``--skip-bad-lines``: a count and the first few locations with their reason."""

    count: int = 0
    examples: list[str] = field(default_factory=list)
    limit: int = 20

    def add(self, where: str) -> None:
        self.count += 1
        if len(self.examples) < self.limit:
            self.examples.append(where)


def _describe(exc: Exception) -> str:
    msg = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        if msg.startswith("Object missing required field"):
            return msg.replace("Object missing required field", "missing required field")
        return f"wrong type: {msg}"
    return f"invalid JSON: {msg}"


def _lines_of(block: bytes) -> list[Any]:
    """The lines of a block, the empty piece after its final newline included. One long line (a block of its
    own, see ``io.iter_line_blocks``) is decoded in place through a memoryview rather than copied by split:
    a 100 MB document then costs its bytes once, not twice."""
    if len(block) > io.READ_CHUNK and block.find(b"\n") == len(block) - 1 and not block.isspace():
        return [memoryview(block)[:-1], b""]
    return block.split(b"\n")


def iter_decoded(
    path: str,
    decoder: msgspec.json.Decoder[Any],
    bad_lines: BadLines | None = None,
) -> Iterator[tuple[int, Any, int]]:
    """Yield ``(line_number, row, n_bytes)`` for each non-blank line of ``path``.

    A malformed line raises :class:`InputError` as ``path:line: reason``, unless ``bad_lines`` is given, in
    which case it is counted there and skipped."""
    lineno = 0
    for block in io.iter_line_blocks(path):
        for line in _lines_of(block):
            lineno += 1
            if not line or (type(line) is bytes and line.isspace()):  # a long line's memoryview is not blank
                continue
            try:
                row = decoder.decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                where = f"{path}:{lineno}: {_describe(exc)}"
                if bad_lines is None:
                    raise InputError(where) from None
                bad_lines.add(where)
                continue
            yield lineno, row, len(line) + 1
        lineno -= 1  # the block's trailing newline produced an empty final piece


def read_documents(path: str, bad_lines: BadLines | None = None) -> Iterator[tuple[int, Document, int]]:
    return iter_decoded(path, _document_decoder, bad_lines)


def read_attributes(path: str) -> Iterator[tuple[int, AttributeRow, int]]:
    return iter_decoded(path, _attribute_decoder)


def document_span(text: str, score: float) -> list[Span]:
    """A document-level value: one span over the whole text."""
    return [(0, len(text), score)]


def paragraph_bounds(text: str, separator: str = "\n") -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each non-blank paragraph; ``end`` includes the separator so spans tile the text
    the way dolma's paragraph taggers do."""
    start = 0
    size = len(text)
    step = len(separator)
    for piece in text.split(separator):  # one C-level split beats a find() per paragraph
        end = start + len(piece) + step
        if piece and not piece.isspace():
            yield start, min(end, size)
        start = end


def round_score(score: float) -> float:
    return round(float(score), 5)
