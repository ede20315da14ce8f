"""``dolma list``: every registered tagger, its one-line description, its parameters and the attribute names it
writes (``<placeholder>`` parts depend on the parameters or the model)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from dolma import registry
from dolma.config import Strict


class Config(Strict):
    tagger_modules: Annotated[
        list[str], msgspec.Meta(description="plugin modules or .py files whose taggers to list too")
    ] = []


def _params(cls: type[msgspec.Struct]) -> str:
    parts = []
    for f in msgspec.structs.fields(cls):
        default = f.default if f.default is not msgspec.NODEFAULT else None
        if f.default_factory is not msgspec.NODEFAULT:
            default = f.default_factory()
        parts.append(f"{f.name}={default!r}")
    return ", ".join(parts)


def main(config: Config) -> int:
    registry.resolve_plugins(config.tagger_modules)
    taggers = registry.all_taggers()
    width = max(len(name) for name in taggers)
    for name, cls in taggers.items():
        print(f"{name:<{width}}  {cls.description()}")
        params = _params(cls.Params)
        if params:
            print(f"{'':<{width}}    params: {params}")
        print(f"{'':<{width}}    writes: {', '.join(cls.attributes) if cls.attributes else '(not declared)'}")
    return 0
