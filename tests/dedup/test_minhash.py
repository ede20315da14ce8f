"""MinHash LSH: normalisation, signature quality, band choice, components, and `dolma dedupe` with a
``minhash`` section end to end (keepers, resume after the signature stage, worker count and Ray)."""

from __future__ import annotations

import glob
import os
import random
import re
import shutil
from collections import Counter

import numpy as np
import pytest

from dolma import io
from dolma.cli import main
from dolma.dedup import stage_files
from dolma.dedup.bands import BandTask, bucket_edges, plan_band_tasks
from dolma.dedup.clusters import MAX_KEEPER_ROUNDS, checked_keepers, large_star, small_star, stars
from dolma.dedup.minhash import MAX_STAR_STEPS, MinhashConfig, choose_bands
from dolma.dedup.signatures import (
    Hashing,
    Normalisation,
    Signer,
    detection_probability,
    jaccard_estimate,
    jaccard_exact_pairs,
    shingle_sets,
)
from dolma.dedup.stage_files import read_table
from dolma.errors import ConfigError
from tests.dedup.minhash_oracle import cluster_facts, component_sizes, components, jaccard_exact, kept_for
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


def test_normalisation_choices():
    text = "Héllo, WORLD! 2024 — naïve\tcafé"
    assert Normalisation()(text).split() == [b"hello", b"world", b"2024", b"naive", b"cafe"]  # digits kept
    assert Normalisation(fold_digits=True)(text).split() == [b"hello", b"world", b"0000", b"naive", b"cafe"]
    assert Normalisation(lowercase=False)(text).split() == [b"Hello", b"WORLD", b"2024", b"naive", b"cafe"]
    assert Normalisation(strip_accents=False)(text).split()[-2:] == ["naïve".encode(), "café".encode()]
    kept = Normalisation(punctuation="keep")
    assert kept(text).split() == [b"hello,", b"world!", b"2024", "—".encode(), b"naive", b"cafe"]
    assert kept("1,234.5 a_b").split() == [b"1,234.5", b"a_b"]
    assert Normalisation()("a_b c-d 1,234.5").split() == [b"a", b"b", b"c", b"d", b"1", b"234", b"5"]
    assert Normalisation(fold_digits=True)("x٣y 12").split() == [b"x0y", b"00"]  # any Unicode digit
    assert Normalisation()("x٣y").split() == ["x٣y".encode()]


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
    offsets, values = shingle_sets(hashes, doc, 2)
    a, b = values[offsets[0] : offsets[1]], values[offsets[1] : offsets[2]]
    truth = len(shingles(words) & shingles(other)) / len(shingles(words) | shingles(other))
    assert jaccard_exact(a, b) == pytest.approx(truth, abs=1e-9)
    assert jaccard_exact(a, a) == 1.0


def test_exact_jaccard_of_many_pairs_at_once_equals_pair_by_pair():
    rng = np.random.default_rng(4)
    sets = [np.unique(rng.integers(0, 60, size=rng.integers(0, 40))).astype(np.uint32) for _ in range(50)]
    sets[3] = sets[4] = np.zeros(0, np.uint32)  # two empty sets: similarity 0, as before
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in sets])])
    values = np.concatenate(sets)
    a, b = rng.integers(0, 50, size=400), rng.integers(0, 50, size=400)
    a[:3], b[:3] = [3, 5, 7], [4, 5, 3]
    expected = [jaccard_exact(sets[i], sets[j]) for i, j in zip(a, b, strict=True)]
    assert jaccard_exact_pairs(offsets, values, a, b) == pytest.approx(expected, abs=1e-12)


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
    everything_near = lambda i, j: True  # noqa: E731
    assert kept_for(labels, None, everything_near).tolist() == [0, 1, 2, 1, 4, 1, 1]
    scores = np.array([0, 0.1, 0, 0.9, 0, 0.9, 0.2])
    assert kept_for(labels, scores, everything_near).tolist() == [0, 3, 2, 3, 4, 3, 3]  # tie: first


def test_the_keeper_check_removes_only_documents_near_a_kept_one():
    """Two components in priority order: a chain 10~11~12~13 where only neighbours are near, and a star 20-23
    whose members are all near 20 except 23, which is near 22 (removed) and nothing else."""
    near_pairs = {(10, 11), (11, 12), (12, 13), (20, 21), (20, 22), (22, 23)}

    def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.array([1.0 if (min(x, y), max(x, y)) in near_pairs else 0.2 for x, y in zip(a, b, strict=True)])

    cluster = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    member = np.array([10, 11, 12, 13, 20, 21, 22, 23])
    assert checked_keepers(cluster, member, similarity, 0.7).tolist() == [10, 10, 12, 12, 20, 20, 20, 23]
    assert checked_keepers(cluster, member, None, 0.7).tolist() == [10, 10, 10, 10, 20, 20, 20, 20]
    labels = np.array([0, 0, 0, 0, 4, 4, 4, 4])
    oracle = kept_for(labels, None, lambda i, j: similarity([member[i]], [member[j]])[0] >= 0.7)
    assert member[oracle].tolist() == [10, 10, 12, 12, 20, 20, 20, 23]


def test_the_keeper_check_stops_after_its_rounds_and_keeps_the_rest():
    """A chain of mutually distant documents: one is resolved per round; what is left open is kept."""
    n = MAX_KEEPER_ROUNDS + 3
    kept = checked_keepers(np.zeros(n, np.int64), np.arange(n), lambda a, b: np.zeros(len(a)), 0.7)
    assert kept.tolist() == list(range(n))


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


def window_corpus(root) -> None:
    """A chain A~B~C: three 600-word windows of one text, each 70 words on from the previous, so neighbours
    have word 5-gram Jaccard 526 / 666 = 0.79 and A and C 456 / 736 = 0.62 (below the 0.7 threshold)."""
    rng = random.Random(5)
    words = [rng.choice(VOCAB) for _ in range(740)]
    texts = {name: " ".join(words[70 * i : 70 * i + 600]) for i, name in enumerate("ABC")}
    write_docs(f"{root}/documents/00.jsonl.gz", [{"id": k, "text": v} for k, v in texts.items()])


@pytest.mark.parametrize("verify", ["estimated", "exact"])
def test_a_chain_keeps_its_end_when_the_end_is_far_from_the_keeper(tmp_path, verify):
    window_corpus(tmp_path)
    assert run(tmp_path, "--minhash.verify", verify) == 0
    rows = {r["id"]: r["attributes"] for r in attribute_rows(tmp_path)}
    facts = {k: [a[f"minhash_{n}"][0][2] for n in ("duplicate", "cluster_id", "cluster_size")] for k, a in rows.items()}
    assert facts == {"A": [0, 0, 2], "B": [1, 0, 2], "C": [0, 2, 1]}


def test_without_verification_a_chain_is_one_cluster(tmp_path):
    window_corpus(tmp_path)
    assert run(tmp_path, "--minhash.verify", "none") == 0
    assert [r["attributes"]["minhash_duplicate"][0][2] for r in attribute_rows(tmp_path)] == [0, 1, 1]


STAGES = ("edges", "components", "keepers", "clusters")


def stage_mtimes(work) -> dict[str, int]:
    return {
        p: os.stat(p).st_mtime_ns for stage in STAGES for p in glob.glob(f"{work}/{stage}/**/*.parquet", recursive=True)
    }


def summary_counts(err: str) -> dict[str, int]:
    return {k: int(v.replace(",", "")) for k, v in re.findall(r"^  (\w+): ([\d,]+)$", err, re.M)}


def test_restart_after_the_signature_stage_resumes_there_and_reports_real_counts(tmp_path, capsys):
    planted_corpus(tmp_path, shards=2)
    assert run(tmp_path) == 0
    first = summary_counts(capsys.readouterr().err)
    assert first["duplicates"] > 0 and first["verified_pairs"] > 0 and first["clusters"] > 0
    expected = attribute_bytes(tmp_path)
    (work,) = glob.glob(f"{tmp_path}/work/minhash-near/*")
    signatures = {p: os.stat(p).st_mtime_ns for p in glob.glob(f"{work}/signatures/*")}
    for stage in STAGES:
        shutil.rmtree(f"{work}/{stage}")
    for path in glob.glob(f"{tmp_path}/attributes/near/*"):
        os.remove(path)
    assert run(tmp_path) == 0
    assert summary_counts(capsys.readouterr().err) == first
    assert {p: os.stat(p).st_mtime_ns for p in glob.glob(f"{work}/signatures/*")} == signatures
    assert attribute_bytes(tmp_path) == expected
    stages = stage_mtimes(work)
    for path in glob.glob(f"{tmp_path}/attributes/near/*"):
        os.remove(path)
    assert run(tmp_path) == 0  # only the attributes are redone: every stage file is reused
    assert stage_mtimes(work) == stages
    assert attribute_bytes(tmp_path) == expected
    assert summary_counts(capsys.readouterr().err) == first  # read back from the stage files, not zeros


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


# ------------------------------------------------------------------------- partitioned stages vs the oracle


def star_components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Labels from the large-star/small-star steps run on the whole graph at once."""
    u, v = np.concatenate([a, b]), np.concatenate([b, a])
    step = "large"
    for _ in range(MAX_STAR_STEPS):
        if step == "large":
            x, y, unsettled = large_star(u, v)
        else:
            x, y = small_star(u, v)
            unsettled = 1
        u, v = np.concatenate([x, y]), np.concatenate([y, x])
        if not unsettled:
            break
        step = "small" if step == "large" else "large"
    labels = np.arange(n)
    member, centre = stars(u, v)
    labels[member] = centre
    return labels


def random_graph(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random edges plus long chains in random node order and a few big stars: the shapes that take
    label propagation the most rounds."""
    a, b = [rng.integers(0, n, size=n // 3)], [rng.integers(0, n, size=n // 3)]
    for _ in range(3):
        chain = rng.permutation(n)[: rng.integers(10, n // 4)]
        a.append(chain[:-1])
        b.append(chain[1:])
    hub = rng.integers(0, n)
    spokes = rng.integers(0, n, size=n // 10)
    a.append(np.full(len(spokes), hub))
    b.append(spokes)
    return np.concatenate(a), np.concatenate(b)


@pytest.mark.parametrize("seed", range(12))
def test_star_steps_find_the_components_of_random_graphs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 600))
    a, b = random_graph(rng, n)
    assert star_components(n, a, b).tolist() == components(n, a, b).tolist()


def test_star_steps_on_a_long_chain_and_on_no_edges():
    chain = np.random.default_rng(0).permutation(2_000)
    assert (star_components(2_000, chain[:-1], chain[1:]) == 0).all()
    assert star_components(3, np.zeros(0, np.int64), np.zeros(0, np.int64)).tolist() == [0, 1, 2]


def oracle_corpus(root, seed: int, shards: int = 4, per_shard: int = 60, with_scores: bool = True) -> None:
    """Many clusters of different shapes: originals with near copies, chains of copies each edited from the
    previous (so the ends are far apart but the whole chain is one component), exact repeats, numeric
    tables, empty and one-word texts; with a keeper score per document (ties included)."""
    rng = random.Random(seed)
    pool: list[list[str]] = []
    docs: list[list[dict]] = [[] for _ in range(shards)]
    for i in range(shards * per_shard):
        kind = rng.random()
        if pool and kind < 0.25:
            words = edited(rng.choice(pool), rng.choice([0.01, 0.03, 0.05, 0.1]), rng)
        elif pool and kind < 0.4:
            words = edited(pool[-1], 0.04, rng)  # chains: each from the previous
        elif pool and kind < 0.45:
            words = list(rng.choice(pool))
        elif kind < 0.5:
            words = [" ".join(f"{rng.randint(0, 999)}" for _ in range(6)) for _ in range(30)]
        elif kind < 0.53:
            words = rng.choice([[], ["alone"]])
        else:
            words = [rng.choice(VOCAB) for _ in range(rng.randint(40, 160))]
        if len(words) >= 10:
            pool.append(words)
        docs[rng.randrange(shards)].append({"id": f"d{i}", "text": " ".join(words)})
    for s, shard in enumerate(docs):
        write_docs(f"{root}/documents/{s:02d}.jsonl.gz", shard)
        if with_scores:
            rows = [{"id": d["id"], "attributes": {"q": [[0, 1, rng.choice([0.1, 0.5, 0.5, 0.9])]]}} for d in shard]
            write_docs(f"{root}/attributes/quality/{s:02d}.jsonl.gz", rows)


def cluster_columns(root) -> dict[str, np.ndarray]:
    rows = attribute_rows(root)
    return {
        name: np.array([r["attributes"][f"minhash_{name}"][0][2] for r in rows])
        for name in ("duplicate", "cluster_id", "cluster_size")
    }


@pytest.mark.parametrize(
    ("seed", "verify", "keeper", "split"),
    [
        (1, "estimated", False, ["--processes", "1"]),
        (2, "estimated", True, ["--processes", "2"]),
        (3, "exact", True, ["--processes", "1", "--minhash.hash_ranges", "3", "--minhash.edge_partitions", "4"]),
        (4, "estimated", True, ["--processes", "2", "--minhash.hash_ranges", "5", "--minhash.edge_partitions", "3"]),
        (5, "none", False, ["--processes", "1", "--minhash.band_tasks", "7", "--minhash.edge_partitions", "2"]),
        (6, "exact", False, ["--processes", "2", "--minhash.band_tasks", "3", "--minhash.hash_ranges", "2"]),
    ],
)
def test_partitioned_stages_equal_the_single_process_oracle(tmp_path, seed, verify, keeper, split):
    oracle_corpus(tmp_path, seed)
    extra = ["--minhash.keeper.experiment", "quality", "--minhash.keeper.attribute", "q"] if keeper else []
    assert run(tmp_path, "--minhash.verify", verify, *extra, *split) == 0
    got = cluster_columns(tmp_path)
    (work,) = glob.glob(f"{tmp_path}/work/minhash-near/*")
    paths = [f"{work}/signatures/{os.path.basename(p)}" for p in sorted(glob.glob(f"{work}/signatures/*"))]
    order = {read_table(p, ["shard"]).column(0)[0].as_py(): p for p in paths}
    signature_paths = [order[p] for p in sorted(order)]
    bands, _ = choose_bands(MinhashConfig())
    expected = cluster_facts(signature_paths, bands, verify, 0.7, by_score=keeper)
    for name, values in expected.items():
        assert got[name].tolist() == values.tolist(), name
    assert (got["cluster_size"] > 2).sum() > 5  # the corpus has real multi-member clusters
    assert len(np.unique(got["cluster_id"][got["cluster_size"] > 1])) > 10


def numeric_table(rng: random.Random) -> str:
    rows = [f"{region} {' '.join(str(rng.randint(10_000, 99_999)) for _ in range(6))}" for region in VOCAB[:25]]
    return "Quarterly figures by region, in thousands\n" + "\n".join(rows)


@pytest.mark.parametrize(
    ("extra", "tables_merged"),
    [
        ([], False),  # the default keeps digits: different numbers are different tables
        (["--minhash.fold_digits", "true", "--minhash.verify", "none"], True),
        (["--minhash.fold_digits", "true"], False),  # folded for the buckets, caught by verification
        (["--minhash.fold_digits", "true", "--minhash.verify", "exact"], False),
    ],
)
def test_tables_of_different_numbers_are_not_near_duplicates(tmp_path, extra, tables_merged):
    rng = random.Random(7)
    tables = [numeric_table(rng) for _ in range(6)]
    near = tables[0].replace(tables[0].split()[8], "1", 1)  # one cell of 150 changed: a true near-duplicate
    docs = [{"id": f"t{i}", "text": t} for i, t in enumerate(tables)] + [{"id": "near", "text": near}]
    write_docs(f"{tmp_path}/documents/00.jsonl.gz", docs)
    assert run(tmp_path, *extra) == 0
    dup = {r["id"]: r["attributes"]["minhash_duplicate"][0][2] for r in attribute_rows(tmp_path)}
    assert dup["near"] == 1 and dup["t0"] == 0
    assert [dup[f"t{i}"] for i in range(1, 6)] == [int(tables_merged)] * 5


def test_empty_texts_are_never_near_duplicates_of_each_other(tmp_path):
    for shard in ("00", "01"):  # the same position in each shard's batch: they used to share band hashes
        write_docs(
            f"{tmp_path}/documents/{shard}.jsonl.gz",
            [{"id": f"e{shard}", "text": ""}, {"id": f"w{shard}", "text": f"words {shard}"}],
        )
    assert run(tmp_path) == 0
    assert {r["attributes"]["minhash_cluster_size"][0][2] for r in attribute_rows(tmp_path)} == {1}


def test_band_tasks_follow_the_cluster_and_fit_the_memory_budget():
    from dolma.dedup.bands import BYTES_PER_ENTRY

    groups, ranges = plan_band_tasks(20_000, 32, workers=2, memory_bytes=2 << 30)
    assert (len(groups), ranges) == (2, 1)  # a small corpus: one task per worker, as before
    groups, ranges = plan_band_tasks(20_000, 32, workers=200, memory_bytes=2 << 30)
    assert len(groups) * ranges >= 200 and len(groups) == 32
    for documents in (10**8, 10**9, 10**10):
        groups, ranges = plan_band_tasks(documents, 32, workers=64, memory_bytes=1 << 30)
        widest = max(len(g) for g in groups)
        assert documents * widest / ranges * BYTES_PER_ENTRY <= 1 << 30
        assert sorted(b for g in groups for b in g) == list(range(32))
    assert plan_band_tasks(10**9, 32, workers=64, memory_bytes=1 << 30) == ([(b,) for b in range(32)], 45)


def test_a_band_task_reads_each_signature_file_once_with_only_its_columns(s3_bucket, monkeypatch):
    planted_corpus(s3_bucket, shards=3, per_shard=150)
    assert run(s3_bucket) == 0  # the signature files hold signatures too (1 KB a document)
    (edge_path,) = [p for p in io.glob(f"{s3_bucket}/work/minhash-near/*/edges/**/*.parquet")]
    signature_paths = sorted(io.glob(f"{s3_bucket}/work/minhash-near/*/signatures/*.parquet"))
    opened: Counter[str] = Counter()
    fetched: Counter[str] = Counter()
    original_init, original_read = stage_files._RangedS3File.__init__, stage_files._RangedS3File.read

    def counting_init(self, path):
        opened[path] += 1
        original_init(self, path)

    def counting_read(self, size=-1):
        data = original_read(self, size)
        fetched[f"s3://{self.bucket}/{self.key}"] += len(data)
        return data

    monkeypatch.setattr(stage_files._RangedS3File, "__init__", counting_init)
    monkeypatch.setattr(stage_files._RangedS3File, "read", counting_read)
    offsets = np.cumsum([0] + [stage_files.num_rows(p) for p in signature_paths])
    opened.clear()
    fetched.clear()
    task = BandTask(
        (0, 1, 2),
        0,
        1,
        tuple(signature_paths),
        tuple(int(x) for x in offsets),
        edge_path + ".again",
        "none",
        0.7,
        256,
        1 << 30,
    )
    task.run(lambda docs, nbytes: None)
    assert {p: opened[p] for p in signature_paths} == {p: 1 for p in signature_paths}
    for path in signature_paths:
        # the footer (pyarrow reads the last 64 KB) and 3 band columns, not the other 29 or the signatures
        assert fetched[path] < (64 << 10) + io.size(path) / 8
