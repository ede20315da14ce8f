"""Kill loop: kill runs at random points, rerun, and check the outputs are exactly an uninterrupted run's.

For each pipeline (tag, exact dedupe, MinHash dedupe, mix) and executor (the local pool, Ray), this runs the
command once uninterrupted on a fresh corpus (the reference), then, many times on another copy: starts it,
waits a random time, kills the driver or one worker with SIGKILL (1-2 kills in a row), then reruns it to the
end. After every kill and every rerun it checks that:

- every file under a final name is complete: equal to the reference's file of that name, byte for byte
  (a partial file would differ);
- no process of the killed run outlives its driver (after a grace period; found by an environment token
  the driver and everything it starts inherit, and as the driver's descendants when it was killed);
- after the rerun, the outputs are the reference's, byte for byte, and nothing else is left (no temporary
  files; bookkeeping such as run locks and config records aside).

    python benchmarks/kill_loop.py --rounds 10 --executors local ray      # the long loop
    python benchmarks/kill_loop.py --rounds 1 --pipelines tag mix         # a quick look

Prints one line per round and a table of figures (runs killed, reruns, outputs identical, leftovers).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from dolma.reaper import descendants, marked, start_time  # noqa: E402

BOOKKEEPING = (".dolma-lock", ".dolma-run.json")
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()


def make_corpus(root: Path, shards: int, per_shard: int, seed: int = 0) -> None:
    """Shards with exact duplicates, near duplicates and unique documents, written with the toolkit."""
    from dolma import io

    rng = random.Random(seed)
    seen: list[str] = []
    for s in range(shards):
        lines = []
        for i in range(per_shard):
            roll = rng.random()
            if seen and roll < 0.15:
                text = rng.choice(seen)  # exact duplicate
            elif seen and roll < 0.3:
                words = rng.choice(seen).split(" ")
                words[rng.randrange(len(words))] = rng.choice(WORDS)  # near duplicate
                text = " ".join(words)
            else:
                body = [rng.choice(WORDS) for _ in range(rng.randint(40, 160))]
                text = " ".join(body[:20]) + "\n" + " ".join(body[20:])
                seen.append(text)
            doc = {"id": f"{s}-{i}", "text": text, "source": "kill", "metadata": {"n": i}}
            lines.append(json.dumps(doc).encode())
        io.write_bytes(str(root / "documents" / f"{s:03d}.jsonl.gz"), b"\n".join(lines) + b"\n")


@dataclass(frozen=True)
class Pipeline:
    name: str
    outputs: tuple[str, ...]
    """Paths (relative to the corpus root) whose files are compared with the reference."""

    def command(self, root: Path, executor: str) -> list[str]:
        run = ["--processes", "2"] + (["--executor", "ray"] if executor == "ray" else [])
        docs = ["--documents", f"{root}/documents/*.jsonl.gz"]
        if self.name == "tag":
            return ["tag", *docs, "--taggers", "char_length", "gopher", "--experiment", "quality", *run]
        if self.name == "exact":
            return ["dedupe", *docs, "--dedupe.name", "exact", "--dedupe.paragraphs.attribute_name", "dup",
                    "--bloom_filter.file", f"{root}/bloom/filter.bin", "--bloom_filter.size_in_bytes", "1048576",
                    *run]  # fmt: skip
        if self.name == "minhash":
            return ["dedupe", *docs, "--dedupe.name", "near", "--minhash.ngram_length", "3",
                    "--minhash.work_dir", f"{root}/work", *run]  # fmt: skip
        config = root / "mix.json"
        stream = {"name": "kill", "documents": [f"{root}/documents/*.jsonl.gz"],
                  "output": {"path": f"{root}/mixed", "max_size_in_bytes": 40_000},
                  "filter": {"include": ["$@.metadata[?(@.n > 2)]"]}}  # fmt: skip
        config.write_text(json.dumps({"streams": [stream]}))
        return ["mix", "-c", str(config), *run]


PIPELINES = {
    "tag": Pipeline("tag", ("attributes/quality",)),
    "exact": Pipeline("exact", ("attributes/exact", "bloom/filter.bin")),
    "minhash": Pipeline("minhash", ("attributes/near",)),
    "mix": Pipeline("mix", ("mixed",)),
}


def snapshot(root: Path, pipeline: Pipeline) -> dict[str, str]:
    """Relative path -> sha256 of every file under the pipeline's outputs (bookkeeping files left out)."""
    out = {}
    for rel in pipeline.outputs:
        base = root / rel
        if not base.exists():
            continue
        for path in [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file()):
            if path.name in BOOKKEEPING or path.name.endswith(BOOKKEEPING):
                continue
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _environment(token: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["DOLMA_KILL_LOOP_TOKEN"] = token
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    env.setdefault("RAY_AUTH_MODE", "disabled")
    return env


def _processes_with(token: str) -> list[int]:
    """Live processes whose environment holds ``token`` (the driver, its workers, a Ray it started)."""
    return marked(token, "DOLMA_KILL_LOOP_TOKEN")


def _workers(driver: int, token: str, executor: str) -> list[int]:
    pids = [p for p in _processes_with(token) if p != driver]
    out = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if executor == "ray":
            if cmdline.startswith(b"ray::"):
                out.append(pid)
        elif b"resource_tracker" not in cmdline:
            out.append(pid)
    return out


def _run(command: list[str], token: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dolma.cli", *command], env=_environment(token), stdout=out, stderr=out
        )


@dataclass
class Figures:
    runs: int = 0
    killed_driver: int = 0
    killed_worker: int = 0
    finished_before_kill: int = 0
    reruns: int = 0
    reruns_identical: int = 0
    partial_outputs: int = 0
    orphans: int = 0
    """Runs after whose driver's death some process of theirs was still alive after the grace period."""
    leftovers: int = 0
    failures: list[str] = field(default_factory=list)


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()[:120]
    except OSError:
        return f"pid {pid} (gone)"


def _reap(token: str) -> None:
    for pid in _processes_with(token):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_once(
    root: Path, pipeline: Pipeline, executor: str, reference: dict[str, str], rng: random.Random,
    horizon: float, grace: float, figures: Figures, log: Path,
) -> float | None:  # fmt: skip
    """One run killed at a random time below ``horizon``; returns the run's seconds if it ended first."""
    token = uuid.uuid4().hex
    started = time.monotonic()
    proc = _run(pipeline.command(root, executor), token, log)
    figures.runs += 1
    deadline = started + rng.uniform(0.2, horizon)
    ended = None
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    tree: dict[int, str] = {}
    if proc.poll() is not None:
        figures.finished_before_kill += 1
        ended = time.monotonic() - started
    else:
        tree = descendants([proc.pid])  # also found if a process wipes its environment (Ray's renaming did)
        workers = _workers(proc.pid, token, executor)
        if workers and rng.random() < 0.5:
            os.kill(rng.choice(workers), signal.SIGKILL)
            figures.killed_worker += 1
            try:
                proc.wait(timeout=120)  # the driver notices and stops
            except subprocess.TimeoutExpired:
                figures.failures.append(f"{pipeline.name}/{executor}: driver hung after a worker was killed")
                proc.kill()
                proc.wait()
        else:
            proc.kill()
            proc.wait()
            figures.killed_driver += 1

    def alive() -> list[int]:
        return sorted(set(_processes_with(token)) | {pid for pid, t in tree.items() if start_time(pid) == t})

    end = time.monotonic() + grace
    while alive() and time.monotonic() < end:
        time.sleep(0.1)
    survivors = alive()
    if survivors:
        figures.orphans += 1
        names = [_command_line(pid) for pid in survivors]
        where = f"{pipeline.name}/{executor}"
        figures.failures.append(f"{where}: {len(survivors)} process(es) outlived the driver: {names}")
        for pid in survivors:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    now = snapshot(root, pipeline)  # stage files of unfinished runs are not final names: only the reference's are
    partial = [rel for rel, digest in now.items() if rel in reference and reference[rel] != digest]
    if partial:
        figures.partial_outputs += 1
        figures.failures.append(f"{pipeline.name}/{executor}: after a kill, final-named files differ: {partial[:3]}")
    return ended


def rerun(
    root: Path, pipeline: Pipeline, executor: str, reference: dict[str, str], figures: Figures, log: Path
) -> None:
    token = uuid.uuid4().hex
    proc = _run(pipeline.command(root, executor), token, log)
    code = proc.wait(timeout=900)
    _reap(token)
    figures.reruns += 1
    if code != 0:
        figures.failures.append(f"{pipeline.name}/{executor}: rerun exited {code} (see {log})")
        return
    if snapshot(root, pipeline) == reference:
        figures.reruns_identical += 1
    else:
        figures.failures.append(f"{pipeline.name}/{executor}: rerun outputs differ from the uninterrupted run")
    temporary = list(root.rglob(".*.tmp-*"))
    if temporary:
        figures.leftovers += 1
        figures.failures.append(f"{pipeline.name}/{executor}: temporary files left: {temporary[:2]}")


def loop(
    pipeline: Pipeline, executor: str, rounds: int, shards: int, per_shard: int, seed: int, grace: float,
    workdir: Path,
) -> tuple[Figures, float]:  # fmt: skip
    rng = random.Random(seed)
    figures = Figures()
    base = workdir / f"{pipeline.name}-{executor}"
    shutil.rmtree(base, ignore_errors=True)
    corpus = base / "corpus"  # one path for every run: outputs name their inputs (manifest, filter header)
    make_corpus(corpus, shards, per_shard)
    base.mkdir(parents=True, exist_ok=True)
    log = base / "runs.log"
    for _attempt in range(2):  # a Ray that fails to start on a loaded machine gets a second chance
        token = uuid.uuid4().hex
        started = time.monotonic()
        code = _run(pipeline.command(corpus, executor), token, log).wait(timeout=900)
        reference_seconds = time.monotonic() - started
        _reap(token)
        if code == 0:
            break
    else:
        figures.failures.append(f"{pipeline.name}/{executor}: the uninterrupted run failed twice; see {log}")
        return figures, 0.0
    reference = snapshot(corpus, pipeline)
    crashed = corpus
    horizon = reference_seconds  # shrinks to a fresh run's time when one ends first (the reference ran cold)
    for r in range(rounds):
        shutil.rmtree(crashed, ignore_errors=True)
        make_corpus(crashed, shards, per_shard)
        for kill in range(rng.choice([1, 2])):
            ended = kill_once(crashed, pipeline, executor, reference, rng, horizon, grace, figures, log)
            if kill == 0 and ended is not None:
                horizon = min(horizon, ended)
        rerun(crashed, pipeline, executor, reference, figures, log)
        print(f"  {pipeline.name}/{executor} round {r + 1}/{rounds}: {figures.runs} runs (driver killed "
              f"{figures.killed_driver}, worker killed {figures.killed_worker}, ended first "
              f"{figures.finished_before_kill}), "
              f"{figures.reruns_identical}/{figures.reruns} reruns identical, {len(figures.failures)} problem(s)",
              flush=True)  # fmt: skip
    return figures, reference_seconds


def _rows(results: list[tuple[str, str, Figures, float]]) -> Iterator[str]:
    yield (
        "| pipeline | executor | run (s) | runs | driver killed | worker killed | ended first | reruns | identical "
        "| partial files | orphans | leftovers |"
    )
    yield "|---|---|---|---|---|---|---|---|---|---|---|---|"
    for name, executor, f, seconds in results:
        yield (
            f"| {name} | {executor} | {seconds:.1f} | {f.runs} | {f.killed_driver} | {f.killed_worker} | "
            f"{f.finished_before_kill} | {f.reruns} | {f.reruns_identical} | {f.partial_outputs} | {f.orphans} | "
            f"{f.leftovers} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", nargs="+", default=list(PIPELINES), choices=list(PIPELINES))
    parser.add_argument("--executors", nargs="+", default=["local"], choices=["local", "ray"])
    parser.add_argument("--rounds", type=int, default=10, help="kill-then-rerun rounds per pipeline and executor")
    parser.add_argument("--shards", type=int, default=6)
    parser.add_argument("--per-shard", type=int, default=400)
    parser.add_argument("--grace", type=float, default=10.0, help="seconds a killed run's processes get to die")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dolma-kill-loop-"))
    print(f"kill loop in {workdir}; load {os.getloadavg()[0]:.1f}", flush=True)
    results = []
    for executor in args.executors:
        for name in args.pipelines:
            figures, seconds = loop(
                PIPELINES[name], executor, args.rounds, args.shards, args.per_shard, args.seed, args.grace, workdir
            )
            results.append((name, executor, figures, seconds))
    print("\n".join(_rows(results)))
    problems = [p for _, _, f, _ in results for p in f.failures]
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(f"load {os.getloadavg()[0]:.1f}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
