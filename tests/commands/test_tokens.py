"""`dolma tokens` end to end: the arrays read back with numpy.memmap equal the tokenizer's own encoding of every
document followed by EOS, the .csv.gz offsets are exact, and the files have the layout OLMo reads (see
docs/tokens.md); deterministic whatever the worker count, resumable per group, local or S3, JSONL or Parquet."""

from __future__ import annotations

import csv
import glob
import gzip
import io as pyio
import json
import os
import random

import numpy as np
import pytest

from dolma import io
from dolma.cli import main
from tests.helpers import train_tokenizer, write_docs

EOS = 0  # <|endoftext|> in the tokenizers tests/helpers.py trains
WORDS = "the of and to in a is that for it as was with be by on not he this are or his from at".split()


def make_corpus(root: str, shards: int = 3, per_shard: int = 70, seed: int = 1, ext: str = "jsonl.gz") -> dict:
    """Shards of documents of very different lengths (1 to ~600 words), some unicode, one blank per shard and
    one with surrounding whitespace; returns {id: text}."""
    rng = random.Random(seed)
    texts = {}
    for s in range(shards):
        docs = []
        for i in range(per_shard):
            n = rng.choice([1, 3, 20, 80, 600]) if i > 1 else 5
            body = " ".join(rng.choice(WORDS + ["héllo", "wörld", "✓", "42", "x\ny"]) for _ in range(n))
            text = "   \n " if i == 0 else (f"  {body}\n\n" if i == 1 else body)
            doc_id = f"s{s}-{i}"
            docs.append({"id": doc_id, "text": text, "source": "test"})
            texts[doc_id] = text
        write_docs(f"{root}/{s:02d}.{ext}", docs)
    return texts


@pytest.fixture(scope="module")
def tokenizer_path(tmp_path_factory) -> str:
    rng = random.Random(0)
    sample = [" ".join(rng.choice(WORDS + ["héllo", "wörld"]) for _ in range(40)) for _ in range(200)]
    return train_tokenizer(str(tmp_path_factory.mktemp("tok") / "tokenizer.json"), sample, vocab_size=400)


def run_tokens(docs: str, dest: str, tokenizer: str, *extra: str) -> int:
    return main(
        ["tokens", "--documents", docs, "--destination", dest, "--tokenizer.name_or_path", tokenizer]
        + ["--tokenizer.eos_token_id", str(EOS), *extra]
    )


def read_rows(path: str) -> list[tuple[int, int, str, str, int]]:
    text = io.read_bytes(path).decode()  # decompressed by the extension, local or s3://
    return [(int(a), int(b), c, d, int(e)) for a, b, c, d, e in csv.reader(pyio.StringIO(text))]


def read_output(dest: str) -> list[tuple[str, list[tuple[int, int, str, str, int]]]]:
    """(npy path, rows) per part, in name order."""
    npys = sorted(glob.glob(f"{dest}/*.npy"))
    return [(p, read_rows(p[: -len(".npy")] + ".csv.gz")) for p in npys]


def encode(tokenizer: str, text: str) -> list[int]:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(tokenizer).encode(text, add_special_tokens=False).ids


def test_arrays_equal_the_tokenizers_encoding_of_every_document_with_eos(tmp_path, tokenizer_path):
    texts = make_corpus(str(tmp_path / "docs"))
    dest = str(tmp_path / "tokens")
    code = run_tokens(f"{tmp_path}/docs/*.jsonl.gz", dest, tokenizer_path, "--max_size", "3000", "--batch_size", "16")
    assert code == 0
    parts = read_output(dest)
    assert len(parts) > 3  # the 3000-token cap split the groups
    seen = {}
    for npy, rows in parts:
        tokens = np.memmap(npy, dtype=np.uint16, mode="r")
        assert len(tokens) < 3000
        assert rows[0][0] == 0 and rows[-1][1] == len(tokens)
        for (start, end, doc_id, src, loc), nxt in zip(rows, rows[1:] + [None], strict=True):
            assert nxt is None or nxt[0] == end  # documents back to back
            assert tokens[start:end].tolist() == encode(tokenizer_path, texts[doc_id].strip()) + [EOS]
            shard = int(doc_id[1 : doc_id.index("-")])
            assert src == f"{tmp_path}/docs/{shard:02d}.jsonl.gz" and loc == int(doc_id.split("-")[1]) + 1
            assert doc_id not in seen
            seen[doc_id] = npy
    assert set(seen) == {d for d, t in texts.items() if t.strip()}  # every non-blank document, once


def test_layout_is_what_olmo_reads(tmp_path, tokenizer_path):
    """OLMo (and OLMo-core's numpy datasets) memmap each .npy whole as a flat array of ``memmap_dtype`` with no
    header, and find documents by the EOS that ends each one; the .csv.gz beside it has the same stem."""
    make_corpus(str(tmp_path / "docs"))
    dest = str(tmp_path / "tokens")
    assert run_tokens(f"{tmp_path}/docs/*.jsonl.gz", dest, tokenizer_path, "--max_size", "5000") == 0
    names = sorted(os.listdir(dest))
    npys = [n for n in names if n.endswith(".npy")]
    assert names == sorted(npys + [n[:-4] + ".csv.gz" for n in npys])  # nothing else in the destination
    assert all(n.startswith("part-") and n[-9:-4].isdigit() for n in npys)
    for name in npys:
        raw = open(f"{dest}/{name}", "rb").read()
        assert not raw.startswith(b"\x93NUMPY")  # headerless: np.load would misread it, np.memmap reads it
        assert len(raw) % 2 == 0
        tokens = np.frombuffer(raw, dtype="<u2")
        ends = (np.flatnonzero(tokens == EOS) + 1).tolist()
        rows = read_rows(f"{dest}/{name[:-4]}.csv.gz")
        assert ends == [end for _, end, *_ in rows]  # splitting at EOS gives exactly the documents
        assert tokens[-1] == EOS


def test_bos_is_prepended_and_eos_not_doubled(tmp_path, tokenizer_path):
    write_docs(f"{tmp_path}/d/a.jsonl", [{"id": "a", "text": "the of and"}, {"id": "b", "text": "in a<|endoftext|>"}])
    dest = str(tmp_path / "t")
    assert run_tokens(f"{tmp_path}/d/a.jsonl", dest, tokenizer_path, "--tokenizer.bos_token_id", "1") == 0
    ((npy, rows),) = read_output(dest)
    tokens = np.memmap(npy, dtype=np.uint16, mode="r")
    by_id = {doc_id: tokens[s:e].tolist() for s, e, doc_id, *_ in rows}
    assert by_id["a"] == [1] + encode(tokenizer_path, "the of and") + [EOS]
    assert by_id["b"] == [1] + encode(tokenizer_path, "in a<|endoftext|>")  # already ends with EOS
    assert by_id["b"][-1] == EOS and by_id["b"][-2] != EOS


def test_large_vocabulary_writes_uint32(tmp_path, tokenizer_path):
    data = json.loads(open(tokenizer_path).read())
    vocab = data["model"]["vocab"]
    for i in range(len(vocab), 70_000):
        vocab[f"<extra_{i}>"] = i
    big = tmp_path / "big.json"
    big.write_text(json.dumps(data))
    texts = make_corpus(str(tmp_path / "docs"), shards=1, per_shard=10)
    dest = str(tmp_path / "t")
    assert run_tokens(f"{tmp_path}/docs/*.gz", dest, str(big)) == 0
    ((npy, rows),) = read_output(dest)
    tokens = np.memmap(npy, dtype=np.uint32, mode="r")
    assert os.path.getsize(npy) == 4 * rows[-1][1]
    for start, end, doc_id, *_ in rows:
        assert tokens[start:end].tolist() == encode(str(big), texts[doc_id].strip()) + [EOS]
    assert (
        main(
            ["tokens", "--documents", f"{tmp_path}/docs/*.gz", "--destination", dest, "--dtype", "uint16"]
            + ["--tokenizer.name_or_path", str(big), "--tokenizer.eos_token_id", "0"]
        )
        == 2
    )


def tree(dest: str) -> dict[str, bytes]:
    out = {}
    for path in sorted(glob.glob(f"{dest}/*")):
        data = open(path, "rb").read()
        out[os.path.basename(path)] = gzip.decompress(data) if path.endswith(".gz") else data
    return out


def test_same_bytes_whatever_the_worker_count_and_seed_changes_the_order(tmp_path, tokenizer_path):
    make_corpus(str(tmp_path / "docs"), shards=4, per_shard=40)
    docs = f"{tmp_path}/docs/*.jsonl.gz"
    args = ("--max_size", "4000", "--batch_size", "8", "--files_per_process", "2", "--ring_size", "2")
    assert run_tokens(docs, f"{tmp_path}/p1", tokenizer_path, *args, "--processes", "1") == 0
    assert run_tokens(docs, f"{tmp_path}/p2", tokenizer_path, *args, "--processes", "2") == 0
    assert run_tokens(docs, f"{tmp_path}/s2", tokenizer_path, *args, "--seed", "7") == 0
    one, two = tree(f"{tmp_path}/p1"), tree(f"{tmp_path}/p2")
    assert one == two
    assert sorted(one)[0].startswith("part-0-") and any(n.startswith("part-1-") for n in one)  # two groups of 2
    ids = [r[2] for _, rows in read_output(f"{tmp_path}/p1") for r in rows]
    other_ids = [r[2] for _, rows in read_output(f"{tmp_path}/s2") for r in rows]
    assert sorted(ids) == sorted(other_ids) and ids != other_ids
    # the ring mixes a group's two files within a batch, and the batch is shuffled
    first = [r[3] for r in read_output(f"{tmp_path}/p1")[0][1][:16]]
    assert len(set(first)) == 2


def test_ray_writes_the_same_bytes_as_the_local_pool(tmp_path, tokenizer_path, ray_local):
    make_corpus(str(tmp_path / "docs"), shards=3, per_shard=30)
    docs = f"{tmp_path}/docs/*.jsonl.gz"
    assert run_tokens(docs, f"{tmp_path}/local", tokenizer_path, "--max_size", "2000", "--processes", "2") == 0
    assert run_tokens(docs, f"{tmp_path}/ray", tokenizer_path, "--max_size", "2000", "--executor", "ray") == 0
    assert tree(f"{tmp_path}/local") == tree(f"{tmp_path}/ray") != {}


def test_rerun_redoes_only_unfinished_groups_and_removes_stale_parts(tmp_path, tokenizer_path, capsys):
    make_corpus(str(tmp_path / "docs"), shards=3)
    docs = f"{tmp_path}/docs/*.jsonl.gz"
    dest = f"{tmp_path}/t"
    assert run_tokens(docs, dest, tokenizer_path, "--max_size", "2000") == 0
    clean = tree(dest)
    # a group killed after its later parts landed: part 0 (written last) is missing
    victim = sorted(n for n in clean if n.endswith("-00000.npy"))[1]
    os.remove(f"{dest}/{victim}")
    capsys.readouterr()
    assert run_tokens(docs, dest, tokenizer_path, "--max_size", "2000") == 0
    assert "1 shard(s) done, 2 skipped" in capsys.readouterr().err
    assert tree(dest) == clean
    # a bigger cap writes fewer parts: the rerun with --overwrite leaves none of the old ones behind
    assert run_tokens(docs, dest, tokenizer_path, "--max_size", "100000", "--overwrite", "true") == 0
    assert sorted(tree(dest)) == sorted(n for n in clean if "-00000." in n)


def test_parquet_output_of_the_mixer_is_read(tmp_path, tokenizer_path):
    from dolma.mixers.writer import parquet_bytes

    texts = make_corpus(str(tmp_path / "docs"), shards=1, per_shard=30)
    lines = [json.dumps({"id": k, "text": v, "metadata": {"a": 1}}).encode() for k, v in texts.items()]
    os.makedirs(tmp_path / "mix")
    io.write_stored(f"{tmp_path}/mix/web-00000.parquet", parquet_bytes(lines))
    dest = str(tmp_path / "t")
    assert run_tokens(f"{tmp_path}/mix/*.parquet", dest, tokenizer_path) == 0
    ((npy, rows),) = read_output(dest)
    tokens = np.memmap(npy, dtype=np.uint16, mode="r")
    assert len(rows) == len([t for t in texts.values() if t.strip()])
    for start, end, doc_id, src, loc in rows:
        assert tokens[start:end].tolist() == encode(tokenizer_path, texts[doc_id].strip()) + [EOS]
        assert list(texts)[loc - 1] == doc_id and src.endswith("web-00000.parquet")


def test_nested_fields_and_generated_ids(tmp_path, tokenizer_path):
    write_docs(f"{tmp_path}/d/a.jsonl", [{"body": {"content": "the of"}}, {"body": {"content": "in a"}}])
    dest = str(tmp_path / "t")
    args = ("--fields.text_field_name", "body.content", "--fields.id_field_name", "null")
    assert run_tokens(f"{tmp_path}/d/a.jsonl", dest, tokenizer_path, *args, "--batch_size", "1") == 0
    ((npy, rows),) = read_output(dest)
    assert [r[4] for r in rows] == [1, 2]
    assert rows[0][2].endswith("-1") and rows[1][2].endswith("-2") and len(rows[0][2]) == 64 + 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tokenizer.eos_token_id", "null"), "tokenizer.eos_token_id: required"),
        (("--tokenizer.eos_token_id", "100000"), "tokenizer.eos_token_id: 100000 is not an id"),
        (("--tokenizer.segment_before_tokenization", "true"), "not supported"),
        (("--dtype", "int16"), "dtype: int16 cannot hold"),
        (("--tokenizer.name_or_path", "allenai/gpt-neox-olmo-dolma-v1_5"), "hub names are not fetched"),
    ],
)
def test_bad_configs_are_one_line_errors(tmp_path, tokenizer_path, capsys, args, message):
    make_corpus(str(tmp_path / "docs"), shards=1, per_shard=3)
    assert run_tokens(f"{tmp_path}/docs/*.gz", f"{tmp_path}/t", tokenizer_path, *args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(f"{tmp_path}/t")


def test_bad_line_names_file_and_line_and_leaves_no_output(tmp_path, tokenizer_path, capsys):
    path = f"{tmp_path}/d/a.jsonl"
    os.makedirs(os.path.dirname(path))
    open(path, "w").write('{"id": "a", "text": "the"}\n{"id": "b"}\n')
    assert run_tokens(path, f"{tmp_path}/t", tokenizer_path) == 2
    assert f"{path}:2: missing required field `text`" in capsys.readouterr().err
    assert not glob.glob(f"{tmp_path}/t/*")
    assert run_tokens(path, f"{tmp_path}/t", tokenizer_path, "--skip_bad_lines", "true") == 0
    assert [r[2] for _, rows in read_output(f"{tmp_path}/t") for r in rows] == ["a"]


def test_tokens_on_s3(s3_bucket, tmp_path, tokenizer_path):
    texts = {}
    for s in range(2):
        docs = [{"id": f"{s}-{i}", "text": " ".join(WORDS[: 3 + i])} for i in range(20)]
        texts.update({d["id"]: d["text"] for d in docs})
        write_docs(f"{s3_bucket}/docs/{s}.jsonl.zst", docs)
    tok = f"{s3_bucket}/tokenizer.json"
    io.write_stored(tok, open(tokenizer_path, "rb").read())
    dest = f"{s3_bucket}/tokens"
    assert run_tokens(f"{s3_bucket}/docs/*.zst", dest, tok, "--processes", "2", "--max_size", "300") == 0
    local = str(tmp_path / "local")
    assert run_tokens(f"{s3_bucket}/docs/*.zst", local, tokenizer_path, "--max_size", "300") == 0
    names = sorted(p.rsplit("/", 1)[1] for p in io.list_files(dest + "/"))
    assert names == sorted(os.listdir(local))
    for name in names:
        assert io.read_bytes(f"{dest}/{name}") == io.read_bytes(f"{local}/{name}")
