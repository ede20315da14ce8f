"""Length taggers: characters, whitespace words per document and per paragraph."""

from __future__ import annotations

from dolma.taggers.text import analysed

from dolma import Document, Span, Tagger, TaggerParams, document_span, paragraph_bounds, tagger


@tagger("char_length")
class CharLength(Tagger):
    """Document length in Unicode characters."""

    attributes = ("length",)

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        return {"length": document_span(doc.text, len(doc.text))}


@tagger("whitespace_tokenizer")
class WhitespaceWords(Tagger):
    """Whitespace-separated word count of the document and, optionally, of each paragraph."""

    attributes = ("length", "paragraph")

    class Params(TaggerParams):
        paragraphs: bool = True
        """Also emit one span per non-blank paragraph (split on newlines)."""

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        text = doc.text
        if not self.params.paragraphs:
            analysis = analysed(text)  # the words gopher or c4 split already, if they ran on this batch
            return {"length": document_span(text, len(text.split() if analysis is None else analysis.words))}
        # words never span a newline, so the document count is the sum of the paragraph counts
        paragraphs: list[Span] = [(s, e, len(text[s:e].split())) for s, e in paragraph_bounds(text)]
        return {"length": document_span(text, sum(p[2] for p in paragraphs)), "paragraph": paragraphs}
