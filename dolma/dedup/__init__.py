"""Deduplication: exact keys through a Bloom filter (:mod:`.exact`) and near-duplicates through MinHash LSH
(:mod:`.minhash`). Both write their decisions as attribute files, so the mixer removes duplicates and users
can inspect them."""
