"""``dolma tokens``: tokenize documents into the numpy layout OLMo trains from (see :mod:`dolma.tokens`).

The config keys are allenai/dolma's ``tokens`` keys; the tokenizer is a local (or ``s3://``) tokenizer.json.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from dolma.config import Strict
from dolma.errors import ConfigError
from dolma.execution import RunConfig
from dolma.executors import make_executor
from dolma.outcome import print_outcome
from dolma.tokens import TokenizeSpec, TokensRun, plan_tokens, run_tokens


class TokenizerConfig(Strict):
    name_or_path: Annotated[str | None, Meta(description="path of a tokenizer.json, local or s3:// (required)")] = None
    bos_token_id: Annotated[int | None, Meta(description="id put before each document (default: none)")] = None
    eos_token_id: Annotated[int | None, Meta(description="id put after each document (required)")] = None
    pad_token_id: Annotated[int | None, Meta(description="accepted for allenai/dolma compatibility; not written")] = (
        None
    )
    segment_before_tokenization: Annotated[
        bool, Meta(description="allenai/dolma's paragraph-wise encoding; not supported (must stay false)")
    ] = False
    refresh: Annotated[
        int, Meta(description="accepted for allenai/dolma compatibility (a workaround for a leak we do not see)")
    ] = 0
    fast: Annotated[bool, Meta(description="must be true: tokenizers' Rust implementation is the only one")] = True
    encode_special_tokens: Annotated[
        bool, Meta(description="split special-token strings in the text (e.g. '<s>') into ordinary tokens")
    ] = False


class FieldsConfig(Strict):
    text_field_name: Annotated[str, Meta(description="field holding the text; dotted for nested fields")] = "text"
    text_field_type: Annotated[str, Meta(description="must be str")] = "str"
    id_field_name: Annotated[
        str | None, Meta(description="field holding the id; null: <sha256 of the path>-<line> as allenai/dolma")
    ] = "id"
    id_field_type: Annotated[str, Meta(description="str or int (written to the .csv.gz as text)")] = "str"


class Config(RunConfig):
    documents: Annotated[list[str], Meta(description="document files or globs (JSONL or Parquet), local or s3://")] = []
    destination: Annotated[str | None, Meta(description="directory for part-*.npy and part-*.csv.gz")] = None
    tokenizer: Annotated[TokenizerConfig | None, Meta(description="the tokenizer")] = None
    tokenizer_name_or_path: Annotated[
        str | None, Meta(description="deprecated in allenai/dolma: a tokenizer.json whose last id is EOS")
    ] = None
    files_per_process: Annotated[
        int | None, Meta(description="input files per output group part-<g> (default: 1, resumable per file)")
    ] = None
    batch_size: Annotated[int, Meta(description="documents encoded and shuffled together")] = 10_000
    ring_size: Annotated[int, Meta(description="files of a group read round-robin at once")] = 8
    sample_ring_prop: Annotated[
        bool, Meta(description="pick the ring's next file at random weighted by file size, not round-robin")
    ] = False
    max_size: Annotated[
        int, Meta(description="tokens per .npy file: each holds fewer (allenai/dolma counts tokens, not bytes)")
    ] = 1024 * 1024 * 1024
    dtype: Annotated[
        str | None, Meta(description="uint16 or uint32 (default: uint16 up to 65,536 ids, else uint32)")
    ] = None
    fields: Annotated[FieldsConfig, Meta(description="where the text and id are in each row")] = FieldsConfig()
    seed: Annotated[int, Meta(description="seed of the file order and of each batch's shuffle")] = 3920


def spec_of(config: Config) -> TokenizeSpec:
    """The task settings, after the checks that need only the config (the tokenizer is checked in the plan)."""
    tok = config.tokenizer
    if tok is None:
        if config.tokenizer_name_or_path is None:
            raise ConfigError("tokenizer.name_or_path: give the path of a tokenizer.json")
        tok = TokenizerConfig(name_or_path=config.tokenizer_name_or_path, eos_token_id=-1)  # -1: the last id
    if tok.name_or_path is None:
        raise ConfigError("tokenizer.name_or_path: give the path of a tokenizer.json")
    if tok.eos_token_id is None:
        raise ConfigError(
            "tokenizer.eos_token_id: required: the id appended to every document (OLMo splits documents on it)"
        )
    if tok.segment_before_tokenization:
        raise ConfigError("tokenizer.segment_before_tokenization: not supported; documents are encoded whole")
    if not tok.fast:
        raise ConfigError("tokenizer.fast: only the fast (Rust) tokenizers are supported")
    if config.fields.text_field_type != "str":
        raise ConfigError(f"fields.text_field_type: {config.fields.text_field_type!r}: the text must be a str")
    if config.fields.id_field_type not in ("str", "int"):
        raise ConfigError(f"fields.id_field_type: {config.fields.id_field_type!r} is not str or int")
    for key, value in (("batch_size", config.batch_size), ("ring_size", config.ring_size)):
        if value < 1:
            raise ConfigError(f"{key}: {value} must be at least 1")
    if config.max_size < 2:
        raise ConfigError(f"max_size: {config.max_size} tokens is too small")
    if config.files_per_process is not None and config.files_per_process < 1:
        raise ConfigError(f"files_per_process: {config.files_per_process} must be at least 1")
    return TokenizeSpec(
        tokenizer=tok.name_or_path,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
        dtype=config.dtype or "",
        max_tokens=config.max_size,
        batch_size=config.batch_size,
        ring_size=config.ring_size,
        sample_ring_prop=config.sample_ring_prop,
        text_field=config.fields.text_field_name,
        id_field=config.fields.id_field_name,
        encode_special_tokens=tok.encode_special_tokens,
        skip_bad_lines=config.skip_bad_lines,
    )


def check(config: Config) -> TokenizeSpec:
    """Everything that needs only the config (a pipeline checks every step so before running the first)."""
    if not config.documents:
        raise ConfigError("documents: give at least one path or glob")
    if not config.destination:
        raise ConfigError("destination: give the directory for the .npy and .csv.gz files")
    config.execution()
    return spec_of(config)


def plan(config: Config) -> TokensRun:
    spec = check(config)
    assert config.destination is not None  # checked above; tells mypy
    return plan_tokens(config.documents, config.destination, spec, config.seed, config.files_per_process)


def main(config: Config) -> int:
    run = plan(config)
    if config.dryrun:
        for task in run.tasks:
            print(f"{', '.join(task.inputs)} -> {task.prefix}-*")
        return 0
    with make_executor(config.execution()) as executor:
        print_outcome(run_tokens(run, executor), executor)
    return 0
