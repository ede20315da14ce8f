"""A reproducible random number per document, for sampling by threshold in the mixer."""

from __future__ import annotations

from dolma import Document, Span, Tagger, TaggerParams, document_span, tagger
from dolma.hashing import unit_hash


@tagger("random_number")
class RandomNumber(Tagger):
    """Uniform [0, 1) number seeded from the document id and a seed (reproducible across runs and workers)."""

    attributes = ("random",)

    class Params(TaggerParams):
        seed: int = 0

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        return {"random": document_span(doc.text, unit_hash(doc.id, self.params.seed))}
