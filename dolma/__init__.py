"""A fast, deterministic toolkit that turns raw text shards into LLM pretraining mixes.

Importing the package does no I/O and loads no models; taggers load what they need when first used.
"""

from dolma.documents import Document, Span, document_span, paragraph_bounds
from dolma.errors import ConfigError, DolmaError, InputError
from dolma.plugin_compat import BaseTagger, add_tagger  # allenai/dolma's plugin API
from dolma.tagger import Tagger, TaggerParams, tagger

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
