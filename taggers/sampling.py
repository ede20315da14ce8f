"""A reproducible random number per document, for sampling by threshold in the mixer."""

from __future__ import annotations

import xxhash

from dolma import Document, Span, Tagger, TaggerParams, document_span, tagger


def unit_hash(key: str, seed: int) -> float:
    """A uniform number in [0, 1) from ``key`` and ``seed``: the same on every machine and run."""
    return xxhash.xxh64_intdigest(key.encode(), seed=seed) / 2.0**64


@tagger("random_number")
class RandomNumber(Tagger):
    """Uniform [0, 1) number seeded from the document id and a seed (reproducible across runs and workers)."""

    class Params(TaggerParams):
        seed: int = 0

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        return {"random": document_span(doc.text, unit_hash(doc.id, self.params.seed))}
