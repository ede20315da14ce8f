"""The ``dolma`` command: ``dolma <command> [-c config.yaml] [--dotted.key value ...]``.

Each command is a config struct (its keys are the ``--help`` text) and a function that runs it. A user
mistake (a :class:`DolmaError`), a full or read-only disk and a failed S3 request print one line naming the
file or object and exit 2 (with ``--debug``, the traceback too, and a worker's); anything else is a bug and
keeps its traceback. Ctrl-C exits 130 and SIGTERM 143, each with a line saying the run can resume.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dolma import config, io
from dolma.errors import DolmaError


@dataclass(frozen=True)
class Command:
    module: str
    """Module holding ``Config`` (a config struct, or None) and ``main(config) -> int``."""
    summary: str


COMMANDS: dict[str, Command] = {
    "tag": Command("dolma.commands.tag", "tag documents with taggers, writing attribute shards beside them"),
    "stat": Command("dolma.commands.stat", "count documents per source and summarise attribute scores"),
    "quickstart": Command("dolma.commands.quickstart", "run the whole pipeline on the bundled sample corpus"),
    "dedupe": Command(
        "dolma.commands.dedupe", "deduplicate: exact (Bloom filter) or near-duplicate (MinHash) attributes"
    ),
    "mix": Command("dolma.commands.mix", "filter, rewrite spans, sample and shard streams into a mix (dolma mix)"),
    "tokens": Command("dolma.commands.tokens", "tokenize documents into OLMo's numpy layout (.npy + .csv.gz)"),
    "run": Command("dolma.commands.run", "run a pipeline file: tag, dedupe, mix, tokens... steps with shared settings"),
    "list": Command("dolma.commands.list_taggers", "list taggers with their descriptions and parameters"),
    "train-fasttext": Command("dolma.commands.train_fasttext", "train a fastText classifier on labelled documents"),
}


def _parser(name: str, command: Command, config_cls: Any, guide: str = "") -> argparse.ArgumentParser:
    epilog = f"{guide.strip()}\n\n" if guide else ""
    if config_cls is not None:
        keys = "\n".join(config.describe(config_cls))
        epilog += (
            f"Config keys (in the YAML/JSON file, or as --key value; nested keys as --section.key value):\n{keys}\n"
        )
    parser = argparse.ArgumentParser(
        prog=f"dolma {name}",
        description=command.summary,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if config_cls is not None:
        parser.add_argument("-c", "--config", help="YAML or JSON config file (local or s3://)")
    return parser


def _config_first(args: list[str]) -> list[str]:
    """allenai/dolma's argument order, ``dolma -c config.yaml <command> ...``, turned into ours
    (``dolma <command> -c config.yaml ...``); both work."""
    if args and args[0] in ("-c", "--config") and len(args) >= 3:
        return [args[2], args[0], args[1], *args[3:]]
    if args and args[0].startswith("--config=") and len(args) >= 2:
        return [args[1], args[0], *args[2:]]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _config_first(list(sys.argv[1:] if argv is None else argv))
    if not args or args[0] in ("-h", "--help"):
        print("usage: dolma <command> [[-c] config.yaml] [--key value ...]  (or dolma -c config.yaml <command> ...)")
        print("\ncommands:")
        for name, command in COMMANDS.items():
            print(f"  {name:<16}{command.summary}")
        print("\n`dolma <command> --help` lists a command's config keys.")
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"dolma: unknown command {name!r}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    command = COMMANDS[name]
    module = importlib.import_module(command.module)
    config_cls = getattr(module, "Config", None)
    parser = _parser(name, command, config_cls, getattr(module, "GUIDE", ""))
    if config_cls is not None and rest and not rest[0].startswith("-"):
        rest = ["-c", *rest]  # `dolma run pipeline.yaml`: a leading path is the config file
    known, overrides = parser.parse_known_args(rest)
    run: Callable[[Any], int] = module.main
    debug = "--debug" in overrides
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    try:
        if config_cls is None:
            if overrides:
                parser.error(f"unexpected arguments: {' '.join(overrides)}")
            return run(None)
        cfg = config.load(config_cls, known.config, overrides)
        return run(cfg)
    except Exception as exc:
        error = user_error(exc)
        if error is None:
            raise
        if debug:
            traceback.print_exc()
            worker = getattr(exc, "worker_traceback", "")
            if worker:
                print(f"the worker's traceback:\n{worker}", file=sys.stderr)
        print(f"dolma {name}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        stopped = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"dolma {name}: {stopped}; completed shards are kept and a rerun resumes", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the driver is, so it stops the way Ctrl-C does: workers killed, no partial
    output under a final name, a message, and a state a rerun resumes from."""


def _terminated(signum: int, frame: Any) -> None:
    raise Terminated


def user_error(exc: BaseException) -> DolmaError | None:
    """The one-line error for a failure the user can act on, or None for a bug. Library code raises
    :class:`DolmaError` naming the file or object; a storage or S3 failure that reaches here without one (in
    a plugin, say) is still named by what it carries."""
    if isinstance(exc, DolmaError):
        return exc
    if isinstance(exc, OSError) and exc.errno in io.STORAGE_ERRNOS and not io.is_remote_failure(exc):
        return io.storage_error(exc, str(exc.filename or "(a file)"))
    if io.is_remote_failure(exc):
        return io.remote_error(exc, "s3")
    return None


if __name__ == "__main__":
    sys.exit(main())
