"""Preflight: would a run of this config start, and what would it do? Everything training
checks before it loads a weight, as a dry run that writes nothing and loads no weights:

    findings = preflight(cfg)          # [Finding(key, message, severity), ...]
    refused(findings)                  # True when the run would be refused
    findings, loaded = preflight_with_data(cfg)   # + the tokenizer, template and data loaded
    python -m core train --check examples/dpo_demo.yaml max_steps=5     # the same, printed

It asks the same functions the training flow (core/training/run.py) does: the config's
validation, the machine checks, the run placement refusals (core.runs.placement, resume
included), the model's tokenizer and layout (core.models.checks: a pad token, lora_target and
freeze_trainable_layers against config.json's modules), the data loaded, checked and tokenized
with the model's tokenizer, and the stage's own data checks (a method module's check_data).
The WebUI's Preview shows the findings next to the fields they name.
"""
from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import FIELDS, RunConfig, problems
from core.errors import UserError
from core.runs.placement import PLACEMENT, config_changes, in_use, place, resume_point
from core.runs.procs import lock_held
from core.runs.rundir import RunDir

from .run import METHODS, check_reward_funcs

log = logging.getLogger(__name__)
SEVERITIES = ("error", "warning", "info")  # error: the run would be refused
LISTED = 10  # bad records named one by one; the rest are counted


@dataclass(frozen=True)
class Finding:
    key: str  # the config key it is about ("" when none fits); a file is named in the message
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        head = "" if not self.key or self.message.startswith(f"{self.key}:") else f"{self.key}: "
        return f"{self.severity}: {head}{self.message}"


@dataclass
class Loaded:
    """What the dry run loaded, for callers that look further (core.training.doctor)."""

    tokenizer: Any
    template: Any  # core.data.templates.ChatTemplate
    data: Any  # core.data.TrainingData


def preflight(cfg: RunConfig, *, config_path: str | os.PathLike | None = None,
              saves_dir: str | os.PathLike | None = None, root: Path | None = None,
              reward_funcs: Sequence[str] = (),
              tokenizer: Callable[[RunConfig], Any] | None = None) -> list[Finding]:
    """Every finding for a run of `cfg`, placed as run() places it (`config_path`, `saves_dir`
    and `root` as core.runs.placement.place takes them). `reward_funcs`: the --reward-func
    specs (counted, not imported). `tokenizer(cfg)` loads the model's tokenizer (default:
    core.models.loading.load_tokenizer; the WebUI passes its cache). The data is checked only
    for a valid config, as training would never reach it otherwise."""
    return preflight_with_data(cfg, config_path=config_path, saves_dir=saves_dir, root=root,
                               reward_funcs=reward_funcs, tokenizer=tokenizer)[0]


def preflight_with_data(cfg: RunConfig, *, config_path: str | os.PathLike | None = None,
                        saves_dir: str | os.PathLike | None = None, root: Path | None = None,
                        reward_funcs: Sequence[str] = (),
                        tokenizer: Callable[[RunConfig], Any] | None = None
                        ) -> tuple[list[Finding], Loaded | None]:
    """preflight()'s findings and what it loaded (None when it stopped before the data, or
    the data failed to load)."""
    found = [Finding(key, message) for key, message in problems(cfg)]
    found += _caught(lambda: _dataset_names(cfg), "dataset")  # before any tokenizer loads
    found += _caught(lambda: check_reward_funcs(cfg, reward_funcs), "stage")
    found += _machine(cfg)
    if not any(f.key in PLACEMENT for f in found):  # a bad output_dir is no folder to look in
        found += _placement(cfg, config_path, saves_dir, root)
    if refused(found):
        return found, None
    more, loaded = _data(cfg, tokenizer, len(reward_funcs))
    return found + more, loaded


def refused(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def key_of(message: str, default: str = "") -> str:
    """The config key a message starts with ("cutoff_len: ..."), else `default`."""
    head = message.split(":", 1)[0].strip()
    return head if head in FIELDS else default


def _caught(check: Callable[[], Any], default: str) -> list[Finding]:
    try:
        check()
    except UserError as e:
        return [_failure(e, default)]
    return []


def _failure(error: Exception, default: str) -> Finding:
    """A refusal (UserError) as it reads, anything unforeseen with its type, as training's
    command line would print it."""
    text = str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
    return Finding(key_of(text, default), text)


def _dataset_names(cfg: RunConfig) -> None:
    from core.data.training import check_dataset_names

    check_dataset_names(cfg)


def _machine(cfg: RunConfig) -> list[Finding]:
    from core.models.loading import check_machine

    return _caught(lambda: check_machine(cfg), "")


def _placement(cfg: RunConfig, config_path: str | os.PathLike | None,
               saves_dir: str | os.PathLike | None, root: Path | None) -> list[Finding]:
    """Where the run goes and whether it may start there (resume included)."""
    cfg = place(cfg, saves_dir, config_path=config_path, root=root)
    rd = RunDir(cfg.output_dir)
    if lock_held(rd):
        return [Finding("output_dir", in_use(rd))]
    try:
        checkpoint = resume_point(cfg, rd)
    except UserError as e:
        return [Finding(key_of(str(e), "output_dir"), str(e))]
    found = [Finding("output_dir", f"the run goes to {rd.path}", "info")]
    if checkpoint is not None:
        found.append(Finding("resume_from_checkpoint", f"resumes from {checkpoint.path}", "info"))
        changes = config_changes(cfg, checkpoint)
        if changes:
            listed = ", ".join(str(c) for c in changes)
            found.append(Finding("resume_from_checkpoint", f"{checkpoint.path.name} was saved "
                                 f"with other settings, resuming with: {listed}", "warning"))
    return found


def _data(cfg: RunConfig, tokenizer: Callable[[RunConfig], Any] | None,
          user_rewards: int) -> tuple[list[Finding], Loaded | None]:
    """The model's tokenizer and layout, then the data as training loads it."""
    from core.models.loading import LoadOptions, load_tokenizer

    try:
        tok = tokenizer(cfg) if tokenizer else load_tokenizer(LoadOptions.of_run(cfg))
    except Exception as e:  # noqa: BLE001 - training would fail the same way: say how
        return [_failure(e, "model_name_or_path")], None
    found = _model(cfg, tok)
    if any(f.key == "model_name_or_path" for f in found):
        return found, None  # a tokenizer that cannot pad: the data would only fail on it
    more, loaded = _records(cfg, tok, user_rewards)
    return found + more, loaded


def _model(cfg: RunConfig, tok: Any) -> list[Finding]:
    """What training checks of the model before load_policy (core.models.checks)."""
    from core.models.checks import model_problems

    try:
        return [Finding(key, message) for key, message in model_problems(cfg, tok)]
    except Exception as e:  # noqa: BLE001 - a config.json that does not load: say how
        return [_failure(e, "model_name_or_path")]


def _records(cfg: RunConfig, tok: Any,
             user_rewards: int) -> tuple[list[Finding], Loaded | None]:
    """The data tokenized with the model's tokenizer, bad records counted against
    max_bad_ratio, then the stage's own checks."""
    from core.data import load_for_training
    from core.data.templates import get_template
    from core.data.training import check_command

    check = getattr(importlib.import_module(METHODS[cfg.stage]), "check_data", None)
    try:
        template = get_template(cfg.template, tok, cfg.enable_thinking)
        data = load_for_training(cfg, template)
        if check is not None:
            check(cfg, data, tok, user_rewards)
    except Exception as e:  # noqa: BLE001 - as above
        return [_failure(e, "dataset")], None
    ordered = sorted(data.problems, key=lambda p: not p.is_error)  # skipped records first
    found = [Finding("dataset", str(p), "warning") for p in ordered[:LISTED]]
    if len(ordered) > LISTED:
        found.append(Finding("dataset", f"... and {len(ordered) - LISTED} more problems "
                             f"({check_command(cfg.datasets[0], cfg)})", "warning"))
    if data.bad:
        found.append(Finding("max_bad_ratio", f"{data.bad} of {data.total} records are bad and "
                             "would be skipped", "warning"))
    found += [Finding(key_of(note, "dataset"), note, "warning") for note in data.notes]
    found.append(Finding("dataset", f"{len(data.train)} training rows and {len(data.eval)} "
                         f"evaluation rows from {data.total} records", "info"))
    return found, Loaded(tok, template, data)
