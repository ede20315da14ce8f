"""The tag task: one documents shard in, one attribute shard out, one row per document, in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dolma import io, registry
from dolma.documents import AttributeRow, BadLines, Document, encode_line, read_documents, round_score
from dolma.errors import DolmaError
from dolma.executors import Report, TaskResult

REPORT_EVERY = 5_000


@dataclass(frozen=True)
class TaggerSpec:
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TagTask:
    document_path: str
    attribute_path: str
    experiment: str
    taggers: tuple[TaggerSpec, ...]
    plugins: tuple[registry.Plugin, ...] = ()
    skip_bad_lines: bool = False
    batch_size: int = 256

    @property
    def label(self) -> str:
        return self.document_path

    def outputs(self) -> list[str]:
        return [self.attribute_path]

    def run(self, report: Report) -> TaskResult:
        registry.load_plugins(self.plugins)
        taggers = [(spec.name, registry.instance(spec.name, spec.params)) for spec in self.taggers]
        prefixes = [f"{self.experiment}__{name}__" for name, _ in taggers]
        bad = BadLines() if self.skip_bad_lines else None
        docs = nbytes = unreported_docs = unreported_bytes = 0
        batch: list[Document] = []
        with io.atomic_write(self.attribute_path) as out:

            def flush() -> None:
                results = [tagger.predict_batch(batch) for _, tagger in taggers]
                for (name, _), result in zip(taggers, results, strict=True):
                    if len(result) != len(batch):
                        raise DolmaError(f"tagger {name!r} returned {len(result)} results for {len(batch)} documents")
                for i, doc in enumerate(batch):
                    attributes: dict[str, list[list[float]]] = {}
                    for prefix, per_tagger in zip(prefixes, results, strict=True):
                        for key, spans in per_tagger[i].items():
                            attributes[prefix + key] = [[s, e, round_score(v)] for s, e, v in spans]
                    out.write(encode_line(AttributeRow(id=doc.id, attributes=attributes, source=doc.source)))
                batch.clear()

            for _lineno, doc, size in read_documents(self.document_path, bad):
                batch.append(doc)
                docs += 1
                nbytes += size
                unreported_docs += 1
                unreported_bytes += size
                if len(batch) >= self.batch_size:
                    flush()
                if unreported_docs >= REPORT_EVERY:
                    report(unreported_docs, unreported_bytes)
                    unreported_docs = unreported_bytes = 0
            if batch:
                flush()
        report(unreported_docs, unreported_bytes)
        counters = {"files": 1, "documents": docs, "bytes": nbytes}
        notes: list[str] = []
        if bad is not None and bad.count:
            counters["bad_lines"] = bad.count
            notes = bad.examples
        return TaskResult(counters=counters, notes=notes)
