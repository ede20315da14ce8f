"""allenai/dolma's tagger plugin API, so a plugin written for dolma 1.x runs here unchanged.

A dolma plugin subclasses ``BaseTagger``, implements ``predict(doc) -> DocResult`` (a list of ``Span``s with a
``type`` and a ``score``) and registers with ``@add_tagger("name")`` (or ``TaggerRegistry.add``). It imports
these from ``dolma``, ``dolma.core.data_types``, ``dolma.core.taggers`` and ``dolma.core.registry``, so those
paths re-export what is defined here. Registering wraps the plugin in a :class:`~dolma.tagger.Tagger` that
groups its spans by type, as dolma's ``BaseTagger.group_output`` does (``defaults`` keys present even when
empty, names made into variable names), so its attribute rows are the ones dolma writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from dolma import registry
from dolma.documents import Attributes, Document
from dolma.tagger import Tagger


class DolmaDocument:
    """The document a dolma plugin receives: ``id``, ``text``, ``source``, ``version``, ``metadata``."""

    __slots__ = ("id", "text", "source", "version", "added", "created", "metadata")

    def __init__(self, doc: Document, with_metadata: bool) -> None:
        self.id = doc.id
        self.text = doc.text
        self.source = doc.source or ""
        self.version = None
        self.added = None
        self.created = None
        self.metadata = doc.meta if with_metadata else {}


class Span:
    """dolma's span: ``start``, ``end`` (code points), ``type`` (the attribute name) and ``score``."""

    __slots__ = ("start", "end", "type", "score", "experiment", "tagger")

    def __init__(
        self,
        start: int,
        end: int,
        type: str,  # noqa: A002 - dolma's keyword
        score: float = 1.0,
        experiment: str | None = None,
        tagger: str | None = None,
    ) -> None:
        self.start = start
        self.end = end
        self.type = type
        self.score = float(score)
        self.experiment = experiment
        self.tagger = tagger

    def mention(self, text: str, window: int = 0) -> str:
        return text[max(0, self.start - window) : min(len(text), self.end + window)]

    def select(self, doc: DolmaDocument) -> str:
        return doc.text[self.start : self.end]

    def __len__(self) -> int:
        return self.end - self.start


class DocResult:
    """What a dolma plugin's ``predict`` returns: the document and its spans."""

    __slots__ = ("doc", "spans")

    def __init__(self, doc: Any, spans: list[Span]) -> None:
        self.doc = doc
        self.spans = spans


class BaseTagger:
    """dolma's tagger base class: subclasses implement ``predict(doc) -> DocResult``."""

    FIELDS: list[str] = ["text"]

    @property
    def defaults(self) -> list[str]:
        """Span types written (as empty lists) even when ``predict`` returns none of them."""
        return []

    def predict(self, doc: Any) -> DocResult:
        raise NotImplementedError

    def group_output(self, result: DocResult) -> Attributes:
        out: Attributes = {variable_name(name): [] for name in self.defaults}
        for span in result.spans:
            out.setdefault(variable_name(span.type), []).append((span.start, span.end, span.score))
        return out


class BaseTaggerWithMetadata(BaseTagger):
    """dolma's base class for taggers that read ``doc.metadata``."""


def variable_name(name: str) -> str:
    """dolma's ``make_variable_name``: characters other than letters, digits and ``_`` become ``_``."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


class _PluginTagger(Tagger):
    """Runs one dolma plugin class (instantiated without arguments, as dolma does, once per worker)."""

    plugin_class: type[BaseTagger]

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.plugin = self.plugin_class()
        self.with_metadata = isinstance(self.plugin, BaseTaggerWithMetadata)

    def predict(self, doc: Document) -> Attributes:
        return self.plugin.group_output(self.plugin.predict(DolmaDocument(doc, self.with_metadata)))


T = TypeVar("T", bound=type)


def add_tagger(name: str) -> Callable[[T], T]:
    """dolma's ``@add_tagger("name")`` (also ``TaggerRegistry.add``): register a ``BaseTagger`` subclass."""

    def register(cls: T) -> T:
        doc = cls.__doc__ or f"allenai/dolma plugin {name}"
        namespace = {"plugin_class": cls, "name": name, "__doc__": doc, "__module__": cls.__module__}
        wrapper: type[Tagger] = type(cls.__name__, (_PluginTagger,), namespace)
        registry.register(name, wrapper)
        return cls

    return register


class TaggerRegistry:
    """dolma's registry, as plugins use it: ``TaggerRegistry.add(name)`` is ``add_tagger(name)``."""

    add = staticmethod(add_tagger)
