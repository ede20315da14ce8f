"""fastText supervised prediction in numpy: the same labels and probabilities as fastText 0.9.2's ``predict``,
for less CPU (1.4-3.3x less on real text, see the "Language ID" section of ``benchmarks/RESULTS.md``).

fastText spends nearly all of a prediction summing, for every token, the input rows of the word and of each of
its character n-grams. Tokens repeat (Zipf), so this module keeps the summed row vector of every distinct token
it has seen (bounded: the cache is cleared past ``MAX_CACHED_TOKENS``), computes the n-gram ids of a batch's new
tokens in one vectorised pass (FNV-1a over byte windows), and scores a whole batch with one matrix product and
a few array operations over the label tree. The model file is read here (its format is fastText's
``FastText::saveModel``); models it cannot reproduce exactly (other losses, word n-grams, a quantized output
layer, unsupervised models, a file that does not parse to the byte) make :func:`load` return None, and callers
keep using the ``fasttext`` module.

Reproduced from fastText's source, step by step: the tokenizer (runs of bytes other than space, ``\\n``, ``\\r``,
``\\t``, ``\\v``, ``\\f``, ``\\0``, plus the end-of-sentence token ``</s>``), label tokens skipped, subword ids
(FNV-1a 32-bit over sign-extended bytes, modulo ``bucket``, mapped through the pruning index), the hidden
vector as the mean of the input rows, the hierarchical-softmax tree search with its pruning bound and
``log(p + 1e-5)`` scores in float32, and softmax's ``log``/``exp`` round trip (fastText returns ``p + 1e-5``).
The hidden vector is summed in float64 per token rather than in float32 row by row, so probabilities differ
from fastText's by rounding only (about 1e-7, more on very long texts).
"""

from __future__ import annotations

import heapq
import itertools
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, cast

import numpy as np

MAGIC = 793712314
VERSION = 12
LOSS_HS = 1
LOSS_SOFTMAX = 3
MODEL_SUPERVISED = 3
LABEL_PREFIX = "__label__"
EOS = "</s>"
KSUB = 256
FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
MAX_CACHED_TOKENS = 500_000
MAX_CACHE_BYTES = 256 << 20
"""The token cache is cleared when it holds more tokens than either bound allows (vectors are float32)."""
NEW_TOKEN_CHUNK = 16_384
DECODED_INPUT_BYTES = 64 << 20
"""A quantized input matrix this small (lid.176's is 3 MB) is decoded once at load, larger ones row by row."""
SINGLE_THREAD_PRODUCT = 65536 * 4
"""OpenBLAS multiplies on one thread when m * n * k is at most this (SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD)."""
HEADER_BYTES = 64  # magic, version, 12 int32 arguments and a float64

_TOKEN = re.compile("[^ \n\r\t\v\f\0]+")
PYTHON_ONLY_SEPARATORS = (
    "\x00\x1c\x1d\x1e\x1f\x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)
"""Where ``str.split()`` and fastText disagree: the characters only one of them splits on (``\0`` for fastText,
the rest for Python). A text without any of them is tokenized by the much faster ``str.split()``."""
_ASCII_ONLY_SEPARATORS = PYTHON_ONLY_SEPARATORS[:5]
_ASCII_DISAGREEMENT = re.compile(f"[{_ASCII_ONLY_SEPARATORS}]")
_DISAGREEMENT = re.compile(f"[{PYTHON_ONLY_SEPARATORS}]")
_SIGN_EXTENDED = np.array([b if b < 128 else b + 0xFFFFFF00 for b in range(256)], dtype=np.uint32)
_END_OF_LINE = "\x00"
"""Cache key (row 0) of the end-of-sentence token fastText appends to every line: ``\0`` separates words for
fastText, so no word is this."""
_EOL_KEY, _ONCE = (_END_OF_LINE,), (1,)


def tokens(text: str) -> list[str]:
    """fastText's words of ``text`` (``Dictionary::readWord``): maximal runs of characters other than space,
    ``\n``, ``\r``, ``\t``, ``\v``, ``\f`` and ``\0``."""
    if text.isascii():
        if not _ASCII_DISAGREEMENT.search(text):
            return text.split()
    elif not _DISAGREEMENT.search(text):
        return text.split()
    return _TOKEN.findall(text)


def _joined(texts: Sequence[str]) -> str:
    """The texts joined by the end-of-line key, with a key at the end: one string to split or check at once."""
    return f" {_END_OF_LINE} ".join(texts) + f" {_END_OF_LINE}"


def _split_like_python(texts: Sequence[str], joined: str) -> bool:
    """True when ``str.split()`` gives fastText's words of every text (``joined``: the texts joined by the
    end-of-line key, with a key at the end)."""
    return (
        joined.count(_END_OF_LINE) == len(texts)
        and not any(separator in joined for separator in _ASCII_ONLY_SEPARATORS[1:])
        and (joined.isascii() or not any(_DISAGREEMENT.search(text) for text in texts if not text.isascii()))
    )


def _batch_words(texts: Sequence[str]) -> list[str]:
    """The words of every text, each text's followed by the end-of-line key. One ``str.split()`` of the texts
    joined by the key does it when Python splits them as fastText does, else each text goes on its own."""
    joined = _joined(texts)
    if _split_like_python(texts, joined):
        return joined.split()
    words: list[str] = []
    for text in texts:
        words += tokens(text)
        words.append(_END_OF_LINE)
    return words


class Predictions(NamedTuple):
    """A batch's predictions: ``probabilities[i, j]`` is label ``j``'s probability for text ``i`` as fastText
    returns it (0 where fastText returns nothing: below the threshold or beyond the ``k`` best), ``top[i]`` the
    column of the most probable returned label (-1 if none)."""

    probabilities: np.ndarray
    top: np.ndarray


class _Unsupported(Exception):
    """The file is not a model this module reproduces exactly."""


class _Reader:
    """Little-endian fields read in order from the model file's bytes."""

    def __init__(self, data: bytes) -> None:
        self.raw = data
        self.data = memoryview(data)  # slices of a view copy nothing: a large matrix is read in place
        self.pos = 0

    def take(self, size: int) -> memoryview:
        if size < 0 or self.pos + size > len(self.data):
            raise _Unsupported("truncated")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def scalar(self, fmt: str) -> int | float:
        (value,) = struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))
        return value

    def integer(self, fmt: str) -> int:
        return int(self.scalar(fmt))

    def array(self, dtype: str, count: int) -> np.ndarray:
        kind = np.dtype(dtype).newbyteorder("<")
        return np.frombuffer(self.take(count * kind.itemsize), dtype=kind).astype(kind.newbyteorder("="), copy=False)

    def cstring(self) -> bytes:
        end = self.raw.find(b"\0", self.pos)
        if end < 0:
            raise _Unsupported("truncated")
        word = self.raw[self.pos : end]
        self.pos = end + 1
        return word


@dataclass(frozen=True)
class _ProductQuantizer:
    """fastText's product quantizer: ``nsubq`` sub-vectors of ``dsub`` dimensions (``lastdsub`` for the last),
    each one of 256 centroids."""

    dim: int
    nsubq: int
    dsub: int
    lastdsub: int
    centroids: np.ndarray

    @classmethod
    def read(cls, reader: _Reader) -> _ProductQuantizer:
        dim, nsubq, dsub, lastdsub = (reader.integer("i") for _ in range(4))
        if dim <= 0 or nsubq <= 0 or dsub <= 0 or not 0 < lastdsub <= dsub or (nsubq - 1) * dsub + lastdsub != dim:
            raise _Unsupported("product quantizer sizes")
        return cls(dim, nsubq, dsub, lastdsub, reader.array("f4", dim * KSUB))

    def centroid_table(self, m: int) -> np.ndarray:
        """The 256 centroids of sub-quantizer ``m`` as rows (fastText's ``get_centroids(m, i)``)."""
        if m == self.nsubq - 1:
            start = m * KSUB * self.dsub
            return self.centroids[start : start + KSUB * self.lastdsub].reshape(KSUB, self.lastdsub)
        return self.centroids[m * KSUB * self.dsub : (m + 1) * KSUB * self.dsub].reshape(KSUB, self.dsub)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Rows of ``nsubq`` codes each -> float32 vectors of ``dim``."""
        out = np.empty((len(codes), self.dim), dtype=np.float32)
        for m in range(self.nsubq):
            out[:, m * self.dsub : m * self.dsub + (self.lastdsub if m == self.nsubq - 1 else self.dsub)] = (
                self.centroid_table(m)[codes[:, m]]
            )
        return out


class _InputMatrix:
    """Input rows, dense or product-quantized (optionally with quantized norms; decoded once if small, else row
    by row when asked for)."""

    def __init__(self, reader: _Reader, quantized: bool, dim: int) -> None:
        self.dense: np.ndarray | None = None
        self.pq: _ProductQuantizer | None = None
        self.norm_pq: _ProductQuantizer | None = None
        if not quantized:
            rows, cols = reader.integer("q"), reader.integer("q")
            if rows < 0 or cols != dim:
                raise _Unsupported("input matrix sizes")
            self.rows = rows
            self.dense = reader.array("f4", rows * cols).reshape(rows, cols)
            return
        qnorm = reader.integer("B")
        rows, cols, codesize = reader.integer("q"), reader.integer("q"), reader.integer("i")
        if qnorm not in (0, 1) or rows < 0 or cols != dim:
            raise _Unsupported("quantized input sizes")
        codes = reader.array("u1", codesize)
        self.pq = _ProductQuantizer.read(reader)
        if self.pq.dim != dim or codesize != rows * self.pq.nsubq:
            raise _Unsupported("quantized input sizes")
        self.rows = rows
        self.codes = codes.reshape(rows, self.pq.nsubq)
        if qnorm:
            self.norm_codes = reader.array("u1", rows)
            self.norm_pq = _ProductQuantizer.read(reader)
            if self.norm_pq.dim != 1 or self.norm_pq.nsubq != 1:
                raise _Unsupported("norm quantizer sizes")
        if rows * dim * 4 <= DECODED_INPUT_BYTES:
            self.dense = self._decode(np.arange(rows))

    def take(self, ids: np.ndarray) -> np.ndarray:
        """The float32 input rows ``ids``, as fastText adds them to the hidden vector."""
        return self.dense[ids] if self.dense is not None else self._decode(ids)

    def _decode(self, ids: np.ndarray) -> np.ndarray:
        assert self.pq is not None
        vectors = self.pq.decode(self.codes[ids])
        if self.norm_pq is not None:
            vectors *= self.norm_pq.centroids[self.norm_codes[ids]][:, None]
        return vectors


@dataclass(frozen=True)
class _Level:
    """The nodes at one depth of the hierarchical-softmax tree: their parents and the column of the edge term
    that leads to them (left edges first, then right edges)."""

    nodes: np.ndarray
    parents: np.ndarray
    terms: np.ndarray


class FastTextNumpy:
    """A supported supervised fastText model, read from the bytes of its file. Build with :func:`load`."""

    def __init__(self, data: bytes, max_cached_tokens: int = MAX_CACHED_TOKENS) -> None:
        reader = _Reader(data)
        self.dim, self.loss, self.bucket, self.minn, self.maxn = _read_args(reader)
        dim = self.dim
        self._read_dictionary(reader)
        quantized = reader.integer("B")
        if quantized not in (0, 1) or (not quantized and self.prune_size >= 0):
            raise _Unsupported("input flag")  # fastText refuses a pruned dictionary with a dense input matrix
        self.input = _InputMatrix(reader, bool(quantized), dim)
        if self.input.rows != self.nwords + (self.bucket if self.prune_size < 0 else self.prune_size):
            raise _Unsupported("input rows")  # a word per vocabulary entry, then a bucket per (kept) n-gram
        if self.prune_size > 0 and (
            self.prune_values.min() < 0 or self.prune_values.max() >= self.input.rows - self.nwords
        ):
            raise _Unsupported("pruning index out of the input matrix")
        if reader.integer("B") and quantized:
            raise _Unsupported("quantized output layer")
        rows, cols = reader.integer("q"), reader.integer("q")
        if rows != len(self.labels) or cols != dim:
            raise _Unsupported("output matrix sizes")
        self.output = reader.array("f4", rows * cols).reshape(rows, cols).astype(np.float64)
        if reader.pos != len(data):
            raise _Unsupported("trailing bytes")
        if self.loss == LOSS_HS:
            self._build_tree()
        self.max_cached_tokens = max(1, min(max_cached_tokens, MAX_CACHE_BYTES // (4 * dim)))
        self._reset_cache()

    def _read_dictionary(self, reader: _Reader) -> None:
        size, nwords, nlabels = reader.integer("i"), reader.integer("i"), reader.integer("i")
        reader.integer("q")
        self.prune_size = reader.integer("q")
        if nwords < 0 or nlabels <= 0 or size != nwords + nlabels or self.prune_size < -1:
            raise _Unsupported("dictionary sizes")
        self.nwords = nwords
        self.word_ids: dict[str, int] = {}
        self.labels: list[str] = []
        counts = []
        for i in range(size):
            word = reader.cstring().decode("utf-8", "surrogateescape")
            count, kind = reader.integer("q"), reader.integer("b")
            if kind != (0 if i < nwords else 1):
                raise _Unsupported("dictionary order")  # fastText sorts words before labels
            if kind == 0:
                self.word_ids.setdefault(word, i)
            else:
                self.labels.append(word)
                counts.append(count)
        self.label_words = set(self.labels)
        if EOS in self.word_ids:
            self.word_ids[_END_OF_LINE] = self.word_ids[EOS]
        self.label_counts = np.array(counts, dtype=np.int64)
        pairs = reader.array("i4", 2 * max(self.prune_size, 0)).reshape(-1, 2).astype(np.int64)
        if self.prune_size > 0 and (pairs[:, 0].min() < 0 or pairs[:, 0].max() >= self.bucket):
            raise _Unsupported("pruning index out of the buckets")
        self.pruned_ids = np.full(self.bucket if self.prune_size > 0 else 0, -1, dtype=np.int32)
        self.pruned_ids[pairs[:, 0]] = pairs[:, 1]  # fastText keeps a pruned model's n-gram only if listed here
        self.prune_values = pairs[:, 1]

    def _build_tree(self) -> None:
        """fastText's Huffman tree over the label counts (``HierarchicalSoftmaxLoss::buildTree``), as levels."""
        osz = len(self.labels)
        count = np.full(2 * osz - 1, 10**15, dtype=np.int64)
        count[:osz] = self.label_counts
        left = np.full(2 * osz - 1, -1)
        right = np.full(2 * osz - 1, -1)
        leaf, node = osz - 1, osz
        for i in range(osz, 2 * osz - 1):
            pair = []
            for _ in range(2):
                if leaf >= 0 and count[leaf] < count[node]:
                    pair.append(leaf)
                    leaf -= 1
                else:
                    pair.append(node)
                    node += 1
            left[i], right[i] = pair
            count[i] = count[pair[0]] + count[pair[1]]
        self.left, self.right = left.tolist(), right.tolist()
        self.left_nodes, self.right_nodes = left, right
        self.levels: list[_Level] = []
        frontier = [2 * osz - 2]
        while parents := [n for n in frontier if left[n] >= 0]:
            nodes = [int(left[n]) for n in parents] + [int(right[n]) for n in parents]
            terms = [n - osz for n in parents] + [n - osz + osz - 1 for n in parents]
            self.levels.append(_Level(np.array(nodes), np.array(parents + parents), np.array(terms)))
            frontier = nodes
        self.margin = np.float32((len(self.levels) + 1) * 2e-5)
        """Leaf scores closer than this may be ordered differently by fastText's k-best search, which stops
        at a node scoring below the k-th best leaf found so far though its leaves can score up to about 1e-5
        per level above it: such rows are searched exactly as fastText does."""

    def _reset_cache(self) -> None:
        self._index = {_END_OF_LINE: 0}
        self._vectors = np.zeros((self.dim, 1024), dtype=np.float32)  # a column per token: texts sum along rows
        self._counts = np.zeros(1024, dtype=np.float64)
        self._add_tokens([_END_OF_LINE], 0)

    def subword_ids(self, token: str) -> list[int]:
        """The input rows fastText sums for ``token``: ``get_subwords(token)``'s ids for a word (its id if in the
        vocabulary, then its n-grams), none for a label."""
        (wid,), (inputs,) = self._classify([token])
        grams, _ = self._ngram_rows([token]) if inputs else (np.zeros(0, dtype=np.int64), None)
        return ([wid] if wid >= 0 else []) + grams.tolist()

    def _classify(self, tokens: list[str]) -> tuple[list[int], list[bool]]:
        """Each token's vocabulary id (-1 if unknown or a label), and whether its character n-grams are inputs:
        fastText skips labels (a label of the model, or an unknown token with the label prefix) and gives
        ``</s>`` (the end-of-line key stands for it) only its id."""
        wids = list(map(self.word_ids.get, tokens, itertools.repeat(-1)))
        labels = self.label_words
        if labels.isdisjoint(tokens) and LABEL_PREFIX not in _END_OF_LINE.join(tokens):
            inputs = [True] * len(tokens)  # the common case, decided by two C-level scans
            for special in (EOS, _END_OF_LINE):
                if special in tokens:
                    inputs[tokens.index(special)] = False
            return wids, inputs
        inputs = [
            token != EOS
            and token != _END_OF_LINE
            and (wid >= 0 or not (token in labels or token.startswith(LABEL_PREFIX)))
            for token, wid in zip(tokens, wids, strict=True)
        ]
        return wids, inputs

    def _ngram_rows(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """fastText's ``computeSubwords`` for many words at once: the input rows of the character n-grams of
        ``"<" + word + ">"`` (n = minn..maxn characters, UTF-8 aware) and the index of the word of each, in
        fastText's order (by word, start character, then length)."""
        empty = np.zeros(0, dtype=np.int64)
        if not words or self.maxn <= 0 or self.prune_size == 0:
            return empty, empty
        # words never hold a NUL (it separates words for fastText), so NULs between them mark where each ends
        encoded = np.frombuffer(("<" + ">\0<".join(words) + ">").encode("utf-8", "surrogatepass"), dtype=np.uint8)
        boundary = encoded == 0
        data = encoded[~boundary]
        byte_word = np.cumsum(boundary)[~boundary]
        starts = np.flatnonzero((data & 0xC0) != 0x80)
        nchars = len(starts)
        char_len = np.diff(np.append(starts, len(data)))
        char_word = byte_word[starts]
        new_word = np.ones(nchars + 1, dtype=bool)
        new_word[1:-1] = char_word[1:] != char_word[:-1]
        signed = _SIGN_EXTENDED[data]
        lead = signed[starts]  # each character's first byte
        continuation = []  # per byte index j >= 1: the characters longer than j, and their j-th byte
        for j in range(1, int(char_len.max())):
            longer = np.flatnonzero(char_len > j)
            continuation.append((longer, signed[starts[longer] + j]))
        h = np.full(nchars, FNV_OFFSET, dtype=np.uint32)
        inside = np.ones(nchars, dtype=bool)  # the n-gram starting at this character fits in its word
        prime, bucket = np.uint32(FNV_PRIME), np.uint32(self.bucket)
        found_ids, found_keys = [], []
        for n in range(1, min(self.maxn, nchars) + 1):
            count = nchars - n + 1  # n-grams start at characters 0..count-1 and end at n-1..nchars-1
            h, inside = h[:count], inside[:count]
            if n > 1:
                inside &= char_word[n - 1 :] == char_word[:count]
            h ^= lead[n - 1 :]
            h *= prime
            for longer, byte in continuation:
                lo = np.searchsorted(longer, n - 1)
                at = longer[lo:] - (n - 1)
                h[at] = (h[at] ^ byte[lo:]) * prime
            if n < self.minn:
                continue
            start = np.flatnonzero(inside & ~(new_word[:count] | new_word[1 : count + 1]) if n == 1 else inside)
            ids = (h[start] % bucket).astype(np.int64)
            if self.prune_size > 0:  # a pruned model keeps few n-grams: drop the others before going on
                ids = self.pruned_ids[ids].astype(np.int64)
                start, ids = start[ids >= 0], ids[ids >= 0]
            found_ids.append(ids)
            found_keys.append(start * self.maxn + (n - 1))
        if not found_ids:
            return empty, empty
        keys = np.concatenate(found_keys)
        order = np.argsort(keys)  # by start character (so by word), then length: fastText's order
        ids = np.concatenate(found_ids)[order]
        owners = char_word[keys[order] // self.maxn]
        return self.nwords + ids, owners

    def _add_tokens(self, tokens: list[str], first_row: int) -> None:
        """Sum the input rows of each new token into its cache column, and count them (in chunks, so that the
        n-gram rows of a huge batch of new tokens never sit in memory at once)."""
        end = first_row + len(tokens)
        if end > len(self._counts):
            size = max(end, 2 * len(self._counts))
            grown = np.zeros((self.dim, size - len(self._counts)), dtype=np.float32)
            self._vectors = np.concatenate([self._vectors, grown], axis=1)
            self._counts = np.concatenate([self._counts, np.zeros(size - len(self._counts))])
        for offset in range(0, len(tokens), NEW_TOKEN_CHUNK):
            chunk = tokens[offset : offset + NEW_TOKEN_CHUNK]
            first = first_row + offset
            sums = np.zeros((self.dim, len(chunk)))
            counts = np.zeros(len(chunk))
            wids, inputs = self._classify(chunk)
            known = np.array(wids, dtype=np.int64)
            at = np.flatnonzero(known >= 0)
            sums[:, at] = self.input.take(known[at]).T
            counts[at] = 1
            grams = [token for token, used in zip(chunk, inputs, strict=True) if used]
            rows, owners = self._ngram_rows(grams)
            if len(rows):
                positions = np.flatnonzero(inputs)[owners]
                group = np.flatnonzero(np.append(True, positions[1:] != positions[:-1]))
                vectors = np.ascontiguousarray(self.input.take(rows).T)
                sums[:, positions[group]] += np.add.reduceat(vectors, group, axis=1, dtype=np.float64)
                counts[positions[group]] += np.diff(np.append(group, len(rows)))
            self._vectors[:, first : first + len(chunk)] = sums
            self._counts[first : first + len(chunk)] = counts

    def hidden(
        self, texts: Sequence[str], word_counts: Sequence[Mapping[str, int] | None] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """fastText's hidden vector of each text (the mean of its input rows; ``get_sentence_vector``), and
        whether the text has any input row (fastText predicts nothing for a text without one). Newlines
        separate words like spaces (fastText's ``predict`` refuses them).

        ``word_counts``, when given for every text, holds the counts of its ``str.split()`` words (a tagger
        that ran before on the same batch counted them): where Python splits the batch as fastText does, each
        distinct word of a text is then looked up once and weighted by its count, instead of every word."""
        if not len(texts):
            return np.zeros((0, self.dim)), np.zeros(0, dtype=bool)
        if len(self._index) > self.max_cached_tokens:
            self._reset_cache()
        index = self._index
        weights = None
        if word_counts is not None and all(c is not None for c in word_counts):
            counted = cast(Sequence[Mapping[str, int]], word_counts)
            if _split_like_python(texts, _joined(texts)):
                words = list(itertools.chain.from_iterable(itertools.chain(c, _EOL_KEY) for c in counted))
                occurrences = itertools.chain.from_iterable(itertools.chain(c.values(), _ONCE) for c in counted)
                weights = np.fromiter(occurrences, dtype=np.float64, count=len(words))
        if weights is None:
            words = _batch_words(texts)
        rows = np.fromiter(map(index.get, words, itertools.repeat(-1)), dtype=np.int64, count=len(words))
        missing = np.flatnonzero(rows < 0)
        if len(missing):
            unknown = [words[i] for i in missing.tolist()]
            new = list(dict.fromkeys(unknown))
            index.update(zip(new, range(len(index), len(index) + len(new)), strict=True))
            self._add_tokens(new, len(index) - len(new))
            rows[missing] = np.fromiter(map(index.__getitem__, unknown), dtype=np.int64, count=len(unknown))
        starts = np.concatenate([[0], np.flatnonzero(rows == 0)[:-1] + 1])  # row 0: the end of each text
        vectors: np.ndarray = self._vectors.take(rows, axis=1)
        counts = self._counts.take(rows)
        if weights is not None:
            vectors = vectors * weights  # float64 from here, as the sums below are
            counts *= weights
        sums = np.add.reduceat(vectors, starts, axis=1, dtype=np.float64)
        counts = np.add.reduceat(counts, starts)
        return (sums / np.maximum(counts, 1.0)).T, counts > 0

    def predict(
        self,
        texts: Sequence[str],
        k: int = 1,
        threshold: float = 0.0,
        word_counts: Sequence[Mapping[str, int] | None] | None = None,
    ) -> Predictions:
        """fastText's ``predict(texts, k, threshold)`` for a batch, as a probability matrix (see
        :class:`Predictions`); ``k = -1`` returns every label at or above the threshold. ``word_counts``: see
        :meth:`hidden`."""
        if k == 0 or k < -1:
            raise ValueError("k: a positive number of labels, or -1 for all")
        hidden, has_input = self.hidden(texts, word_counts)
        osz, n = len(self.labels), len(texts)
        k = osz if k < 0 or k > osz else k
        limit = np.float32(threshold)
        bound = np.float32(np.log(np.float64(limit) + 1e-5))  # fastText's std_log(threshold)
        if self.loss == LOSS_HS and k == 1 < osz:
            with np.errstate(over="ignore", divide="ignore"):
                return self._predict_best(hidden, has_input, bound)
        with np.errstate(over="ignore", divide="ignore"):  # labels and texts run down and across from here
            logits = self._logits(hidden, osz - 1 if self.loss == LOSS_HS else osz)
            if self.loss == LOSS_HS:
                scores, kept, terms = self._tree_scores(logits, bound)
            else:
                scores, kept = self._softmax_scores(logits, limit)
        kept &= has_input
        masked = np.where(kept, scores, np.float32(-np.inf))
        columns = np.arange(n)
        if k < osz:
            chosen = np.zeros_like(kept)
            if k == 1:
                first = np.argmax(masked, axis=0)
                kth = masked[first, columns]
                masked[first, columns] = -np.inf
                runner_up = masked.max(axis=0)
                chosen[first, columns] = True
            else:
                best = np.argpartition(-masked, [k - 1, k], axis=0)
                kth, runner_up = masked[best[k - 1], columns], masked[best[k], columns]
                chosen[best[:k], columns] = True
            kept &= chosen
            if self.loss == LOSS_HS:
                with np.errstate(invalid="ignore"):  # -inf - -inf: fewer than k + 1 labels reached
                    near = np.isfinite(runner_up) & (kth - runner_up < self.margin)
                for text in np.flatnonzero(near):  # fastText's search may order these differently: redo them
                    kept[:, text] = False
                    kept[self._depth_first(terms[:, text], k, bound), text] = True
            masked = np.where(kept, scores, np.float32(-np.inf))
        top = np.where(kept.any(axis=0), np.argmax(masked, axis=0), -1)
        if k == 1:
            probabilities = np.zeros((n, osz))
            found = np.flatnonzero(top >= 0)
            probabilities[found, top[found]] = np.exp(scores[top[found], found])
        else:
            probabilities = np.where(kept, np.exp(scores), np.float32(0)).T.astype(np.float64)
        return Predictions(probabilities, top)

    def _logits(self, hidden: np.ndarray, rows: int) -> np.ndarray:
        """``output[:rows] @ hidden.T`` as float32, in products small enough that OpenBLAS runs each on the
        calling thread: its worker threads spin between calls, doubling the CPU time of a tagging run."""
        weights = self.output[:rows]
        step = max(1, SINGLE_THREAD_PRODUCT // max(1, rows * self.dim))
        if len(hidden) <= step:
            return (weights @ hidden.T).astype(np.float32)
        return np.concatenate([weights @ hidden[i : i + step].T for i in range(0, len(hidden), step)], axis=1).astype(
            np.float32
        )

    def _tree_scores(self, logits: np.ndarray, bound: np.float32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Leaf scores (sums of ``log(p + 1e-5)`` along the path, in float32 as fastText adds them), whether
        fastText's search reaches each leaf (no node on its path scores below ``bound``), and the edge terms
        (left edges, then right edges), each one row per node and one column per text."""
        osz, n = len(self.labels), logits.shape[1]
        terms = np.empty((2 * (osz - 1), n), dtype=np.float32)
        terms[: osz - 1], terms[osz - 1 :] = _edge_terms(logits)
        scores = np.zeros((2 * osz - 1, n), dtype=np.float32)
        reached = np.zeros((2 * osz - 1, n), dtype=bool)
        reached[2 * osz - 2] = np.float32(0) >= bound
        for level in self.levels:
            scores[level.nodes] = scores[level.parents] + terms[level.terms]
            reached[level.nodes] = reached[level.parents] & (scores[level.nodes] >= bound)
        return scores[:osz], reached[:osz], terms

    def _predict_best(self, hidden: np.ndarray, has_input: np.ndarray, bound: np.float32) -> Predictions:
        """k = 1 on the tree without scoring every node: a greedy descent finds a reached leaf, whose score (less
        the margin a path can still gain) bounds the best from below; then only nodes scoring above that bound
        are expanded, level by level. The same float32 sums as :meth:`_tree_scores`, the same near-tie rule."""
        osz, n = len(self.labels), len(hidden)
        root = 2 * osz - 2
        node = np.full(n, root)
        score = np.zeros(n, dtype=np.float32)
        reached = has_input & (np.float32(0) >= bound)
        active = np.arange(n)
        while len(active):
            left, right = _edge_terms(np.einsum("ij,ij->i", hidden[active], self.output[node[active] - osz]))
            go_right = right > left
            score[active] += np.where(go_right, right, left)
            node[active] = np.where(go_right, self.right_nodes[node[active]], self.left_nodes[node[active]])
            reached[active] &= score[active] >= bound
            active = active[node[active] >= osz]
        floor = np.maximum(np.where(reached, score - self.margin, np.float32(-np.inf)), bound)
        best = np.full(n, -np.inf, dtype=np.float32)
        second = np.full(n, -np.inf, dtype=np.float32)
        top = np.full(n, -1)
        text = np.flatnonzero(has_input & (np.float32(0) >= bound))
        node, score = np.full(len(text), root), np.zeros(len(text), dtype=np.float32)
        while len(text):
            leaf = node < osz
            _keep_two_best(best, second, top, text[leaf], node[leaf], score[leaf])
            text, node, score = text[~leaf], node[~leaf], score[~leaf]
            left, right = _edge_terms(np.einsum("ij,ij->i", hidden[text], self.output[node - osz]))
            text = np.concatenate([text, text])
            score = np.concatenate([score + left, score + right])
            node = np.concatenate([self.left_nodes[node], self.right_nodes[node]])
            above = score >= floor[text]
            text, node, score = text[above], node[above], score[above]
        near = np.flatnonzero(np.isfinite(second) & (best - second < self.margin))
        if len(near):  # fastText's search may order these differently: redo them as it does
            scores, _, terms = self._tree_scores(self._logits(hidden[near], osz - 1), bound)
            for j, row in enumerate(near.tolist()):
                leaves = self._depth_first(terms[:, j], 1, bound)
                top[row] = leaves[0] if leaves else -1
                best[row] = scores[leaves[0], j] if leaves else -np.inf
        probabilities = np.zeros((n, osz))
        found = np.flatnonzero(top >= 0)
        probabilities[found, top[found]] = np.exp(best[found])
        return Predictions(probabilities, top)

    def _softmax_scores(self, logits: np.ndarray, limit: np.float32) -> tuple[np.ndarray, np.ndarray]:
        """Softmax in float32 as fastText computes it (sequential sum), kept at or above ``limit``; the score
        is ``log(p + 1e-5)``, so fastText returns ``p + 1e-5``."""
        exps = np.exp(logits - logits.max(axis=0, keepdims=True))
        probabilities = exps / np.cumsum(exps, axis=0)[-1:]
        scores = np.log(probabilities.astype(np.float64) + 1e-5).astype(np.float32)
        return scores, probabilities >= limit

    def _depth_first(self, terms: np.ndarray, k: int, bound: np.float32) -> list[int]:
        """fastText's ``HierarchicalSoftmaxLoss::dfs`` for one text: the labels it returns."""
        osz = len(self.labels)
        heap: list[tuple[np.float32, int]] = []

        def visit(node: int, score: np.float32) -> None:
            if score < bound or (len(heap) == k and score < heap[0][0]):
                return
            if node < osz:
                heapq.heappush(heap, (score, node))
                if len(heap) > k:
                    heapq.heappop(heap)
                return
            visit(self.left[node], np.float32(score + terms[node - osz]))
            visit(self.right[node], np.float32(score + terms[node - osz + osz - 1]))

        visit(2 * osz - 2, np.float32(0))
        return [node for _, node in heap]


def _read_args(reader: _Reader) -> tuple[int, int, int, int, int]:
    """The file header and fastText's ``Args``: (dim, loss, bucket, minn, maxn) of a supported model."""
    if reader.integer("i") != MAGIC or reader.integer("i") != VERSION:
        raise _Unsupported("not a fastText 0.9 model file")
    dim, _ws, _epoch, _min_count, _neg, word_ngrams, loss, model, bucket, minn, maxn, _lr_update = (
        reader.integer("i") for _ in range(12)
    )
    reader.scalar("d")
    if model != MODEL_SUPERVISED or loss not in (LOSS_HS, LOSS_SOFTMAX) or word_ngrams > 1 or dim <= 0:
        raise _Unsupported("not a supervised hs/softmax model without word n-grams")
    if maxn > 0 and bucket <= 0:
        raise _Unsupported("character n-grams without buckets")
    return dim, loss, bucket, minn, maxn


def _edge_terms(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fastText's scores for the left and right edges below internal nodes of these logits: ``log(1 - f + 1e-5)``
    and ``log(f + 1e-5)``, ``f`` the sigmoid, rounded to float32 where fastText stores a float (sigmoid in float32
    is what it computes: each step rounds once, as in double)."""
    one = np.float32(1)
    sigmoid = one / (one + np.exp(-logits.astype(np.float32)))
    left = np.log((one - sigmoid).astype(np.float64) + 1e-5).astype(np.float32)
    return left, np.log(sigmoid.astype(np.float64) + 1e-5).astype(np.float32)


def _keep_two_best(
    best: np.ndarray, second: np.ndarray, top: np.ndarray, text: np.ndarray, node: np.ndarray, score: np.ndarray
) -> None:
    """Fold leaves (several may belong to one text) into each text's best and second-best score."""
    order = np.lexsort((-score, text))
    text, node, score = text[order], node[order], score[order]
    while len(text):
        first = np.append(True, text[1:] != text[:-1])  # each text's best remaining leaf
        t, nd, sc = text[first], node[first], score[first]
        better = sc > best[t]
        second[t] = np.where(better, best[t], np.maximum(second[t], sc))
        top[t[better]] = nd[better]
        best[t] = np.where(better, sc, best[t])
        text, node, score = text[~first], node[~first], score[~first]


def load(path: str, max_cached_tokens: int = MAX_CACHED_TOKENS) -> FastTextNumpy | None:
    """The model at local ``path`` if this module reproduces it exactly, else None (use the fasttext module).
    The header is checked first, so an unsupported model is not read twice."""
    with open(path, "rb") as f:
        try:
            _read_args(_Reader(f.read(HEADER_BYTES)))
            f.seek(0)
            return FastTextNumpy(f.read(), max_cached_tokens)
        except _Unsupported:
            return None
