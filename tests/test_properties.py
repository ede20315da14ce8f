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


# ------------------------------------------------------------------------------------------ whole mix runs

MIX_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
valid_docs = st.fixed_dictionaries({"id": st.text(min_size=1, max_size=6), "text": texts.filter(str.strip)})
bad_lines = st.sampled_from(
    [b"{not json", b"[1, 2]", b'{"id": 7, "text": "x"}', b'{"id": "a", "text": null}', b"\xff\xfe"]
)
scores = st.one_of(st.none(), st.floats(0, 1))  # None: the attribute row leaves the key out (dolma's sparse rows)


def _mix_run(root: str, streams: list[dict[str, Any]], *args: str) -> tuple[int, dict[str, Any]]:
    from dolma.cli import main

    path = os.path.join(root, "mix.yaml")
    with open(path, "w") as fh:
        json.dump({"streams": streams, "seed": 3}, fh)
    code = main(["mix", "-c", path, "--processes", "1", "--quiet", *args])
    manifest = json.loads(io.read_bytes(f"{root}/out.manifest.json")) if code == 0 else {}
    return code, manifest


def _written(root: str) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(io.glob(f"{root}/out/*.jsonl.gz")):
        rows.extend(json.loads(line) for line in io.read_bytes(path).splitlines())
    return rows


def _reconciles(entry: dict[str, Any]) -> None:
    counts = entry["counts"]
    for field in ("documents", "tokens", "bytes"):
        dropped = sum(row[field] for row in counts["dropped"].values())
        assert counts["in"][field] == counts["kept"][field] + dropped, field


@MIX_SETTINGS
@given(
    shards=st.lists(st.lists(st.one_of(valid_docs, bad_lines), min_size=1, max_size=12), min_size=1, max_size=3),
    rate=st.floats(0.05, 1.0),
)
def test_a_mix_over_shards_with_bad_lines_accounts_for_every_line(shards, rate):
    """documents in = kept + dropped, lines = documents in + skipped, and the output holds exactly the kept."""
    root = tempfile.mkdtemp(prefix="mixprop-")
    for s, lines in enumerate(shards):
        body = b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines)
        io.write_bytes(f"{root}/documents/{s}.jsonl.gz", body)
    stream = {"name": "s", "documents": [f"{root}/documents/*.jsonl.gz"], "output": {"path": f"{root}/out"}}
    code, manifest = _mix_run(root, [{**stream, "sample_rate": rate}], "--skip-bad-lines")
    assert code == 0
    (entry,) = manifest["streams"]
    _reconciles(entry)
    total = sum(len(lines) for lines in shards)
    planted = sum(isinstance(line, bytes) for lines in shards for line in lines)
    assert entry["counts"]["in"]["documents"] + entry["bad_lines"] == total
    assert entry["bad_lines"] == planted
    written = _written(root)
    assert len(written) == entry["counts"]["kept"]["documents"] == entry["counts"]["written"]["documents"]
    valid = [(line["id"], line["text"]) for lines in shards for line in lines if not isinstance(line, bytes)]
    assert all((row["id"], row["text"]) in valid for row in written)


@MIX_SETTINGS
@given(
    shards=st.lists(st.lists(st.tuples(valid_docs, scores), min_size=1, max_size=12), min_size=1, max_size=3),
    threshold=st.floats(0, 1),
)
def test_a_filter_over_sparse_attributes_keeps_exactly_what_it_selects(shards, threshold):
    """An include filter over a key some rows leave out keeps exactly the documents with the key and a score at
    or above the threshold (an absent key is no match, as in dolma), and the counts reconcile."""
    root = tempfile.mkdtemp(prefix="mixprop-")
    expected = []
    for s, rows in enumerate(shards):
        docs = [{**doc, "id": f"{s}-{i}-{doc['id']}"} for i, (doc, _) in enumerate(rows)]
        attributes = [
            {"id": doc["id"], "attributes": {} if score is None else {"exp__score": [[0, len(doc["text"]), score]]}}
            for doc, (_, score) in zip(docs, rows, strict=True)
        ]
        io.write_bytes(f"{root}/documents/{s}.jsonl.gz", b"".join(json.dumps(d).encode() + b"\n" for d in docs))
        io.write_bytes(
            f"{root}/attributes/exp/{s}.jsonl.gz", b"".join(json.dumps(a).encode() + b"\n" for a in attributes)
        )
        expected += [
            doc["id"] for doc, (_, score) in zip(docs, rows, strict=True) if score is not None and score >= threshold
        ]
    stream = {
        "name": "s",
        "documents": [f"{root}/documents/*.jsonl.gz"],
        "attributes": ["exp"],
        "filter": {"include": [f"$.attributes[?(@.exp__score[0][2] >= {threshold!r})]"]},
        "output": {"path": f"{root}/out"},
    }
    code, manifest = _mix_run(root, [stream])
    held = [[score is not None for _, score in rows] for rows in shards]
    if any(all(file) for file in held) and any(not any(file) for file in held):
        # a file where no row holds a key that every row of a sibling holds is refused as stale (issue 11);
        # with dolma's sparse rows a small file can look so: the rule is documented in docs/mixer.md
        assert code == 2
        return
    assert code == 0
    (entry,) = manifest["streams"]
    _reconciles(entry)
    assert sorted(row["id"] for row in _written(root)) == sorted(expected)
