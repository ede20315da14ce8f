"""The mixer config: allenai/dolma's ``mix`` keys, unchanged, plus our additions as new keys.

dolma's keys: ``streams[].name``, ``documents``, ``attributes``, ``filter.include``/``exclude``/``syntax``,
``span_replacement[].span``/``min_score``/``max_score``/``replacement``/``syntax``, ``output.path``,
``max_size_in_bytes``, ``discard_fields``, ``min_text_length``, ``compression.input``/``output``, and
top-level ``processes``, ``work_dir``, ``shuffle``, ``dryrun``. Additions: per stream ``sample_rate``,
``target_documents``, ``target_tokens``, ``top_fraction``, ``output.format``, ``output.provenance``;
top level ``seed``.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from dolma.config import Strict
from dolma.execution import RunConfig


class FilterConfig(Strict):
    include: Annotated[list[str], Meta(description="keep a document when any of these matches")] = []
    exclude: Annotated[list[str], Meta(description="drop a document when any of these matches")] = []
    syntax: Annotated[str, Meta(description="jsonpath or jq")] = "jsonpath"


class SpanReplacementConfig(Strict, kw_only=True):
    span: Annotated[str, Meta(description="JSONPath of the spans, e.g. $.attributes.<name>")]
    min_score: Annotated[float | None, Meta(description="replace spans scoring at least this")] = None
    max_score: Annotated[float | None, Meta(description="replace spans scoring below this")] = None
    replacement: Annotated[str, Meta(description="replacement text; {} is the original span text")] = ""
    syntax: Annotated[str, Meta(description="jsonpath or jq (a jq program yielding the span list)")] = "jsonpath"


class CompressionConfig(Strict):
    input: Annotated[str | None, Meta(description="must agree with the extension if given")] = None
    output: Annotated[str | None, Meta(description="gzip (default), zst or none")] = None


class OutputConfig(Strict, kw_only=True):
    path: Annotated[str, Meta(description="directory for the stream's shards (local or s3://)")]
    max_size_in_bytes: Annotated[int, Meta(description="cap on each shard's size on disk")] = 2 * 2**30
    discard_fields: Annotated[list[str], Meta(description="top-level fields removed from output")] = []
    min_text_length: Annotated[
        int | None, Meta(description="drop documents whose text (after span replacement) has fewer UTF-8 bytes")
    ] = 0
    format: Annotated[str, Meta(description="jsonl (default) or parquet")] = "jsonl"
    provenance: Annotated[bool, Meta(description="add metadata.provenance = '<file>:<line>' as dolma does")] = True


class TopFractionConfig(Strict, kw_only=True):
    score: Annotated[str, Meta(description="JSONPath of a number per document, e.g. $.attributes.q[0][2]")]
    fraction: Annotated[float, Meta(description="keep this fraction of the stream, highest scores first")]


class StreamConfig(Strict, kw_only=True):
    name: Annotated[str, Meta(description="names the stream's shards: <name>-NNNNN.jsonl.gz")]
    documents: Annotated[list[str], Meta(description="document paths or globs")] = []
    attributes: Annotated[list[str], Meta(description="attribute experiments to merge into the documents")] = []
    filter: Annotated[FilterConfig | None, Meta(description="include/exclude expressions")] = None
    span_replacement: Annotated[list[SpanReplacementConfig], Meta(description="spans to rewrite")] = []
    output: OutputConfig
    compression: CompressionConfig = CompressionConfig()
    sample_rate: Annotated[
        float | None, Meta(description="fraction of documents to keep; above 1 repeats documents")
    ] = None
    target_documents: Annotated[int | None, Meta(description="sample (or repeat) to about this many")] = None
    target_tokens: Annotated[int | None, Meta(description="sample (or repeat) to about this many tokens")] = None
    top_fraction: Annotated[
        TopFractionConfig | None, Meta(description="keep the best-scoring fraction (threshold from the data)")
    ] = None


class MixConfig(RunConfig):
    streams: Annotated[
        list[StreamConfig],
        Meta(
            description="the streams to mix; each: name, documents, attributes, filter.{include,exclude,syntax}, "
            "span_replacement[].{span,min_score,max_score,replacement}, output.{path,max_size_in_bytes,"
            "discard_fields,min_text_length,format,provenance}, compression.{input,output}, sample_rate, "
            "target_documents, target_tokens, top_fraction.{score,fraction} (docs/mixer.md)"
        ),
    ] = []
    seed: Annotated[int, Meta(description="seed of sampling and shuffling (hash of the document id)")] = 0
    recipe: Annotated[
        str | None,
        Meta(description="a published mix to rebuild, e.g. configs/mixes/olmo-mix-1124.yaml (docs/recipes.md)"),
    ] = None
    sources: Annotated[str | None, Meta(description="recipe: YAML mapping its source names to your documents")] = None
    total_tokens: Annotated[float | None, Meta(description="recipe: token budget of the mix, e.g. 2e9")] = None
    recipe_sample: Annotated[str | None, Meta(description="recipe: one of its named samples, e.g. 50B")] = None
    recipe_tokenizer: Annotated[
        str | None, Meta(description="recipe: tokenizer.json that counts tokens (default: whitespace words)")
    ] = None
    recipe_output: Annotated[str | None, Meta(description="recipe: output directory (default: the sources file's)")] = (
        None
    )
    renormalize: Annotated[bool, Meta(description="recipe: spread the shares of sources you lack over the others")] = (
        False
    )
    shuffle: Annotated[
        bool, Meta(description="shuffle document order (seeded; within parts, and the order of parts)")
    ] = False
    compat: Annotated[
        str | None,
        Meta(
            description="dolma-1.2: reproduce allenai/dolma 1.2.1 (numbers compared as its JSONPath filter does, "
            "so 1 >= 1.0 is false; shards grouped by input files and named <name>-NNNN.json.gz as its mixer "
            "names them); unset: numbers compare by value (docs/mixer.md)"
        ),
    ] = None
    strict: Annotated[
        bool,
        Meta(
            description="refuse a mix whose filter or span rules read an attribute name no row of the stream's "
            "attribute files holds (by default it is reported in the summary and the manifest)"
        ),
    ] = False
    preview: Annotated[
        bool, Meta(description="estimate on a seeded sample what each rule drops or edits, then stop (no output)")
    ] = False
    preview_sample_rate: Annotated[
        float | None, Meta(description="fraction of documents the preview reads (default: about 64 MB of input)")
    ] = None
    html: Annotated[str | None, Meta(description="with preview: also write the preview as an HTML report here")] = None


RECIPE_KEYS = ("recipe", "sources", "total_tokens", "recipe_sample", "recipe_tokenizer", "recipe_output", "renormalize")
"""Keys that resolve a recipe into streams (mixers/recipes.py); a resolved config has none of them."""
