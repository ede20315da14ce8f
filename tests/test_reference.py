"""docs/config-reference.md is what the config structs render: a key added or changed without regenerating
the page fails here."""

from __future__ import annotations

from pathlib import Path

from dolma import reference

PAGE = Path(__file__).resolve().parent.parent / "docs" / "config-reference.md"


def test_the_committed_config_reference_is_up_to_date() -> None:
    assert PAGE.read_text() == reference.render(), "run: python -m dolma.reference docs/config-reference.md"


def test_the_reference_lists_every_command_and_nested_keys() -> None:
    text = reference.render()
    assert "## `dolma mix`" in text and "## `dolma stat`" in text
    assert "- `streams`:" in text and "- `sample_rate`: float (default: 1.0)" in text
