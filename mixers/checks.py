"""Mistakes in mix configs that parse but cannot do what was meant, caught before the run or shouted after it.

Each is a natural slip with a silent outcome in allenai/dolma (and here, before these checks): a filter that
forgets ``[0][2]`` compares a list of spans with a number, so it is false for every document; a number
compared with a string is false too; a ``top_fraction`` score path that selects a list finds no score and
drops every document. They are looked for in the first rows of each stream's inputs; after the run, a rule
that dropped everything it saw, or a stream that kept nothing, is a warning in the summary. (A changed config
rerun into the output directory of another is refused by :func:`mixers.run.check_replacing`.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
from dolma.mixers.filters import MISSING, Comparison, Expression, Path, make_getter

from dolma import io
from dolma.errors import ConfigError

PROBE_DOCUMENTS = 200
"""Documents (with their attribute rows) read from each stream's first input to check its expressions."""


def first_lines(path: str, limit: int) -> list[bytes]:
    """The first ``limit`` non-blank lines of a (possibly compressed) JSONL file."""
    rows: list[bytes] = []
    for block in io.iter_line_blocks(path):
        rows.extend(line for line in block.split(b"\n") if line.strip())
        if len(rows) >= limit:
            break
    return rows[:limit]


def probe_documents(document_path: str, attribute_paths: tuple[str, ...], limit: int = PROBE_DOCUMENTS) -> list[Any]:
    """The first documents of a file with their attribute rows merged in, as the mix task merges them.
    Lines that do not decode are left to the run, which reports them with their line number."""
    docs = []
    columns = [first_lines(path, limit) for path in attribute_paths]
    for i, line in enumerate(first_lines(document_path, limit)):
        try:
            doc = msgspec.json.decode(line)
        except msgspec.DecodeError:
            continue
        if not isinstance(doc, dict):
            continue
        merged: dict[str, Any] = dict(doc["attributes"]) if isinstance(doc.get("attributes"), dict) else {}
        for rows in columns:
            if i < len(rows):
                try:
                    row = msgspec.json.decode(rows[i])
                except msgspec.DecodeError:
                    continue
                if isinstance(row, dict) and isinstance(row.get("attributes"), dict):
                    merged.update(row["attributes"])
        doc["attributes"] = merged
        docs.append(doc)
    return docs


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "boolean"
    if type(value) in (int, float):
        return "number"
    if type(value) is str:
        return "string"
    if type(value) is list:
        return "list"
    return "object"


def _path_text(comparison: Comparison) -> str:
    text = comparison.relative_to
    for step in comparison.steps:
        text += f"[{step}]" if type(step) is int else f".{step}"
    return text


def _compared_values(comparison: Comparison, doc: Any) -> Iterator[Any]:
    """The values the comparison's path meets in ``doc`` (the filter tests each element of a list node)."""
    if comparison.context is None:
        return
    node = make_getter(comparison.context)(doc)
    if node is MISSING:
        return
    nodes = node if type(node) is list and comparison.relative_to == "@" else [node]
    get = make_getter(comparison.steps)
    for item in nodes:
        value = get(item)
        if value is not MISSING:
            yield value


def comparison_mistake(comparison: Comparison, docs: list[Any]) -> str | None:
    """Why the comparison is false for these documents whatever the data, or None: it compares a number
    or a string with a value of another kind (a list of spans, most often: ``[0][2]`` forgotten)."""
    want = _kind(comparison.constant)
    if want not in ("number", "string"):
        return None
    for doc in docs:
        for value in _compared_values(comparison, doc):
            found = _kind(value)
            if found == want:
                return None
            path, shown = _path_text(comparison), msgspec.json.encode(value).decode()[:60]
            constant = msgspec.json.encode(comparison.constant).decode()
            message = (
                f"`{path} {comparison.operator} {constant}` compares a {found} ({shown}) with a {want}, "
                "which is false for every document"
            )
            if found == "list" and want == "number":
                return message + f"; attributes are lists of [start, end, score] spans: write `{path}[0][2]`"
            return message + f"; compare with a {found} or fix the path"
    return None


def check_expressions(expressions: list[tuple[str, Any]], docs: list[Any], source: str) -> None:
    """Refuse an include/exclude expression with a comparison that cannot be true (see
    :func:`comparison_mistake`); ``expressions`` are ``(config key, Expression or Path)``."""
    for where, expr in expressions:
        if not isinstance(expr, (Expression, Path)):
            continue
        for comparison in expr.comparisons:
            mistake = comparison_mistake(comparison, docs)
            if mistake:
                raise ConfigError(f"{where}: {mistake} (seen in the first rows of {source})")


def check_score_path(where: str, path: Path, docs: list[Any], source: str) -> None:
    """A ``top_fraction`` score path must select a number; a list (``[0][2]`` forgotten) or a string would
    leave every document without a score, and the stream would keep none."""
    found: list[Any] = []
    for doc in docs:
        for node in path.select(doc):
            if type(node) in (int, float):
                return
            found.append(node)
    if found:
        shown = msgspec.json.encode(found[0]).decode()[:60]
        hint = "; attributes are lists of [start, end, score] spans: end the path with [0][2]"
        raise ConfigError(
            f"{where}: selects a {_kind(found[0])} ({shown}), not a number, in the first rows of {source}; "
            "every document would be dropped" + (hint if type(found[0]) is list else "")
        )


def _rule_order(rule: str) -> tuple[int, int]:
    """The order in which the mix task applies its rules (each sees only what the previous ones left)."""
    if rule.startswith("filter.exclude["):
        return (1, int(rule[len("filter.exclude[") : -1]))
    order = {"filter.include": 0, "output.min_text_length": 2, "top_fraction": 3, "sample": 4}
    return (order.get(rule, 5), 0)


def mix_warnings(entries: list[dict[str, Any]]) -> list[str]:
    """Loud lines for the summary: a stream that kept no document, a rule that dropped every document that
    reached it (the rule is probably wrong: a path, a type or a threshold)."""
    out = []
    for entry in entries:
        counts = entry["counts"]
        reached = counts["in"]["documents"]
        if reached and counts["kept"]["documents"] == 0:
            out.append(f"WARNING: stream {entry['name']} kept 0 of {reached:,} documents")
        for rule, row in sorted(counts["dropped"].items(), key=lambda item: _rule_order(item[0])):
            if reached and row["documents"] == reached:
                out.append(f"WARNING: {entry['name']}: {rule} dropped every document that reached it ({reached:,})")
            reached -= row["documents"]
    return out
