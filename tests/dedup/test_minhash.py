"""MinHash LSH: normalisation, signature quality, band choice, components, and `dolma dedupe` with a
``minhash`` section end to end (keepers, resume after the signature stage, worker count and Ray)."""

from __future__ import annotations

import glob
import os
import random

import numpy as np
import pytest

from dolma.cli import main
from dolma.dedup.bands import bucket_edges
from dolma.dedup.clusters import component_sizes, components, keepers
from dolma.dedup.minhash import MinhashConfig, choose_bands
from dolma.dedup.signatures import (
    Hashing,
    Signer,
    detection_probability,
    jaccard_estimate,
    jaccard_exact,
    normalise,
    shingle_sets,
)
from dolma.errors import ConfigError
from tests.helpers import read_jsonl, write_docs

VOCAB = sorted({"".join(random.Random(i).choices("abcdefghijklmnopqrstuvwxyz", k=7)) for i in range(5000)})
"""Letters only: normalisation folds digits, so numbered words would all look alike."""


def shingles(words: list[str], n: int = 5) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def edited(words: list[str], fraction: float, rng: random.Random) -> list[str]:
    out = list(words)
    for i in rng.sample(range(len(out)), max(1, int(fraction * len(out)))):
        out[i] = rng.choice(VOCAB)
    return out


def test_normalise_folds_case_accents_punctuation_digits():
    assert normalise("Héllo, WORLD! 2024 — naïve\tcafé").split() == [b"hello", b"world", b"0000", b"naive", b"cafe"]
    assert normalise("a_b c-d").split() == [b"a", b"b", b"c", b"d"]


def test_signature_agreement_estimates_jaccard():
    rng = random.Random(3)
    signer = Signer(Hashing(num_perm=128, ngram_length=5, seed=1, bands=16, rows=8))
    left, right, truth = [], [], []
    for fraction in (0.02, 0.05, 0.1, 0.2, 0.4):
        for _ in range(40):
            words = [rng.choice(VOCAB) for _ in range(rng.randint(60, 300))]
            other = edited(words, fraction, rng)
            a, b = shingles(words), shingles(other)
            left.append(" ".join(words))
            right.append(" ".join(other))
            truth.append(len(a & b) / len(a | b))
    sig, empty = signer.signatures(left + right)
    assert not empty.any()
    estimate = jaccard_estimate(sig[: len(left)], sig[len(left) :])
    error = estimate - np.array(truth)
    assert abs(error.mean()) < 0.01  # unbiased
    assert error.std() < 0.05  # about sqrt(J(1-J)/128)


def test_identical_texts_after_normalisation_share_every_band_and_empty_texts_none():
    signer = Signer(Hashing(num_perm=64, ngram_length=3, seed=9, bands=8, rows=8))
    sig, empty = signer.signatures(["The cat sat, on the mat!", "the CAT sat on the mat", "", "   "])
    assert np.array_equal(sig[0], sig[1])
    assert empty.tolist() == [False, False, True, True]
    bands = signer.band_hashes(sig, empty)
    assert (bands[0] == bands[1]).all()
    assert not (bands[2] == bands[3]).any()


def test_short_texts_are_one_shingle():
    signer = Signer(Hashing(num_perm=32, ngram_length=5, seed=1, bands=4, rows=8))
    sig, empty = signer.signatures(["two words", "two words", "other words"])
    assert np.array_equal(sig[0], sig[1]) and not np.array_equal(sig[0], sig[2]) and not empty.any()


def test_exact_jaccard_from_shingle_sets():
    rng = random.Random(5)
    signer = Signer(Hashing(num_perm=64, ngram_length=5, seed=2, bands=8, rows=8))
    words = [rng.choice(VOCAB) for _ in range(200)]
    other = edited(words, 0.1, rng)
    flat, counts = signer.word_hashes([" ".join(words), " ".join(other)])
    hashes, doc = signer.shingles(flat, counts)
    a, b = shingle_sets(hashes, doc, 2)
    truth = len(shingles(words) & shingles(other)) / len(shingles(words) | shingles(other))
    assert jaccard_exact(a, b) == pytest.approx(truth, abs=1e-9)
    assert jaccard_exact(a, a) == 1.0


def test_bands_from_datasketch_or_given():
    from datasketch.lsh import _optimal_param

    assert choose_bands(MinhashConfig(threshold=0.7, num_perm=128)) == _optimal_param(0.7, 128, 0.1, 0.9)
    assert choose_bands(MinhashConfig(bands=20, rows=5)) == (20, 5)
    with pytest.raises(ConfigError, match="both or neither"):
        choose_bands(MinhashConfig(bands=20))
    with pytest.raises(ConfigError, match="<= num_perm"):
        choose_bands(MinhashConfig(bands=20, rows=10, num_perm=128))
    assert detection_probability(0.0, 20, 5) == 0.0
    assert float(detection_probability(1.0, 20, 5)) == 1.0


def test_bucket_edges_join_members_to_the_first():
    a, b = bucket_edges(np.array([5, 7, 5, 9, 7, 5], dtype=np.uint64))
    assert sorted(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 2), (0, 5), (1, 4)]


def test_components_keepers_sizes():
    labels = components(7, np.array([5, 1, 3]), np.array([6, 3, 5]))
    assert labels.tolist() == [0, 1, 2, 1, 4, 1, 1]
    assert component_sizes(labels).tolist() == [1, 4, 1, 4, 1, 4, 4]
    assert keepers(labels).tolist() == [True, True, True, False, True, False, False]
    scores = np.array([0, 0.1, 0, 0.9, 0, 0.9, 0.2])
    assert keepers(labels, scores).tolist() == [True, False, True, True, True, False, False]  # tie: first


# -------------------------------------------------------------------------------------- end to end


def planted_corpus(root, shards: int = 3, per_shard: int = 50, seed: int = 0) -> list[tuple[str, str]]:
    """Originals with near copies (2% of words edited) spread over shards; returns the planted id pairs."""
    rng = random.Random(seed)
    originals = {}
    pairs = []
    for s in range(shards):
        docs = []
        for i in range(per_shard):
            doc_id = f"{s}-{i}"
            if originals and rng.random() < 0.3:
                source_id = rng.choice(sorted(originals))
                words = edited(originals[source_id], 0.02, rng)
                pairs.append((source_id, doc_id))
            else:
                words = [rng.choice(VOCAB) for _ in range(rng.randint(80, 200))]
                originals[doc_id] = words
            docs.append({"id": doc_id, "text": " ".join(words)})
        write_docs(f"{root}/documents/{s:02d}.jsonl.gz", docs)
    return pairs


def run(root, *extra: str) -> int:
    args = ["--documents", f"{root}/documents/*.jsonl.gz", "--dedupe.name", "near", "--processes", "1"]
    return main(["dedupe", *args, "--minhash.ngram_length", "5", *extra])


def attribute_rows(root) -> list[dict]:
    return [r for p in sorted(glob.glob(f"{root}/attributes/near/*.jsonl.gz")) for r in read_jsonl(p)]


def attribute_bytes(root) -> dict[str, bytes]:
    out = {}
    for path in sorted(glob.glob(f"{root}/attributes/near/*.jsonl.gz")):
        with open(path, "rb") as fh:
            out[os.path.basename(path)] = fh.read()
    return out


@pytest.mark.parametrize("verify", ["estimated", "exact", "none"])
def test_planted_near_duplicates_cluster_and_the_first_is_kept(tmp_path, verify):
    pairs = planted_corpus(tmp_path)
    assert run(tmp_path, "--minhash.threshold", "0.7", "--minhash.verify", verify) == 0
    rows = {r["id"]: r["attributes"] for r in attribute_rows(tmp_path)}
    order = list(rows)
    for original, copy in pairs:
        assert rows[original]["minhash_cluster_id"][0][2] == rows[copy]["minhash_cluster_id"][0][2]
        assert rows[copy]["minhash_duplicate"][0][2] == 1
    for doc_id, attrs in rows.items():
        cluster = attrs["minhash_cluster_id"][0][2]
        assert attrs["minhash_duplicate"][0][2] == (0 if order[cluster] == doc_id else 1)
    copies = {c for _, c in pairs}
    assert sum(a["minhash_duplicate"][0][2] for a in rows.values()) == len(copies)


def test_keeper_by_highest_attribute(tmp_path):
    write_docs(
        f"{tmp_path}/documents/00.jsonl.gz",
        [{"id": f"d{i}", "text": "same words in every one of these documents here"} for i in range(3)],
    )
    write_docs(
        f"{tmp_path}/attributes/quality/00.jsonl.gz",
        [{"id": f"d{i}", "attributes": {"q": [[0, 1, score]]}} for i, score in enumerate([0.2, 0.9, 0.5])],
    )
    assert run(tmp_path, "--minhash.keeper.experiment", "quality", "--minhash.keeper.attribute", "q") == 0
    dup = [r["attributes"]["minhash_duplicate"][0][2] for r in attribute_rows(tmp_path)]
    assert dup == [1, 0, 1]
    assert {r["attributes"]["minhash_cluster_id"][0][2] for r in attribute_rows(tmp_path)} == {1}


def test_restart_after_the_signature_stage_resumes_there(tmp_path):
    planted_corpus(tmp_path, shards=2)
    assert run(tmp_path) == 0
    expected = attribute_bytes(tmp_path)
    (work,) = glob.glob(f"{tmp_path}/work/minhash-near/*")
    signatures = {p: os.stat(p).st_mtime_ns for p in glob.glob(f"{work}/signatures/*")}
    for stage in ("edges", "clusters"):
        for path in glob.glob(f"{work}/{stage}/*"):
            os.remove(path)
    for path in glob.glob(f"{tmp_path}/attributes/near/*"):
        os.remove(path)
    assert run(tmp_path) == 0
    assert {p: os.stat(p).st_mtime_ns for p in glob.glob(f"{work}/signatures/*")} == signatures
    assert attribute_bytes(tmp_path) == expected
    stages = {p: os.stat(p).st_mtime_ns for stage in ("edges", "clusters") for p in glob.glob(f"{work}/{stage}/*")}
    for path in glob.glob(f"{tmp_path}/attributes/near/*"):
        os.remove(path)
    assert run(tmp_path) == 0  # only the attributes are redone: edges and clusters are reused
    assert {p: os.stat(p).st_mtime_ns for p in stages} == stages
    assert attribute_bytes(tmp_path) == expected


def test_one_and_two_processes_and_ray_agree(tmp_path, ray_local):
    results = []
    for name, extra in (("one", ["--processes", "1"]), ("two", ["--processes", "2"]), ("ray", ["--executor", "ray"])):
        root = tmp_path / name
        planted_corpus(root)
        assert run(root, *extra) == 0
        results.append(attribute_bytes(root))
    assert results[0] == results[1] == results[2]
    assert len(results[0]) == 3


def test_minhash_refusals(tmp_path, capsys):
    planted_corpus(tmp_path, shards=1, per_shard=5)
    assert run(tmp_path, "--minhash.verify", "sometimes") == 2
    assert "minhash.verify" in capsys.readouterr().err
    assert run(tmp_path, "--minhash.keeper.experiment", "nope", "--minhash.keeper.attribute", "q") == 2
    assert "does not exist" in capsys.readouterr().err
    both = ["--dedupe.paragraphs.attribute_name", "p", "--minhash.threshold", "0.8"]
    assert run(tmp_path, *both) == 2
    assert "two runs" in capsys.readouterr().err


def test_documents_attributes_and_work_directory_on_s3(s3_bucket):
    pairs = planted_corpus(s3_bucket, shards=2, per_shard=30)
    assert run(s3_bucket) == 0
    rows = {
        r["id"]: r["attributes"] for p in ("00", "01") for r in read_jsonl(f"{s3_bucket}/attributes/near/{p}.jsonl.gz")
    }
    for original, copy in pairs:
        assert rows[copy]["minhash_duplicate"][0][2] == 1
        assert rows[copy]["minhash_cluster_id"] == rows[original]["minhash_cluster_id"]
