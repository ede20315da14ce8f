"""``dolma run pipeline.yaml``: run a pipeline file (see :mod:`dolma.pipeline`), each step the command itself run
in this process, every step's config checked before the first step starts."""

from __future__ import annotations

import importlib

from dolma import pipeline
from dolma.errors import ConfigError
from dolma.pipeline import PipelineConfig, StepCommand

Config = PipelineConfig

STEP_COMMANDS = ("tag", "dedupe", "mix", "tokens", "stat", "train-fasttext")

GUIDE = """\
  dolma run pipeline.yaml [--vars.NAME value ...] [--settings.KEY value ...] [--dryrun]

A pipeline file runs commands in order with shared settings:

  vars:                       # values the steps use as ${name}; override with --vars.corpus /data/cc
    corpus: ${oc.env:CORPUS}  # a dataset prefix holding documents/ (attributes/ are written beside it)
    output: out
  directory: .                # relative paths (and step config files) resolve against this folder
  settings:                   # given to every step whose command has the key, unless the step sets it
    processes: 8
    executor: local           # or ray, with ray_address
    seed: 1124
  steps:
    - command: tag            # tag, dedupe, mix, tokens, stat or train-fasttext
      config:                 # the command's own config keys (`dolma tag --help`), inline...
        documents: ["${corpus}/documents/*.jsonl.gz"]
        experiment: quality
        taggers: [gopher, c4]
    - name: paragraphs        # a name when a command appears twice
      command: dedupe
      config: dedupe.yaml     # ...or a YAML/JSON file

Every step's config is checked (keys, types, taggers, filter expressions) before the first step runs. A rerun
skips finished work (each command resumes per shard), so after an interruption just run it again;
--settings.overwrite true redoes everything. --dryrun prints each step's resolved config and stops.
Pipelines ready to run on your corpus: configs/pipelines/ (docs/pipelines.md)."""


def step_command(name: str) -> StepCommand:
    """The command behind a step: its config struct, its config-only checks and its main function."""
    from dolma.cli import COMMANDS

    if name not in STEP_COMMANDS:
        raise ConfigError(f"command: {name!r} cannot be a step; steps run one of {', '.join(STEP_COMMANDS)}")
    module = importlib.import_module(COMMANDS[name].module)
    return StepCommand(module.Config, getattr(module, "check", _struct_only), module.main)


def _struct_only(config: object) -> None:
    """For a command whose checks all happen when its config struct is built."""


def main(config: PipelineConfig) -> int:
    return pipeline.run(config, step_command)
