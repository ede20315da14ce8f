"""The Bloom filter: sizing, measured false-positive rate, exact in-order batch semantics, files."""

from __future__ import annotations

import numpy as np
import pytest

from dolma.dedup.bloom import (
    BATCH,
    MIN_RATE_SIZED_BYTES,
    BloomFilter,
    check_task_memory,
    default_partitions,
    false_positive_rate,
    hash_keys,
    partition_of,
    plan_size,
    read_manifest,
    size_for,
)
from dolma.errors import ConfigError, InputError


def sequential(bloom: BloomFilter, hashes: np.ndarray) -> np.ndarray:
    """The reference: test then insert one key at a time."""
    out = []
    for h in hashes:
        one = np.array([h], dtype=np.uint64)
        hit = bool(bloom.contains(one)[0])
        out.append(hit)
        if not hit:
            bloom.insert(one)
    return np.array(out)


def keys(start: int, stop: int) -> np.ndarray:
    """Distinct byte keys, made fast: each number's little-endian bytes (numpy strips trailing zeros, which
    keeps them distinct)."""
    return np.arange(start, stop, dtype="<u8").view("S8")


def test_sizing_meets_the_requested_rate():
    bits, k = size_for(1_000_000, 0.001)
    assert false_positive_rate(bits, 1_000_000, k) <= 0.001
    assert 14_370_000 < bits < 14_700_000  # optimal: 14.38M bits with 10 hashes; 8 hashes need 1.5% more
    assert k == 8
    bits, k = plan_size(1 << 20, 0, 0.0, key_count=1_000_000)  # size only: hashes chosen for the keys counted
    assert bits == 8 << 20 and k == round(bits / 1_000_000 * 0.6931) == 6
    with pytest.raises(ConfigError, match="size_in_bytes, or estimated_doc_count"):
        plan_size(0, 1000, 0.0, key_count=10)


def test_a_rate_sized_filter_is_never_under_dolmas_one_mebibyte():
    bits, k = plan_size(0, 1000, 0.001, key_count=0)  # dolma's own test configs: 1,000 keys estimated
    assert bits == MIN_RATE_SIZED_BYTES * 8 == 8 << 20 and k == 8
    assert false_positive_rate(bits, 3173, k) < 1e-12  # the 3,173 n-grams they really insert
    assert plan_size(0, 10_000_000, 0.001, key_count=0)[0] == size_for(10_000_000, 0.001)[0]
    assert plan_size(4096, 1000, 0.0, key_count=0)[0] == 4096 * 8  # an explicit size is honoured


def test_partitions_follow_the_filter_size_only():
    assert default_partitions(8 << 20) == 16
    assert default_partitions(2 << 33) == 16  # 2 GiB: parts of 128 MiB
    assert default_partitions(40 << 33) == 160  # 40 GiB: parts of 256 MiB


def test_keys_spread_evenly_over_partitions_and_within_each_part():
    hashes = hash_keys(keys(0, 320_000))
    pids = partition_of(hashes, 16)
    counts = np.bincount(pids, minlength=16)
    assert counts.min() > 0.97 * 20_000 and counts.max() < 1.03 * 20_000
    assert np.array_equal(pids, partition_of(hashes, 16)) and not partition_of(hashes, 1).any()
    part = BloomFilter.empty(1 << 16, 1)  # one partition's keys still cover its bit positions evenly
    positions = part.indices(hashes[pids == 5]).ravel()
    per_quarter = np.bincount(positions >> np.uint64(14), minlength=4)
    assert per_quarter.min() > 0.95 * per_quarter.mean()


def test_a_part_over_the_task_budget_is_refused():
    check_task_memory(256 << 20, 2048 << 20, 16)
    with pytest.raises(ConfigError, match="Raise bloom_filter.partitions"):
        check_task_memory(1900 << 20, 2048 << 20, 16)


def test_measured_false_positive_rate_over_ten_million_absent_keys():
    n, rate = 200_000, 0.01
    bits, k = size_for(n, rate)
    bloom = BloomFilter.empty(bits, k)
    bloom.insert(hash_keys(keys(0, n)))
    absent = 10_000_000
    hits = 0
    for start in range(1 << 40, (1 << 40) + absent, 1_000_000):
        hits += int(bloom.contains(hash_keys(keys(start, start + 1_000_000))).sum())
    measured = hits / absent
    assert measured <= 1.5 * rate, measured
    assert measured >= 0.5 * rate  # the filter is not trivially oversized either


@pytest.mark.parametrize("seed", range(6))
def test_batch_test_and_insert_equals_one_key_at_a_time(seed):
    rng = np.random.default_rng(seed)
    batched, reference = BloomFilter.empty(512, 3), BloomFilter.empty(512, 3)  # tiny: many false positives
    for _ in range(6):
        hashes = rng.integers(0, 200, size=80).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        assert np.array_equal(batched.test_and_insert(hashes), sequential(reference, hashes))
        assert np.array_equal(batched.words, reference.words)


def test_batches_larger_than_the_internal_chunk_keep_one_at_a_time_semantics():
    rng = np.random.default_rng(11)
    hashes = rng.integers(0, 6000, size=BATCH * 2 + 500).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    batched, reference = BloomFilter.empty(1 << 15, 4), BloomFilter.empty(1 << 15, 4)
    assert np.array_equal(batched.test_and_insert(hashes), sequential(reference, hashes))
    assert np.array_equal(batched.words, reference.words)


def test_repeats_inside_a_batch_keep_the_first():
    bloom = BloomFilter.empty(1 << 16, 7)
    hashes = hash_keys([b"a", b"b", b"a", b"c", b"b", b"a"])
    assert bloom.test_and_insert(hashes).tolist() == [False, False, True, False, True, True]
    assert bloom.test_and_insert(hash_keys([b"c", b"d"])).tolist() == [True, False]


def test_save_and_load_round_trip_with_header(tmp_path, s3_bucket):
    bloom = BloomFilter.empty(4096, 5)
    bloom.insert(hash_keys([b"x", b"y"]))
    bloom.header = {"keys": {"mode": "documents"}, "shards": {"a.jsonl": 10}}
    for path in (str(tmp_path / "f.bin"), f"{s3_bucket}/filters/f.bin"):
        bloom.save(path)
        back = BloomFilter.load(path)
        assert back.num_bits == 4096 and back.num_hashes == 5
        assert np.array_equal(back.words, bloom.words)
        assert back.header["shards"] == {"a.jsonl": 10}
        assert back.contains(hash_keys([b"x", b"z"])).tolist() == [True, False]


def test_a_first_format_file_reads_as_a_one_partition_manifest(tmp_path):
    bloom = BloomFilter.empty(4096, 5)
    bloom.header = {"keys": {"mode": "documents"}, "shards": {"a.jsonl": 10}, "keys_inserted": 2}
    bloom.save(str(tmp_path / "f.bin"))
    manifest = read_manifest(str(tmp_path / "f.bin"))
    assert (manifest.partitions, manifest.bits_per_partition, manifest.num_hashes) == (1, 4096, 5)
    assert manifest.parts == (str(tmp_path / "f.bin"),) and manifest.shards == {"a.jsonl": 10}


def test_load_refuses_foreign_files(tmp_path):
    path = tmp_path / "dolma.bin"
    path.write_bytes(b"\x17\xf1\xf0\x81" + b"\x00" * 64)  # allenai/dolma's magic number
    with pytest.raises(InputError, match="not a Bloom filter written by this toolkit"):
        BloomFilter.load(str(path))
    with pytest.raises(InputError, match="not a Bloom filter written by this toolkit"):
        read_manifest(str(path))
