"""Property-based tests (hypothesis) over the shard readers, the document validator and the config loader.

Every generated case must end in one of two ways: a one-line error naming the file (and line, for a line),
or a run where every line is accounted for (documents in = read + skipped). Any other exception is a bug.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dolma import config, io
from dolma.documents import BadLines, DocumentFields, _describe, document_error, read_documents
from dolma.errors import ConfigError, DolmaError, InputError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
)
texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
documents = st.fixed_dictionaries(
    {"id": st.text(max_size=8), "text": texts},
    optional={"source": st.text(max_size=5), "metadata": st.dictionaries(st.text(max_size=4), json_scalars)},
)


def _temporary(ext: str) -> str:
    directory = tempfile.mkdtemp(prefix="dolma-prop-")
    return os.path.join(directory, f"shard{ext}")


# --------------------------------------------------------------------------------------- the validator

FIELDS = ("id", "text", "source", "metadata")


@SETTINGS
@given(
    base=documents,
    field=st.sampled_from(FIELDS),
    value=json_values,
    drop=st.booleans(),
)
def test_struct_readers_and_plain_json_readers_agree_on_every_line(base, field, value, drop):
    doc = dict(base)
    if drop:
        doc.pop(field, None)
    else:
        doc[field] = value
    line = json.dumps(doc).encode()
    try:
        msgspec.json.decode(line, type=DocumentFields)
        struct_reason = None
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        struct_reason = _describe(exc)
    plain_reason = document_error(msgspec.json.decode(line))
    assert struct_reason == plain_reason


@SETTINGS
@given(value=json_values)
def test_a_line_that_is_not_an_object_is_refused_alike(value):
    line = json.dumps(value).encode()
    try:
        msgspec.json.decode(line, type=DocumentFields)
        struct_ok = True
    except msgspec.ValidationError:
        struct_ok = False
    assert struct_ok == (document_error(msgspec.json.decode(line)) is None)


# ------------------------------------------------------------------------------------ the shard readers

EXTENSIONS = [".jsonl", ".jsonl.gz", ".jsonl.zst"]


def _corrupt(data: bytes, kind: str, at: float, garbage: bytes) -> bytes:
    cut = int(at * len(data))
    if kind == "truncate":
        return data[:cut]
    if kind == "flip":
        return data[:cut] + bytes([data[cut] ^ 0x5A]) + data[cut + 1 :] if cut < len(data) else data
    if kind == "insert":
        return data[:cut] + garbage + data[cut:]
    return data[: cut // 2] + data[cut:]  # "delete" a range


@SETTINGS
@given(
    docs=st.lists(documents, min_size=1, max_size=30),
    ext=st.sampled_from(EXTENSIONS),
    kind=st.sampled_from(["truncate", "flip", "insert", "delete", "none"]),
    at=st.floats(0, 1),
    garbage=st.binary(min_size=1, max_size=12),
    bom=st.booleans(),
)
def test_a_corrupted_shard_ends_in_a_named_error_or_every_line_accounted_for(docs, ext, kind, at, garbage, bom):
    path = _temporary(ext)
    plain = (io.BOM if bom else b"") + b"".join(json.dumps(d).encode() + b"\n" for d in docs)
    io.write_bytes(path, plain)
    with open(path, "rb") as f:
        stored = f.read()
    if kind != "none":
        with open(path, "wb") as f:
            f.write(_corrupt(stored, kind, at, garbage))
    try:
        decoded = io.read_bytes(path)
    except InputError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
        return
    lines = [line for line in decoded.removeprefix(io.BOM).split(b"\n") if line.strip()]
    bad = BadLines()
    read = list(read_documents(path, bad))
    assert len(read) + bad.count == len(lines)  # documents in = read + skipped
    for where in bad.examples:
        assert where.startswith(f"{path}:") and "\n" not in where
    if kind == "none":
        assert [doc.id for _, doc, _ in read] == [d["id"] for d in docs]
    try:
        strict = list(read_documents(path))
    except InputError as exc:
        assert bad.count and str(exc) == bad.examples[0]
    else:
        assert bad.count == 0 and len(strict) == len(read)


# ------------------------------------------------------------------------------------- the config loader


def _command_configs() -> list[type[msgspec.Struct]]:
    from dolma.commands import dedupe, mix, tag

    return [tag.Config, dedupe.Config, mix.Config]


def _keys(cls: Any, prefix: str = "") -> list[str]:
    return [line.split(":")[0].strip() for line in config.describe(cls)]


@pytest.mark.parametrize("cls", _command_configs(), ids=lambda c: c.__module__.rsplit(".", 1)[-1])
@SETTINGS
@given(data=st.data())
def test_random_configs_load_or_fail_with_one_line_naming_a_key(cls, data):
    keys = _keys(cls)
    chosen = data.draw(st.lists(st.sampled_from(keys), max_size=4, unique=True))
    tree: dict[str, Any] = {}
    for key in chosen:
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[parts[-1]] = data.draw(json_values)
    tree.update(data.draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2)))
    try:
        config.build(cls, tree)
    except ConfigError as exc:
        assert "\n" not in str(exc)


@SETTINGS
@given(args=st.lists(st.text(max_size=12), max_size=6))
def test_random_command_lines_load_or_fail_with_one_line(args):
    from dolma.commands import tag

    try:
        config.load(tag.Config, None, args)
    except DolmaError as exc:
        assert "\n" not in str(exc)
