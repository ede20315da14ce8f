"""Import paths of allenai/dolma's plugin API (``dolma.core.data_types`` ...); see :mod:`dolma.plugin_compat`."""

from dolma.plugin_compat import BaseTagger, TaggerRegistry

__all__ = ["BaseTagger", "TaggerRegistry"]
