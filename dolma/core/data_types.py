"""``from dolma.core.data_types import DocResult, Document, Span``, as dolma plugins write it."""

from dolma.plugin_compat import DocResult, Span
from dolma.plugin_compat import DolmaDocument as Document
from dolma.plugin_compat import DolmaDocument as DocumentWithMetadata

__all__ = ["DocResult", "Document", "DocumentWithMetadata", "Span"]
