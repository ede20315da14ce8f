"""A fast, deterministic toolkit that turns raw text shards into LLM pretraining mixes.

Importing the package does no I/O and loads no models; taggers load what they need when first used.

The repository keeps `taggers/`, `mixers/` and `configs/` beside this folder; an install maps them to
`dolma.taggers`, `dolma.mixers` and `dolma.configs` (pyproject's package-dir). When Python imports this
package straight from a checkout (tests and scripts run from the repository root), the root joins the
package's search path so those names resolve to the same folders there too.
"""

import os as _os

from dolma.documents import Document, Span, document_span, paragraph_bounds
from dolma.errors import ConfigError, DolmaError, InputError
from dolma.plugin_compat import BaseTagger, add_tagger  # allenai/dolma's plugin API
from dolma.tagger import Tagger, TaggerParams, tagger

_ROOT = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(_os.path.dirname(__file__), "taggers")) and _os.path.isfile(
    _os.path.join(_ROOT, "taggers", "__init__.py")
):
    __path__.append(_ROOT)  # noqa: F821 (a package's __path__ exists at import time)

__version__ = "0.1.0"

__all__ = [
    "BaseTagger",
    "ConfigError",
    "Document",
    "DolmaError",
    "InputError",
    "Span",
    "Tagger",
    "TaggerParams",
    "add_tagger",
    "document_span",
    "paragraph_bounds",
    "tagger",
]
