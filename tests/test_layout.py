"""Names that become path components cannot leave their directory or hide their shards."""

from __future__ import annotations

import os

import pytest

from dolma import layout
from dolma.cli import main
from dolma.errors import ConfigError
from tests.helpers import make_docs, write_docs


@pytest.mark.parametrize("name", ["..", "../x", "a/b", ".x.tmp-1", ".hidden", "", "a\0b", "a\\b"])
def test_names_that_escape_or_hide_are_refused(name):
    with pytest.raises(ConfigError, match="key: "):
        layout.check_name(name, "key")


def test_ordinary_names_pass():
    assert layout.check_name("dedupe_v2-final.1", "k") == "dedupe_v2-final.1"


@pytest.mark.parametrize(
    "args",
    [
        ["tag", "--taggers", "char_length", "--experiment", "../../escaped"],
        ["dedupe", "--dedupe.name", "../escaped", "--dedupe.paragraphs.attribute_name", "p",
         "--bloom_filter.file", "BLOOM", "--bloom_filter.size_in_bytes", "1024"],
    ],
    ids=["experiment", "dedupe.name"],
)  # fmt: skip
def test_commands_refuse_a_name_that_writes_outside_attributes(tmp_path, capsys, args):
    write_docs(f"{tmp_path}/c/documents/a.jsonl.gz", make_docs(5))
    args = [a.replace("BLOOM", str(tmp_path / "bloom.bin")) for a in args]
    assert main([*args, "--documents", f"{tmp_path}/c/documents/*.gz"]) == 2
    assert "contains '/'" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path / "c")) == ["documents"]
    assert not os.path.exists(tmp_path / "escaped")
