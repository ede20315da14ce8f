"""Threshold preview: what a mix config would drop and edit, estimated on a seeded sample before running it.

``dolma mix --preview`` (or ``dolma stat --mix config.yaml``) runs one task per input file, like the mix,
through the mixer's own evaluation (:class:`DocumentFilter`, :class:`SpanRule`, :func:`apply_replacements`,
the same attribute rows merged the same way), on the documents whose seeded id hash falls in the sample. Each
document is attributed to the first rule that drops it, in the order the mix applies them, so the estimates
compare with the manifest's ``dropped`` counts; each exclude rule's share alone (as if it were the only rule)
is reported too. Counts of the whole input (documents, bytes) are exact; the rest is scaled from the sample.

Warnings: a rule that keeps nothing or drops every sampled document it sees, a comparison between values of
different kinds met in the sample (``[0][2]`` forgotten, a number against a string).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
from dolma.mixers.checks import comparison_mistake
from dolma.mixers.filters import DocumentFilter, compile_path
from dolma.mixers.mixing import StreamSpec, _lines
from dolma.mixers.spans import SpanRule, apply_replacements

from dolma import io
from dolma.executors import Executor, ProgressCounter, Report, TaskResult
from dolma.hashing import unit_hash
from dolma.stats import Sketch
from dolma.tokenizer import word_count

SAMPLE_BYTES = 64_000_000
"""Without a given rate, the sample is about this many bytes of input (all of a smaller corpus)."""
CHECKED_DOCUMENTS = 1000
"""Sampled documents per task on which comparisons are checked for mismatched kinds."""


class _IdOnly(msgspec.Struct):
    id: str


class _Row(msgspec.Struct):
    id: str
    attributes: dict[str, Any]


_ids = msgspec.json.Decoder(_IdOnly)
_rows = msgspec.json.Decoder(_Row)


@dataclass
class StreamPreview:
    """Mergeable counts of one stream: exact totals, and the sample's fate rule by rule."""

    documents: int = 0
    bytes: int = 0
    sampled: int = 0
    sampled_bytes: int = 0
    sampled_tokens: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    """Sampled documents dropped by each rule, first dropping rule only (as the manifest counts them)."""
    alone: dict[str, int] = field(default_factory=dict)
    """Sampled documents each exclude expression would drop were it the only rule."""
    edited: dict[str, int] = field(default_factory=dict)
    """Sampled documents (passing the filter) in which each span rule replaces text."""
    kept: int = 0
    kept_bytes: int = 0
    kept_tokens: int = 0
    """Sampled documents surviving the filter, span edits and min_text_length, with output size and tokens."""
    scores: Sketch = field(default_factory=Sketch)
    no_score: int = 0
    mistakes: list[str] = field(default_factory=list)

    def merge(self, other: StreamPreview) -> None:
        for name in ("documents", "bytes", "sampled", "sampled_bytes", "sampled_tokens", "kept", "kept_bytes",
                     "kept_tokens", "no_score"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in ((self.dropped, other.dropped), (self.alone, other.alone), (self.edited, other.edited)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        self.scores.merge(other.scores)
        self.mistakes.extend(m for m in other.mistakes if m not in self.mistakes)


@dataclass(frozen=True)
class PreviewTask:
    stream: StreamSpec
    stream_index: int
    document_path: str
    attribute_paths: tuple[str, ...]
    rate: float
    seed: int

    @property
    def label(self) -> str:
        return self.document_path

    def outputs(self) -> list[str]:
        return []

    def run(self, report: Report) -> TaskResult:
        spec = self.stream
        doc_filter = DocumentFilter(list(spec.include), list(spec.exclude), spec.syntax, spec.compat)
        span_rules = [SpanRule.compile(*entry) for entry in spec.spans]
        top_path = compile_path(spec.top_score) if spec.top_score else None
        names = [(f"filter.exclude[{i}]", e) for i, e in enumerate(doc_filter.exclude)]
        comparisons = [c for e in doc_filter.expressions for c in e.comparisons]
        out = StreamPreview()
        checked: list[Any] = []
        readers = [(path, _lines(path)) for path in self.attribute_paths]
        progress = ProgressCounter(report)
        for _lineno, line in _lines(self.document_path):
            nbytes = len(line) + 1
            out.documents += 1
            out.bytes += nbytes
            progress.add(nbytes)
            try:
                doc_id = _ids.decode(line).id
            except (msgspec.DecodeError, msgspec.ValidationError):
                doc_id = None  # the mix reports bad lines; the preview leaves them out of the sample
            sampled = doc_id is not None and (self.rate >= 1 or unit_hash(doc_id, self.seed) < self.rate)
            rows = [(path, next(reader, None)) for path, reader in readers]
            if not sampled:
                continue
            doc = msgspec.json.decode(line)
            if type(doc) is not dict or type(doc.get("text")) is not str:
                continue
            existing = doc.get("attributes")
            attributes: dict[str, Any] = existing if type(existing) is dict else {}
            for _path, row in rows:
                if row is not None:
                    decoded = _rows.decode(row[1])
                    if decoded.id == doc_id:
                        attributes.update(decoded.attributes)
            doc["attributes"] = attributes
            if comparisons and len(checked) < CHECKED_DOCUMENTS:
                checked.append(doc)
            self._evaluate(doc, nbytes, doc_filter, names, span_rules, top_path, out)
        for comparison in comparisons:
            mistake = comparison_mistake(comparison, checked)
            if mistake:
                out.mistakes.append(f"{spec.key}: {mistake}")
        progress.flush()
        return TaskResult(counters={"files": 1, "documents": out.documents, "bytes": out.bytes}, payload=out)

    def _evaluate(
        self,
        doc: dict[str, Any],
        nbytes: int,
        doc_filter: DocumentFilter,
        names: list[tuple[str, Any]],
        span_rules: list[SpanRule],
        top_path: Any,
        out: StreamPreview,
    ) -> None:
        text = doc["text"]
        tokens = word_count(text)
        out.sampled += 1
        out.sampled_bytes += nbytes
        out.sampled_tokens += tokens
        for name, expr in names:
            if expr.matches_any(doc):
                out.alone[name] = out.alone.get(name, 0) + 1
        rule = doc_filter.rule(doc) if doc_filter.expressions else None
        if rule is not None:
            out.dropped[rule] = out.dropped.get(rule, 0) + 1
            return
        found = []
        for i, span_rule in enumerate(span_rules):
            replacements = span_rule.find(doc)
            if replacements and apply_replacements(text, replacements) != text:
                out.edited[f"span_replacement[{i}]"] = out.edited.get(f"span_replacement[{i}]", 0) + 1
            found.extend(replacements)
        edited = apply_replacements(text, found) if found else text
        size = len(edited.encode("utf-8"))
        if self.stream.min_text_length and size < self.stream.min_text_length:
            out.dropped["output.min_text_length"] = out.dropped.get("output.min_text_length", 0) + 1
            return
        if top_path is not None:
            score = next((float(n) for n in top_path.select(doc) if type(n) in (int, float)), None)
            if score is None:
                out.no_score += 1
            else:
                out.scores.add(score)
        out.kept += 1
        out.kept_bytes += nbytes - len(text.encode("utf-8")) + size
        out.kept_tokens += word_count(edited) if edited is not text else tokens


def plan_preview(plans: list[Any], rate: float, seed: int) -> list[PreviewTask]:
    """One task per input file of every stream (``plans`` from :func:`mixers.plan.build`)."""
    return [
        PreviewTask(plan.spec, plan.index, path, attrs, rate, seed)
        for plan in plans
        for path, attrs in zip(plan.inputs, plan.attribute_paths, strict=True)
    ]


def _pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else 0.0


def summarise(plans: list[Any], tasks: list[PreviewTask], results: list[Any], rate: float, seed: int) -> dict:
    """The preview report: per stream, per rule (in the order the mix applies them), the estimated share and
    number of documents dropped or edited, and the expected output; with warnings."""
    merged: dict[int, StreamPreview] = {plan.index: StreamPreview() for plan in plans}
    for task, result in zip(tasks, results, strict=True):
        if result is not None:
            merged[task.stream_index].merge(result.payload)
    streams = []
    for plan in plans:
        streams.append(_stream_report(plan, merged[plan.index]))
    return {"sample": {"rate": rate, "seed": seed}, "streams": streams}


def _stream_report(plan: Any, p: StreamPreview) -> dict[str, Any]:
    cfg = plan.config
    scale = p.documents / p.sampled if p.sampled else 0.0
    rules: list[dict[str, Any]] = []
    warnings = list(p.mistakes)
    reached = p.sampled

    def add(rule: str, dropped: float, alone: float | None = None) -> None:
        nonlocal reached
        row = {"rule": rule, "dropped_pct": round(_pct(dropped, p.sampled), 3),
               "dropped_documents": round(dropped * scale)}  # fmt: skip
        if alone is not None:
            row["alone_pct"] = round(_pct(alone, p.sampled), 3)
        rules.append(row)
        if reached and dropped >= reached:
            warnings.append(f"{cfg.name}: {rule} drops every sampled document that reaches it ({reached:,})")
        reached -= int(dropped)

    order = ["filter.include", *(f"filter.exclude[{i}]" for i in range(len(plan.spec.exclude)))]
    for rule in order:
        if rule == "filter.include" and not plan.spec.include:
            continue
        add(rule, p.dropped.get(rule, 0), p.alone.get(rule))
    if plan.spec.min_text_length:
        add("output.min_text_length", p.dropped.get("output.min_text_length", 0))
    kept, kept_bytes, kept_tokens = float(p.kept), float(p.kept_bytes), float(p.kept_tokens)
    threshold = None
    if cfg.top_fraction is not None:
        scored = p.scores.count
        threshold = p.scores.quantile(1 - cfg.top_fraction.fraction) if scored else None
        share = p.scores.fraction_below(threshold) if threshold is not None else 0.0
        dropped = p.no_score + scored * share
        add("top_fraction", dropped)
        ratio = (kept - dropped) / kept if kept else 0.0
        kept, kept_bytes, kept_tokens = kept - dropped, kept_bytes * ratio, kept_tokens * ratio
    copies = 1.0
    if cfg.sample_rate is not None:
        copies = cfg.sample_rate
        if copies < 1:
            add("sample", kept * (1 - copies))
    elif cfg.target_documents is not None and kept:
        copies = cfg.target_documents / (kept * scale)
    elif cfg.target_tokens is not None and kept_tokens:
        copies = cfg.target_tokens / (kept_tokens * scale)
    if p.sampled and kept <= 0:
        warnings.append(f"{cfg.name}: keeps no sampled document ({p.sampled:,} sampled)")
    for i in range(len(plan.spec.spans)):
        edited = p.edited.get(f"span_replacement[{i}]", 0)
        rules.append({"rule": f"span_replacement[{i}]", "edited_pct": round(_pct(edited, p.sampled), 3),
                      "edited_documents": round(edited * scale)})  # fmt: skip
    return {
        "name": cfg.name,
        "documents": p.documents,
        "bytes": p.bytes,
        "sampled_documents": p.sampled,
        "tokens": round(p.sampled_tokens * scale),
        "rules": rules,
        "top_fraction_threshold": threshold,
        "expected": {
            "documents": round(kept * scale * copies),
            "bytes": round(kept_bytes * scale * copies),
            "tokens": round(kept_tokens * scale * copies),
            "kept_pct": round(_pct(kept * min(copies, 1.0), p.sampled), 3),
        },
        "warnings": warnings,
    }


def render(preview: dict[str, Any]) -> list[str]:
    """The terminal table: one block per stream, one line per rule."""
    sample = preview["sample"]
    lines = [f"dolma mix --preview: estimated on a {sample['rate']:.4g} sample (seeded id hash, seed {sample['seed']})"]
    for s in preview["streams"]:
        lines.append(
            f"  {s['name']}: {s['documents']:,} documents ({s['bytes'] / 1e6:,.1f} MB, ~{s['tokens']:,} tokens), "
            f"{s['sampled_documents']:,} sampled"
        )
        for row in s["rules"]:
            if "dropped_pct" in row:
                alone = f"  (alone: {row['alone_pct']:.2f}%)" if "alone_pct" in row else ""
                lines.append(
                    f"    {row['rule']:<28} drops {row['dropped_pct']:6.2f}%  ~{row['dropped_documents']:,} docs{alone}"
                )
            else:
                lines.append(
                    f"    {row['rule']:<28} edits {row['edited_pct']:6.2f}%  ~{row['edited_documents']:,} docs"
                )
        e = s["expected"]
        lines.append(
            f"    expected output: ~{e['documents']:,} documents, ~{e['bytes'] / 1e6:,.1f} MB, ~{e['tokens']:,} tokens"
        )
        lines.extend(f"  WARNING: {w}" for w in s["warnings"])
    return lines


def default_rate(plans: list[Any]) -> float:
    """About ``SAMPLE_BYTES`` of the input, from the files' sizes (no reading)."""
    total = sum(io.size(path) for plan in plans for path in plan.inputs)
    return 1.0 if total <= SAMPLE_BYTES else round(SAMPLE_BYTES / total, 6)


def run_preview(plans: list[Any], rate: float | None, seed: int, executor: Executor) -> dict[str, Any]:
    """Plan, run (on the executor, one task per input file) and summarise the preview of a planned mix."""
    chosen = default_rate(plans) if rate is None else rate
    tasks = plan_preview(plans, chosen, seed)
    summary = executor.run(tasks, desc="mix: preview")
    return summarise(plans, tasks, summary.results, chosen, seed)
