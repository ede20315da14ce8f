"""The tokenizer seam: how many tokens a text is, and (for a real tokenizer) which ones.

One small interface serves every place that speaks of tokens: ``dolma stat`` (tokens per source), the
mixer's token targets, recipe resolution and ``dolma tokens``. Two kinds behind it:

- ``whitespace`` (the default, no dependency): a token is a whitespace-separated word, ``len(text.split())``.
- a Hugging Face ``tokenizer.json`` (local path or ``s3://``), run by the ``tokenizers`` library (Rust).
  Texts are encoded in batches, which is several times faster than one call per document.

Usage::

    from dolma.tokenizer import load_tokenizer
    tokenizer = load_tokenizer("path/to/tokenizer.json")   # or None / "whitespace"
    tokenizer.count(["a text", "another text"])             # -> [n1, n2], no special tokens added
    tokenizer.encode(["a text"])                            # -> [[id, ...]] (HF tokenizers only)

``load_tokenizer`` is cached per process, so a worker loads a tokenizer once however many tasks it runs;
tasks carry the spec string (it pickles to any worker), not the tokenizer.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from dolma import io
from dolma.errors import ConfigError

WHITESPACE = "whitespace"

_WHITESPACE_BYTES = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.split() splits ASCII text on
_WORD_MAP = bytes(0x20 if i in _WHITESPACE_BYTES else 0x78 for i in range(256))


def word_count(text: str) -> int:
    """``len(text.split())``, twice as fast for ASCII text: map bytes to space/letter and count the
    starts of words, without building the word strings."""
    if text.isascii():
        mapped = text.encode().translate(_WORD_MAP)
        return mapped.count(b" x") + (mapped[:1] == b"x")
    return len(text.split())


class Tokenizer(Protocol):
    name: str
    """``whitespace`` or the tokenizer file's path: what a manifest records as the unit of its counts."""

    def count(self, texts: Sequence[str]) -> list[int]:
        """Tokens in each text, without special tokens."""
        ...


class WhitespaceTokenizer:
    """Whitespace-separated words: the dependency-free default, and what counts meant before the seam."""

    name = WHITESPACE

    def count(self, texts: Sequence[str]) -> list[int]:
        return [word_count(text) for text in texts]


class HFTokenizer:
    """A Hugging Face ``tokenizers`` tokenizer read from a ``tokenizer.json``; batch encoding only, since a
    call per document leaves most of the library's speed unused."""

    def __init__(self, path: str) -> None:
        try:
            from tokenizers import Tokenizer as _Tokenizer
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ConfigError("tokenizer: the 'tokenizers' package is needed for a tokenizer.json") from exc
        try:
            text = io.read_text(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"tokenizer: cannot read {path}: {exc}") from exc
        try:
            self._tokenizer: Any = _Tokenizer.from_str(text)
        except Exception as exc:  # tokenizers raises a bare Exception for a malformed file
            raise ConfigError(f"tokenizer: {path} is not a Hugging Face tokenizer.json: {exc}") from exc
        self.name = path
        self.vocab_size: int = self._tokenizer.get_vocab_size(with_added_tokens=True)
        # encode_batch_fast skips the character offsets we never use (tokenizers >= 0.21)
        self._encode = getattr(self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The smallest unsigned type that holds every id: ``uint16`` up to 65,536 ids, else ``uint32``
        (as allenai/dolma and OLMo choose it)."""
        return np.dtype(np.uint16) if self.vocab_size <= 1 << 16 else np.dtype(np.uint32)

    def token_id(self, token: str) -> int | None:
        """The id of a token string such as ``<|endoftext|>``, or ``None`` if the vocabulary lacks it."""
        return self._tokenizer.token_to_id(token)

    def encode(self, texts: Sequence[str], split_special_tokens: bool = False) -> list[list[int]]:
        """Token ids of each text, without special tokens (the caller adds BOS/EOS where it wants them).
        ``split_special_tokens``: a special token's string in the text (``<s>``) is encoded as ordinary text."""
        self._tokenizer.encode_special_tokens = split_special_tokens
        return [encoding.ids for encoding in self._encode(list(texts), add_special_tokens=False)]

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(encoding.ids) for encoding in self._encode(list(texts), add_special_tokens=False)]


@functools.lru_cache(maxsize=4)
def load_tokenizer(spec: str | None = None) -> WhitespaceTokenizer | HFTokenizer:
    """``None`` or ``"whitespace"``: whitespace words; anything else is the path of a ``tokenizer.json``.
    No names are looked up on a hub: nothing is downloaded at run time."""
    if spec is None or spec == WHITESPACE:
        return WhitespaceTokenizer()
    if not io.exists(spec):
        raise ConfigError(
            f"tokenizer: {spec!r} is neither 'whitespace' nor an existing tokenizer.json file "
            "(hub names are not fetched: download the tokenizer.json once and give its path)"
        )
    return HFTokenizer(spec)
