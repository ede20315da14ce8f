"""The tagger API: what a built-in tagger or a user's plugin implements.

A tagger scores; it never decides. It returns, for each document, a mapping from attribute name to spans
``(start, end, score)``; the runtime prefixes names with ``<experiment>__<tagger>__``. Parameters are a
typed ``Params`` struct filled from the config, so ``dolma list`` can show them and a typo is an error.

    from dolma import Document, Tagger, tagger

    @tagger("shouting")
    class Shouting(Tagger):
        '''Fraction of letters that are upper case.'''

        class Params(Tagger.Params):
            min_letters: int = 1

        def predict(self, doc: Document):
            letters = [c for c in doc.text if c.isalpha()]
            ratio = sum(c.isupper() for c in letters) / max(len(letters), self.params.min_letters)
            return {"upper_ratio": [(0, len(doc.text), ratio)]}

A plain function ``doc -> attributes`` decorated with ``@tagger("name")`` works too (no parameters).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, TypeVar

import msgspec

from dolma.documents import Attributes, Document


class TaggerParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base of every tagger's parameters (none by default)."""


class Tagger:
    """Base class of taggers. Override :meth:`predict`, or :meth:`predict_batch` when batching pays
    (models, vector code). An instance lives for a whole worker process: load models in ``__init__``."""

    Params: ClassVar[type[TaggerParams]] = TaggerParams
    name: ClassVar[str] = ""
    attributes: ClassVar[tuple[str, ...]] = ()
    """The attribute names :meth:`predict` returns (before the ``<experiment>__<tagger>__`` prefix), as
    allenai/dolma's taggers declare them; ``<placeholder>`` stands for a part that depends on the parameters
    or the model (``<lang>``, ``<label>``). ``dolma list`` shows them; the built-ins are checked against what
    they return in tests. Empty: not declared (a plugin may leave it so)."""
    exact_scores: ClassVar[bool] = False
    """True when every score :meth:`predict` returns is already a float with at most 5 decimals (a count or
    a flag as ``1.0``, not ``1``): the runtime then writes the spans as they are instead of rounding each one,
    which counts for taggers with many spans a document (c4's line spans)."""

    def __init__(self, params: TaggerParams) -> None:
        self.params: Any = params

    def predict(self, doc: Document) -> Attributes:
        raise NotImplementedError(f"tagger {self.name!r} implements neither predict nor predict_batch")

    def predict_batch(self, docs: Sequence[Document]) -> list[Attributes]:
        return [self.predict(doc) for doc in docs]

    @classmethod
    def undeclared(cls, names: Iterable[str]) -> list[str]:
        """The names in ``names`` that the tagger's ``attributes`` do not declare."""
        patterns = [re.compile(re.sub(r"<[^>]+>", ".+", re.escape(a))) for a in cls.attributes]
        return [name for name in names if not any(p.fullmatch(name) for p in patterns)]

    @classmethod
    def description(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


TaggerT = TypeVar("TaggerT", bound=type[Tagger])


def tagger(name: str) -> Callable[[Any], Any]:
    """Register a :class:`Tagger` subclass, or a function ``doc -> attributes``, under ``name``."""
    from dolma import registry

    def register(obj: Any) -> Any:
        cls = obj
        if not (isinstance(obj, type) and issubclass(obj, Tagger)):
            if not callable(obj):
                raise TypeError(f"@tagger({name!r}) decorates a Tagger subclass or a function")
            cls = type(
                obj.__name__,
                (Tagger,),
                {"predict": lambda self, doc: obj(doc), "__doc__": obj.__doc__, "__module__": obj.__module__},
            )
        cls.name = name
        registry.register(name, cls)
        return obj

    return register
