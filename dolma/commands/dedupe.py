"""``dolma dedupe``: exact dedup with a Bloom filter (allenai/dolma's ``dedupe`` keys) or near-duplicate
clustering with MinHash LSH (our ``minhash`` section). Both write attribute files beside the documents, under
``attributes/<dedupe.name>/``."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from msgspec import Meta

from dolma import io, layout, locks, provenance
from dolma.config import Strict, to_dict
from dolma.dedup import dolma_bloom
from dolma.dedup.bloom import check_task_memory
from dolma.dedup.exact import ExactRun, plan_filter, run_exact
from dolma.dedup.exact_keys import KeySpec, check_key_selects, compile_path
from dolma.dedup.minhash import MinhashConfig, plan_minhash, run_minhash
from dolma.errors import ConfigError
from dolma.execution import Execution, RunConfig
from dolma.executors import make_executor
from dolma.outcome import print_outcome


class NgramConfig(Strict):
    ngram_length: Annotated[int, Meta(description="words per n-gram (0: whole paragraphs)")] = 0
    stride: Annotated[int, Meta(description="words between the starts of consecutive n-grams (0 or 1: all)")] = 0
    overlap_threshold: Annotated[
        float, Meta(description="fraction of a paragraph's n-grams seen before for it to get a span")
    ] = 1.0
    skip_short_paragraphs: Annotated[
        bool, Meta(description="skip paragraphs with fewer than two n-grams instead of hashing them whole")
    ] = False


class ParagraphsConfig(Strict):
    attribute_name: Annotated[str | None, Meta(description="attribute key, e.g. bff_duplicate_paragraph_spans")] = None
    paragraph_separator: Annotated[str, Meta(description="string that separates paragraphs")] = "\n"
    by_ngram: Annotated[NgramConfig | None, Meta(description="dedupe paragraphs by n-gram overlap")] = None


class DocumentsConfig(Strict):
    attribute_name: Annotated[str | None, Meta(description="attribute key, e.g. bff_duplicate_docs")] = None
    key: Annotated[str | None, Meta(description="JSONPath of the dedupe key, e.g. $.text or $.metadata.url")] = None


class DedupeSection(Strict):
    name: Annotated[str | None, Meta(description="attribute directory (default: the attribute_name)")] = None
    documents: Annotated[DocumentsConfig | None, Meta(description="dedupe whole documents by a key")] = None
    paragraphs: Annotated[ParagraphsConfig | None, Meta(description="dedupe paragraphs")] = None
    skip_empty: Annotated[bool, Meta(description="do not dedupe empty (whitespace-only) keys/paragraphs")] = False
    min_length: Annotated[int, Meta(description="do not dedupe keys/paragraphs shorter than this (characters)")] = 0
    min_words: Annotated[int, Meta(description="do not dedupe keys/paragraphs with fewer words than this")] = 0
    num_partitions: Annotated[int, Meta(description="allenai/dolma partitioning; only 1 is supported")] = 1
    partition_index: Annotated[int, Meta(description="allenai/dolma partitioning; only 0 is supported")] = 0
    file_partition: Annotated[bool, Meta(description="allenai/dolma partitioning; only false is supported")] = False
    document_dir: Annotated[
        str,
        Meta(
            description="the directory of the document paths that attributes/<name> replaces (allenai/dolma's key): "
            "<prefix>/<document_dir>/x.json.gz -> <prefix>/attributes/<name>/x.json.gz"
        ),
    ] = "documents"


class BloomFilterConfig(Strict):
    file: Annotated[str, Meta(description="filter file to read and write, local or s3://")]
    read_only: Annotated[
        bool, Meta(description="only mark matches, insert nothing (decontamination against a saved filter)")
    ] = False
    size_in_bytes: Annotated[int, Meta(description="filter size; or estimated_doc_count + rate")] = 0
    estimated_doc_count: Annotated[int, Meta(description="keys the filter is sized for")] = 0
    desired_false_positive_rate: Annotated[float, Meta(description="target false-positive rate")] = 0.0
    partitions: Annotated[
        int,
        Meta(
            description="parts the filter is split into, each decided by its own task (default: from the filter "
            "size, at least 16 and at most 256 MiB a part; an existing filter keeps its own)"
        ),
    ] = 0


class CompressionConfig(Strict):
    input: Annotated[str | None, Meta(description="accepted for compatibility; compression follows extensions")] = None
    output: Annotated[str | None, Meta(description="accepted for compatibility; outputs mirror the input's")] = None


class Config(RunConfig):
    documents: Annotated[list[str], Meta(description="document shard paths or globs, local or s3://")] = []
    dedupe: Annotated[DedupeSection, Meta(description="what to deduplicate (allenai/dolma's keys)")] = DedupeSection()
    bloom_filter: Annotated[BloomFilterConfig | None, Meta(description="the Bloom filter for exact dedup")] = None
    minhash: Annotated[MinhashConfig | None, Meta(description="near-duplicate clustering with MinHash LSH")] = None
    compression: Annotated[CompressionConfig, Meta(description="accepted for compatibility")] = CompressionConfig()
    is_s3_volume: Annotated[bool, Meta(description="accepted for compatibility")] = False
    compat: Annotated[
        str | None,
        Meta(
            description="dolma-1.2: exact-dedup rows as allenai/dolma 1.2.1 writes them (a unique document's "
            "row leaves the key out, a duplicate's span ends at its key's length in bytes, n-gram scores "
            "unrounded); unset: every row has the key, spans cover the text (docs/dedup.md)"
        ),
    ] = None


def key_spec(section: DedupeSection, dolma_compat: bool = False) -> KeySpec:
    """Refuse configs that cannot produce output, saying why; else the key settings."""
    docs, paras = section.documents, section.paragraphs
    if docs is not None and paras is not None:
        raise ConfigError(
            "dedupe: both documents and paragraphs are set; one run dedupes one of them (allenai/dolma's Python "
            "CLI silently ignores paragraphs then). Run twice with different dedupe.name"
        )
    if section.min_length < 0 or section.min_words < 0:
        raise ConfigError("dedupe.min_length and dedupe.min_words must be >= 0")
    if section.num_partitions != 1 or section.partition_index != 0 or section.file_partition:
        raise ConfigError(
            "dedupe.num_partitions/partition_index/file_partition: not needed here (the filter is built in one "
            "pass with exact order); leave them unset"
        )
    common: dict[str, Any] = {
        "skip_empty": section.skip_empty,
        "min_length": section.min_length,
        "min_words": section.min_words,
    }
    if docs is not None:
        if not docs.attribute_name:
            raise ConfigError("dedupe.documents.attribute_name: required (it is the attribute key written)")
        if not docs.key:
            raise ConfigError("dedupe.documents.key: required, a JSONPath such as $.text or $.metadata.url")
        compile_path(docs.key)
        return KeySpec(mode="documents", attribute_name=docs.attribute_name, key=docs.key, **common)
    if paras is not None:
        if not paras.attribute_name:
            raise ConfigError("dedupe.paragraphs.attribute_name: required (it is the attribute key written)")
        if not paras.paragraph_separator:
            raise ConfigError("dedupe.paragraphs.paragraph_separator: must not be empty")
        ngram = paras.by_ngram or NgramConfig()
        if ngram.ngram_length < 0 or ngram.stride < 0:
            raise ConfigError("dedupe.paragraphs.by_ngram: ngram_length and stride must be >= 0")
        if paras.by_ngram is not None and ngram.ngram_length == 0:
            raise ConfigError("dedupe.paragraphs.by_ngram.ngram_length: must be > 0 when by_ngram is set")
        if not 0.0 <= ngram.overlap_threshold <= 1.0:
            raise ConfigError("dedupe.paragraphs.by_ngram.overlap_threshold: must be within [0, 1]")
        return KeySpec(
            mode="paragraphs",
            attribute_name=paras.attribute_name,
            separator=paras.paragraph_separator,
            ngram_length=ngram.ngram_length,
            stride=ngram.stride,
            overlap_threshold=ngram.overlap_threshold,
            skip_short_paragraphs=ngram.skip_short_paragraphs,
            dolma_ngram_starts=dolma_compat,
            **common,
        )
    raise ConfigError(
        "dedupe: set dedupe.documents (attribute_name + key), dedupe.paragraphs (attribute_name), or a minhash "
        "section; with none of them nothing would be written"
    )


def _check_compat(config: Config) -> None:
    if config.minhash is not None and config.dedupe.document_dir != layout.DOCUMENTS:
        raise ConfigError("dedupe.document_dir: only with dedupe.documents or dedupe.paragraphs, not minhash")
    layout.check_name(config.dedupe.document_dir, "dedupe.document_dir")
    if config.compression.input or config.compression.output:
        raise ConfigError("compression: not configurable; it follows file extensions (attributes mirror documents)")
    if not config.documents:
        raise ConfigError("documents: give at least one path or glob")


def input_paths(config: Config) -> list[str]:
    """Every matched shard, in sorted order: the input order that decides which copy is kept."""
    return sorted(io.expand_globs(config.documents, "documents"))


def _check_disk_space(filter_file: str, nbytes: int) -> None:
    """A local filter's parts are written in full: one sized beyond the disk (AI2's configs estimate 6e10
    documents: 128-256 GiB, which dolma fails to allocate) is refused before any work, rather than fill
    the disk part by part."""
    if io.is_s3(filter_file):
        return
    directory = os.path.dirname(os.path.abspath(filter_file))
    while not os.path.isdir(directory):
        directory = os.path.dirname(directory)
    free = shutil.disk_usage(directory).free
    if nbytes > free:
        raise ConfigError(
            f"bloom_filter: the filter needs {nbytes / 2**20:,.1f} MiB on disk beside {filter_file}, which has "
            f"{free / 2**20:,.1f} MiB free; lower estimated_doc_count or size_in_bytes, or put the file elsewhere"
        )


def dedupe_name(config: Config, fallback: str | None) -> str:
    name = config.dedupe.name or fallback
    if not name:
        raise ConfigError("dedupe.name: required (it names the attributes/<name>/ directory)")
    return layout.check_name(name, "dedupe.name")


def _exact_settings(config: Config) -> tuple[KeySpec, BloomFilterConfig]:
    if config.compat not in (None, "dolma-1.2"):
        raise ConfigError(f"compat: {config.compat!r} is not known; use dolma-1.2 or leave it unset")
    spec = key_spec(config.dedupe, config.compat == "dolma-1.2")
    if config.bloom_filter is None:
        raise ConfigError("bloom_filter: required for exact dedup (file, and size_in_bytes or estimated_doc_count)")
    if config.bloom_filter.partitions < 0:
        raise ConfigError("bloom_filter.partitions: must be >= 0 (0: chosen from the filter size)")
    return spec, config.bloom_filter


def check(config: Config) -> None:
    """Everything that needs only the config (a pipeline checks every step so before running the first)."""
    _check_compat(config)
    config.execution()
    if config.minhash is None:
        spec, _ = _exact_settings(config)
        dedupe_name(config, spec.attribute_name)
        return
    if config.dedupe.documents is not None or config.dedupe.paragraphs is not None:
        raise ConfigError(
            "minhash with dedupe.documents/paragraphs: both would write attributes/<name>/; run them as two "
            "runs with different dedupe.name"
        )
    dedupe_name(config, None)


def plan_exact(config: Config, task_memory: int) -> ExactRun:
    """Validate the dedupe and filter settings and the filter file itself (its manifest only: the driver
    never loads filter bits) against ``task_memory``, the bytes one task may hold."""
    spec, bloom = _exact_settings(config)
    manifest, partitions, bits, hashes, sized_for = plan_filter(
        bloom.file,
        spec,
        bloom.read_only,
        bloom.partitions,
        bloom.size_in_bytes,
        bloom.estimated_doc_count,
        bloom.desired_false_positive_rate,
    )
    check_task_memory(bits // 8, task_memory, partitions)
    if not bloom.read_only:
        _check_disk_space(bloom.file, bits // 8 * partitions)
    name = dedupe_name(config, spec.attribute_name)
    paths = input_paths(config)
    check_key_selects(spec, paths[0])
    return ExactRun(
        spec=spec,
        documents=paths,
        attribute_paths=[layout.attribute_path(p, name, config.dedupe.document_dir) for p in paths],
        bloom_file=bloom.file,
        read_only=bloom.read_only,
        work_dir=config.work_dir.output or bloom.file + ".work",
        manifest=manifest,
        partitions=partitions,
        bits_per_partition=bits,
        num_hashes=hashes,
        sized_for=sized_for,
        overwrite=config.execution().overwrite,
        skip_bad_lines=config.skip_bad_lines,
        dolma_shape=config.compat == "dolma-1.2",
        sizing=[bloom.size_in_bytes, bloom.estimated_doc_count, bloom.desired_false_positive_rate, partitions],
    )


@contextmanager
def _claimed(
    documents: list[str],
    name: str,
    settings: dict[str, Any],
    files: list[str],
    overwrite: bool,
    document_dir: str = layout.DOCUMENTS,
) -> Iterator[None]:
    """Lock the attribute directories (and the Bloom filter: two runs into one filter lose updates), then
    check each directory's config record (see ``dolma.provenance``)."""
    roots = {layout.attribute_root(path, name, document_dir) for path in documents}
    records = {root: {"command": "dedupe", "name": name, **settings} for root in roots}
    lock_paths = [locks.for_directory(root) for root in roots] + [locks.for_file(path) for path in files]
    with locks.hold(lock_paths, "dolma dedupe"), provenance.recorded(records, overwrite):
        yield


def _main_dolma_filter(config: Config, execution: Execution) -> int:
    """Read-only dedupe against a filter file that allenai/dolma's deduper wrote (see ``dolma_bloom``)."""
    assert config.bloom_filter is not None
    if config.compat not in (None, "dolma-1.2"):
        raise ConfigError(f"compat: {config.compat!r} is not known; use dolma-1.2 or leave it unset")
    dolma_bloom.check_read_only(config.bloom_filter.file, config.bloom_filter.read_only)
    spec = key_spec(config.dedupe, config.compat == "dolma-1.2")
    name = dedupe_name(config, spec.attribute_name)
    paths = input_paths(config)
    check_key_selects(spec, paths[0])
    tasks = [
        dolma_bloom.DolmaFilterTask(
            p,
            layout.attribute_path(p, name, config.dedupe.document_dir),
            config.bloom_filter.file,
            spec,
            config.compat == "dolma-1.2",
            config.skip_bad_lines,
        )
        for p in paths
    ]
    if config.dryrun:
        for task in tasks:
            print(f"{task.document_path} -> {task.attribute_path}")
        return 0
    settings = {"keys": dataclasses.asdict(spec), "bloom_filter": config.bloom_filter.file, "read_only": True}
    with make_executor(execution) as executor:
        with _claimed(paths, name, settings, [], execution.overwrite, config.dedupe.document_dir):
            outcome = dolma_bloom.run_dolma_filter(tasks, executor, execution.overwrite)
        print_outcome(outcome, executor)
    return 0


def main(config: Config) -> int:
    check(config)
    if config.minhash is not None:
        mrun = plan_minhash(config.minhash, input_paths(config), dedupe_name(config, None), config)
        if config.dryrun:
            for path, out in zip(mrun.documents, mrun.attribute_paths, strict=True):
                print(f"{path} -> {out}")
            return 0
        execution = config.execution()
        near = {"minhash": {k: v for k, v in to_dict(config.minhash).items() if k not in ("work_dir", "band_tasks")}}
        with make_executor(execution) as executor:
            with _claimed(mrun.documents, dedupe_name(config, None), near, [], execution.overwrite):
                outcome = run_minhash(mrun, executor)
            print_outcome(outcome, executor)
        return 0
    execution = config.execution()
    if config.bloom_filter is not None and dolma_bloom.is_dolma_filter(config.bloom_filter.file):
        return _main_dolma_filter(config, execution)
    run = plan_exact(config, execution.task_memory)
    if config.dryrun:
        for path, out in zip(run.documents, run.attribute_paths, strict=True):
            print(f"{path} -> {out}")
        return 0
    exact = {"keys": dataclasses.asdict(run.spec), "bloom_filter": run.bloom_file, "read_only": run.read_only}
    name = dedupe_name(config, run.spec.attribute_name)
    filters = [] if run.read_only else [run.bloom_file]  # read-only runs may share one filter
    with make_executor(execution) as executor:
        with _claimed(run.documents, name, exact, filters, execution.overwrite, config.dedupe.document_dir):
            outcome = run_exact(run, executor)
        print_outcome(outcome, executor)
    return 0
