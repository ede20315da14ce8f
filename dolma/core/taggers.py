"""``from dolma.core.taggers import BaseTagger``, as dolma plugins write it."""

from dolma.plugin_compat import BaseTagger, BaseTaggerWithMetadata

__all__ = ["BaseTagger", "BaseTaggerWithMetadata"]
