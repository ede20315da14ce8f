"""A tagger that emits nothing: what remains is the cost of reading, decoding and writing attribute rows."""

from dolma import Document, Span, Tagger, tagger


@tagger("passthrough")
class Passthrough(Tagger):
    """Emits no attributes (benchmark baseline)."""

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        return {}
