"""The tokenizer seam: whitespace words by default, a local tokenizer.json through ``tokenizers``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dolma.errors import ConfigError
from dolma.tokenizer import HFTokenizer, WhitespaceTokenizer, load_tokenizer, word_count
from tests.helpers import make_docs, train_tokenizer

TEXTS = [d["text"] for d in make_docs(50)] + ["héllo wörld, ünïcode ✓", "", "  spaced   out  "]


def test_word_count_matches_str_split():
    for text in ["", " ", "a", "  a b\t\tc\n", "a\x1cb\x1fc\x0bd\x0ce", "héllo  wörld\u3000x\xa0y", "x\n\ny "]:
        assert word_count(text) == len(text.split()), text


def test_default_tokenizer_counts_whitespace_words():
    tokenizer = load_tokenizer(None)
    assert isinstance(tokenizer, WhitespaceTokenizer)
    assert load_tokenizer(None) is tokenizer  # cached: one per process
    assert isinstance(load_tokenizer("whitespace"), WhitespaceTokenizer)
    assert tokenizer.count(TEXTS) == [len(t.split()) for t in TEXTS]


def test_tokenizer_json_batch_matches_the_library_one_by_one(tmp_path):
    from tokenizers import Tokenizer

    path = train_tokenizer(str(tmp_path / "tok" / "tokenizer.json"), TEXTS)
    tokenizer = load_tokenizer(path)
    assert isinstance(tokenizer, HFTokenizer)
    reference = Tokenizer.from_file(path)
    expected = [reference.encode(t, add_special_tokens=False).ids for t in TEXTS]
    assert tokenizer.encode(TEXTS) == expected
    assert tokenizer.count(TEXTS) == [len(ids) for ids in expected]
    assert sum(tokenizer.count(TEXTS)) > sum(word_count(t) for t in TEXTS)  # sub-word units, not words
    assert tokenizer.token_id("<|endoftext|>") == 0
    assert tokenizer.token_id("<|nope|>") is None
    assert tokenizer.dtype == np.uint16


def test_dtype_widens_to_uint32_past_65536_ids(tmp_path):
    path = train_tokenizer(str(tmp_path / "tokenizer.json"), TEXTS)
    data = json.loads(open(path).read())
    vocab = data["model"]["vocab"]
    for i in range(len(vocab), (1 << 16) + 1):
        vocab[f"<extra_{i}>"] = i
    big = tmp_path / "big.json"
    big.write_text(json.dumps(data))
    assert HFTokenizer(str(big)).vocab_size == (1 << 16) + 1
    assert HFTokenizer(str(big)).dtype == np.uint32


def test_unknown_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="hub names are not fetched"):
        load_tokenizer("allenai/gpt-neox-olmo-dolma-v1_5")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not a Hugging Face tokenizer.json"):
        load_tokenizer(str(bad))


def test_special_token_strings_in_text_are_split_only_when_asked(tmp_path):
    tokenizer = load_tokenizer(train_tokenizer(str(tmp_path / "tokenizer.json"), TEXTS))
    assert isinstance(tokenizer, HFTokenizer)
    (kept,) = tokenizer.encode(["alpha<|endoftext|>"])
    (split,) = tokenizer.encode(["alpha<|endoftext|>"], split_special_tokens=True)
    assert kept[-1] == 0 and 0 not in split and len(split) > len(kept)
