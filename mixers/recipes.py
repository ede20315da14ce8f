"""Recipes: a published mix (``configs/mixes/*.yaml``) rebuilt from the user's copies of its sources at a budget.

``dolma mix --recipe R --sources S --total-tokens N``:

1. *read*: the recipe gives each source's share of tokens (published tokens x rate, over their sum; or a
   named sample's percentages, e.g. Dolmino's ``50B``); ``S`` maps recipe source names to the user's
   document globs (and attributes, filters, span replacements, as a mixer stream takes them).
2. *measure* (one task per input file, on the executor): documents, whitespace words and tokens of the
   configured tokenizer (:mod:`dolma.tokenizer`) per source.
3. *resolve*: each source's target is ``share x N`` tokens. The mixer counts whitespace words, so the
   target becomes words through the source's measured words-per-token; the mixer's own scan then picks a
   rate from the documents that survive the filters: below 1 a seeded sample, above 1 whole-document
   repeats. The resolved mix config is written next to the output (``resolved-mix.yaml``): ``dolma mix -c``
   on it alone makes the same shards.
4. *run* the mix, then measure its shards (tokens per stream, again as tasks) and add a ``recipe`` section
   to the mix's manifest: per source the target and achieved tokens and shares.

A recipe source the user has no copy of is reported; the shares of the others are re-normalised to the
whole budget only with ``renormalize: true``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec
import yaml
from dolma.mixers import manifest
from dolma.mixers.config import RECIPE_KEYS, FilterConfig, MixConfig, OutputConfig, SpanReplacementConfig, StreamConfig

from dolma import config as config_module
from dolma import io, locks
from dolma.config import Strict
from dolma.documents import iter_decoded
from dolma.errors import ConfigError
from dolma.executors import Executor, ProgressCounter, Report, TaskResult
from dolma.outcome import Outcome
from dolma.tokenizer import load_tokenizer

RESOLVED = "resolved-mix.yaml"
BATCH = 1024


class RecipeSource(Strict):
    name: str
    tokens: float
    title: str = ""
    documents: float | None = None
    rate: float = 1.0
    group: str | None = None
    cite: str = ""
    bytes: float | None = None
    card_tokens: float | None = None
    card_documents: float | None = None


class RecipeSample(Strict):
    shares: dict[str, float]
    tokens: float | None = None
    cite: str = ""


class Recipe(Strict):
    name: str
    sources: list[RecipeSource]
    title: str = ""
    tokenizer: str = ""
    citations: dict[str, str] = {}
    total: dict[str, Any] = {}
    samples: dict[str, RecipeSample] = {}


class SourceMapping(Strict):
    """One recipe source in the user's ``--sources`` file: the stream keys a mixer stream takes."""

    documents: list[str]
    attributes: list[str] = []
    filter: FilterConfig | None = None
    span_replacement: list[SpanReplacementConfig] = []


class SourcesFile(Strict):
    sources: dict[str, SourceMapping]
    output: str | None = None


def load_recipe(path: str) -> Recipe:
    recipe = config_module.build(Recipe, config_module.load_file(path), source=path)
    names = [s.name for s in recipe.sources]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: a source name is listed twice")
    for sample, spec in recipe.samples.items():
        groups = {s.group for s in recipe.sources if s.group}
        unknown = sorted(set(spec.shares) - set(names) - groups)
        if unknown:
            raise ConfigError(f"{path}: samples.{sample}: {', '.join(unknown)} is not a source or group")
    return recipe


def shares(recipe: Recipe, sample: str | None) -> dict[str, float]:
    """Each source's share of the mix's tokens (summing to 1). Without a sample: published tokens x rate.
    With one: its percentages, a group's share split over its sources by their published tokens."""
    if sample is None:
        weights = {s.name: s.tokens * s.rate for s in recipe.sources}
    else:
        if sample not in recipe.samples:
            raise ConfigError(f"sample: {sample!r} is not one of {', '.join(recipe.samples) or '(none)'}")
        weights = {}
        for key, percent in recipe.samples[sample].shares.items():
            members = [s for s in recipe.sources if s.group == key] or [s for s in recipe.sources if s.name == key]
            pool = sum(s.tokens for s in members)
            for s in members:
                weights[s.name] = percent * s.tokens / pool
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items()}


def stream_name(source: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", source)


# ------------------------------------------------------------------------------------------------ measure


class _Text(msgspec.Struct):
    text: str


@dataclass(frozen=True)
class CountTask:
    """Documents, whitespace words and tokens of one JSONL file (input, or a shard of the mix)."""

    path: str
    tokenizer: str | None

    @property
    def label(self) -> str:
        return self.path

    def outputs(self) -> list[str]:
        return []

    def run(self, report: Report) -> TaskResult:
        counter = load_tokenizer(self.tokenizer)
        words = load_tokenizer(None)
        progress = ProgressCounter(report)
        docs = nbytes = n_words = n_tokens = 0
        batch: list[str] = []
        decoder = msgspec.json.Decoder(_Text)
        for _, row, size in iter_decoded(self.path, decoder):
            docs += 1
            nbytes += size
            progress.add(size)
            batch.append(row.text)
            if len(batch) >= BATCH:
                n_words += sum(words.count(batch))
                n_tokens += sum(counter.count(batch))
                batch = []
        n_words += sum(words.count(batch))
        n_tokens += sum(counter.count(batch))
        progress.flush()
        return TaskResult.shard(docs, nbytes, words=n_words, tokens=n_tokens)


def count(paths: list[str], tokenizer: str | None, executor: Executor, desc: str) -> list[dict[str, int]]:
    summary = executor.run([CountTask(p, tokenizer) for p in paths], desc=desc)
    return [dict(result.counters) if result else {} for result in summary.results]


# ------------------------------------------------------------------------------------------------ resolve


@dataclass
class Resolution:
    recipe: Recipe
    keys: MixConfig
    """The config that named the recipe (its recipe keys)."""
    shares: dict[str, float]
    """Target share per present source (re-normalised if asked)."""
    targets: dict[str, float]
    """Target tokens per present source."""
    measured: dict[str, dict[str, int]]
    missing: list[str]
    config: MixConfig
    resolved_path: str


def _sum(rows: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in rows:
        for key, value in row.items():
            out[key] = out.get(key, 0) + value
    return out


def resolve(config: MixConfig, executor: Executor) -> Resolution:
    """Measure the user's sources and write the mix config that hits the recipe's shares at the budget."""
    keys = config
    if not keys.recipe or not keys.sources or not keys.total_tokens:
        raise ConfigError("recipe: give --recipe, --sources and --total-tokens together")
    if keys.total_tokens <= 0:
        raise ConfigError(f"total_tokens: {keys.total_tokens} must be positive")
    if config.streams:
        raise ConfigError("streams: a recipe makes the streams; give either streams or a recipe")
    recipe = load_recipe(keys.recipe)
    mapping = config_module.build(SourcesFile, config_module.load_file(keys.sources), source=keys.sources)
    output = keys.recipe_output or mapping.output
    if not output:
        raise ConfigError("recipe_output: give the output directory (or `output:` in the sources file)")
    wanted = shares(recipe, keys.recipe_sample)
    unknown = sorted(set(mapping.sources) - set(wanted))
    if unknown:
        raise ConfigError(
            f"{keys.sources}: {', '.join(unknown)} is not a source of {recipe.name} ({', '.join(wanted)})"
        )
    present = [name for name in wanted if name in mapping.sources]
    if not present:
        raise ConfigError(f"{keys.sources}: none of the sources of {recipe.name} is mapped")
    missing = [name for name in wanted if name not in mapping.sources]
    kept = sum(wanted[name] for name in present)
    chosen = {name: wanted[name] / kept if keys.renormalize else wanted[name] for name in present}
    files = {name: io.expand_globs(mapping.sources[name].documents, f"{keys.sources}: {name}") for name in present}
    flat = [path for name in present for path in files[name]]
    rows = iter(count(flat, keys.recipe_tokenizer, executor, "recipe: measure"))
    measured = {name: _sum([next(rows) for _ in files[name]]) for name in present}
    targets = {name: chosen[name] * keys.total_tokens for name in present}
    streams = []
    for name in present:
        m = measured[name]
        if not m.get("tokens"):
            raise ConfigError(f"{keys.sources}: {name}: its documents hold no tokens")
        words_per_token = m["words"] / m["tokens"]
        source = mapping.sources[name]
        streams.append(
            StreamConfig(
                name=stream_name(name),
                documents=source.documents,
                attributes=source.attributes,
                filter=source.filter,
                span_replacement=source.span_replacement,
                output=OutputConfig(path=output),
                target_tokens=max(1, round(targets[name] * words_per_token)),
            )
        )
    cleared: dict[str, Any] = {key: getattr(MixConfig(), key) for key in RECIPE_KEYS}
    resolved = msgspec.structs.replace(config, streams=streams, **cleared)
    path = io.join(output, RESOLVED)
    io.write_bytes(path, _resolved_yaml(resolved, recipe, keys, targets, measured, missing).encode())
    return Resolution(recipe, keys, chosen, targets, measured, missing, resolved, path)


def _resolved_yaml(
    config: MixConfig,
    recipe: Recipe,
    keys: MixConfig,
    targets: dict[str, float],
    measured: dict[str, dict[str, int]],
    missing: list[str],
) -> str:
    """The mix config alone (no recipe keys, no execution keys), with a header saying where it came from.
    ``target_tokens`` are whitespace words, the mixer's unit: each is the source's target in tokens times
    its measured words per token."""
    from dolma.mixers.plan import mix_identity

    data = mix_identity(config)
    header = [
        f"# resolved from recipe {recipe.name} ({keys.recipe}) at {keys.total_tokens or 0:,.0f} tokens"
        + (f", sample {keys.recipe_sample}" if keys.recipe_sample else "")
        + (" (re-normalised)" if keys.renormalize and missing else ""),
        f"# tokens counted with {keys.recipe_tokenizer or 'whitespace words'}; sources: {keys.sources}",
    ]
    for name, target in targets.items():
        m = measured[name]
        header.append(f"#   {name}: target {target:,.0f} tokens; measured {m['tokens']:,} tokens, {m['words']:,} words")
    if missing:
        header.append(f"# missing (not mapped): {', '.join(missing)}")
    header.append("# rerun: dolma mix -c <this file>")
    return "\n".join(header) + "\n" + yaml.safe_dump(data, sort_keys=False)


# ------------------------------------------------------------------------------------------------ report


def report(resolution: Resolution, executor: Executor) -> dict[str, Any]:
    """Target against achieved tokens and shares per source, from the mix's own shards (measured as tasks);
    added to the mix's manifest as its ``recipe`` section."""
    output = resolution.config.streams[0].output.path
    document = manifest.read(output)
    if document is None:
        raise ConfigError(f"{output}: no manifest after the mix")
    shards = {s["name"]: [o["path"] for o in s.get("outputs", [])] for s in document.get("streams", [])}
    names = list(resolution.targets)
    paths = [p for name in names for p in shards.get(stream_name(name), [])]
    rows = iter(count(paths, resolution.keys.recipe_tokenizer, executor, "recipe: achieved"))
    achieved = {name: _sum([next(rows) for _ in shards.get(stream_name(name), [])]) for name in names}
    total = sum(a.get("tokens", 0) for a in achieved.values())
    budget = resolution.keys.total_tokens or 0.0
    section = {
        "recipe": resolution.recipe.name,
        "recipe_path": resolution.keys.recipe,
        "sample": resolution.keys.recipe_sample,
        "tokenizer": resolution.keys.recipe_tokenizer or "whitespace",
        "total_tokens": {"target": budget, "achieved": total},
        "missing": resolution.missing,
        "renormalized": resolution.keys.renormalize,
        "resolved_config": resolution.resolved_path,
        "sources": {
            name: {
                "target_tokens": round(resolution.targets[name]),
                "target_share": resolution.shares[name],
                "achieved_tokens": achieved[name].get("tokens", 0),
                "achieved_share": achieved[name].get("tokens", 0) / total if total else 0.0,
                "achieved_documents": achieved[name].get("documents", 0),
                "available_tokens": resolution.measured[name]["tokens"],
                "rate": resolution.targets[name] / resolution.measured[name]["tokens"],
            }
            for name in names
        },
    }
    document["recipe"] = section
    manifest.write(output, document)
    return section


def run_recipe(config: MixConfig, executor: Executor) -> Outcome:
    """Resolve, mix, report: what ``dolma mix --recipe ...`` does."""
    from dolma.mixers.run import check_replacing, plan_mix, run_mix

    resolution = resolve(config, executor)
    run = plan_mix(resolution.config)
    with locks.hold([locks.for_directory(path) for path in run.directories], "dolma mix"):
        check_replacing(run, executor.execution.overwrite)
        outcome = run_mix(run, executor)
        section = report(resolution, executor)
    outcome.title = "dolma mix (recipe)"
    budget = section["total_tokens"]
    outcome.lines.append(f"resolved config: {resolution.resolved_path}")
    outcome.lines.append(
        f"recipe {section['recipe']}: {budget['achieved']:,} of {budget['target']:,.0f} target tokens "
        f"({section['tokenizer']})"
    )
    for name, row in section["sources"].items():
        outcome.lines.append(
            f"  {name}: share {row['achieved_share']:.2%} (target {row['target_share']:.2%}), "
            f"{row['achieved_tokens']:,} tokens (target {row['target_tokens']:,}, rate {row['rate']:.3f})"
        )
    if resolution.missing:
        note = "re-normalised over the others" if resolution.keys.renormalize else "their shares are left out"
        outcome.notes.append(f"recipe sources without a copy: {', '.join(resolution.missing)} ({note})")
    return outcome
