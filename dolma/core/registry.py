"""``from dolma.core.registry import TaggerRegistry``, as dolma plugins write it."""

from dolma.plugin_compat import TaggerRegistry

__all__ = ["TaggerRegistry"]
