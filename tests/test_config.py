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


def test_oc_env_references_resolve_in_every_string_before_validation(tmp_path, monkeypatch):
    monkeypatch.setenv("DOLMA_TEST_ROOT", "/data/root")
    monkeypatch.setenv("DOLMA_TEST_PROCS", "3")
    monkeypatch.delenv("DOLMA_TEST_UNSET", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text(
        "paths: ['${oc.env:DOLMA_TEST_ROOT}/documents/*.gz', '${oc.env:DOLMA_TEST_UNSET,/tmp/x}/a']\n"
        "processes: ${oc.env:DOLMA_TEST_PROCS}\n"
        "inner: {name: \"${oc.env:DOLMA_TEST_UNSET,'quoted default'}-\\\\${oc.env:KEPT}\"}\n"
        "items: [{name: '${oc.env: DOLMA_TEST_ROOT }'}]\n"
    )
    cfg = config.load(Example, str(path), ["--inner.rate", "0.5"])
    assert cfg.paths == ["/data/root/documents/*.gz", "/tmp/x/a"]
    assert cfg.processes == 3  # the string "3" is validated as the int the key wants
    assert cfg.inner == Inner(rate=0.5, name="quoted default-${oc.env:KEPT}")
    assert cfg.items == [Inner(name="/data/root")]


def test_oc_env_null_default_is_none_and_overrides_are_interpolated(monkeypatch):
    monkeypatch.delenv("DOLMA_TEST_UNSET", raising=False)
    monkeypatch.setenv("DOLMA_TEST_ROOT", "/r")
    assert config.load(Example, None, ["--processes", "${oc.env:DOLMA_TEST_UNSET,null}"]).processes is None
    assert config.load(Example, None, ["--paths", "${oc.env:DOLMA_TEST_ROOT}/a"]).paths == ["/r/a"]


def test_unset_oc_env_variable_is_an_error_naming_the_key(tmp_path, monkeypatch):
    monkeypatch.delenv("DOLMA_TEST_UNSET", raising=False)
    path = tmp_path / "c.yaml"
    path.write_text("items: [{name: a}, {name: '${oc.env:DOLMA_TEST_UNSET}/out'}]\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: key items\[1\]\.name: environment variable DOLMA_TEST_UNSET"):
        config.load(Example, str(path))


def test_cli_accepts_dolma_argument_order(tmp_path, capsys):
    from dolma import cli

    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "a.jsonl").write_text('{"id": "1", "text": "one two", "source": "s"}\n')
    path = tmp_path / "stat.yaml"
    path.write_text(f"documents: ['{documents}/*.jsonl']\n")
    assert cli.main(["-c", str(path), "stat"]) == 0
    first = capsys.readouterr().out
    assert cli.main(["stat", "-c", str(path)]) == 0
    assert capsys.readouterr().out == first and "1" in first
    assert cli.main([f"--config={path}", "stat"]) == 0
