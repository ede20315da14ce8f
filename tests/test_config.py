"""Config loading: dotted overrides, list coercion, list indexing, and errors that name the key."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest

from dolma import config
from dolma.config import Strict
from dolma.errors import ConfigError


class Inner(Strict):
    rate: float = 1.0
    name: str = ""


class Example(Strict):
    paths: list[str] = []
    processes: int | None = None
    inner: Inner = msgspec.field(default_factory=Inner)
    items: list[Inner] = []
    flag: Annotated[bool, msgspec.Meta(description="a flag")] = False


def test_overrides_are_typed_and_nested(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("paths: [a]\ninner: {name: x}\nitems: [{name: a}, {name: b, rate: 2}]\n")
    cfg = config.load(Example, str(path), ["--processes", "4", "--inner.rate", "0.5", "--flag", "--items.1.rate", "3"])
    assert cfg.processes == 4 and cfg.flag is True
    assert cfg.inner == Inner(rate=0.5, name="x")
    assert cfg.items == [Inner(name="a"), Inner(name="b", rate=3.0)]
    assert cfg.paths == ["a"]


def test_a_lone_value_becomes_a_list_and_several_values_a_list():
    assert config.load(Example, None, ["--paths", "one"]).paths == ["one"]
    assert config.load(Example, None, ["--paths", "one", "two"]).paths == ["one", "two"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--procesess", "2"], "procesess"),
        (["--processes", "many"], "key processes"),
        (["--inner.rat", "2"], "rat"),
        (["--items.5.rate", "2"], "items has only 0 entries"),
        (["stray"], "unexpected argument"),
    ],
)
def test_errors_name_the_key(args, message):
    with pytest.raises(ConfigError, match=message):
        config.load(Example, None, args)


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("paths: [a\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        config.load(Example, str(bad))
    with pytest.raises(ConfigError, match="does not exist|no such file"):
        config.load(Example, str(tmp_path / "missing.yaml"))


def test_describe_lists_every_key_with_its_help():
    lines = "\n".join(config.describe(Example))
    assert "inner.rate: float (default: 1.0)" in lines
    assert "flag: bool (default: False). a flag" in lines
