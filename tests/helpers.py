"""Small corpus builders shared by tests."""

from __future__ import annotations

import json
import os
from typing import Any

from dolma import io


def write_docs(path: str, docs: list[dict[str, Any]]) -> str:
    if not io.is_s3(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    io.write_bytes(path, b"".join(json.dumps(d).encode() + b"\n" for d in docs))
    return path


def make_docs(n: int, prefix: str = "d", source: str = "test") -> list[dict[str, Any]]:
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    docs = []
    for i in range(n):
        body = " ".join(words[(i * 7 + k) % len(words)] for k in range(5 + i % 40))
        text = f"{body}\n\nParagraph {i} ends here." if i % 3 else body
        docs.append({"id": f"{prefix}{i}", "text": text, "source": source, "metadata": {"n": i}, "extra": [i]})
    return docs


def read_jsonl(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in io.read_bytes(path).splitlines() if line.strip()]


def train_tokenizer(path: str, texts: list[str], vocab_size: int = 300) -> str:
    """Train a small byte-level BPE on ``texts`` and save it as a ``tokenizer.json`` (nothing downloaded).
    ``<|endoftext|>`` is id 0 and ``<|pad|>`` id 1."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tokenizer.save(path)
    return path
