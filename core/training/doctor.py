"""The run doctor: before a run, what will go wrong with it, from its real data and model.

    report = doctor(cfg)                            # DoctorReport
    report = doctor(cfg, gpu_gib=24, probe=True)    # + fits a 24 GiB GPU? + two timed steps
    report.all_findings()                           # preflight's findings + the doctor's
    python -m core doctor examples/dpo_demo.yaml [--gpu-memory 24] [--probe] [--json]

It starts from the preflight (core.training.preflight: validation, this machine, the output
folder, the data loaded and tokenized with the model's tokenizer; no weights) and adds:
  - two real pairs rendered token by token as the model sees them, the tokens the loss
    scores flagged (core.training.view)
  - the data's findings (core.training.checks, core.training.token_checks): length bias,
    identical and near-duplicate pairs, dominating prompts, cut records, BOS mistakes, a chat
    template applied twice
  - the peak memory on the CPU and a GPU, and whether it fits `gpu_gib` (core.training.memory)
  - with `probe`, two real training steps: seconds per step, the run's ETA and the measured
    memory (core.training.probe; loads the weights, writes nothing to the run folder)
Each finding says what was seen, what it usually means and what to try. Every run logs the
data and memory findings at its start (log_checks, called by core.training.run).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import RunConfig

from .checks import Check, data_checks
from .preflight import Finding, preflight_with_data, refused

log = logging.getLogger(__name__)
MEASURED_STAGES = ("dpo",)  # memory estimate and probe: the pairwise trainer's path


@dataclass
class DoctorReport:
    findings: list[Finding]  # the preflight's
    checks: list[Check] = field(default_factory=list)
    pairs: list[Any] = field(default_factory=list)  # core.training.view.ShownPair
    memory: Any = None  # core.training.memory.MemoryReport
    probe: Any = None  # core.training.probe.Probe

    @property
    def refused(self) -> bool:
        return refused(self.findings)

    def all_findings(self) -> list[Finding]:
        """The preflight's findings, then the doctor's as findings (what the Train tab's
        Preview lists next to the fields)."""
        return self.findings + [Finding(c.key, c.line(), c.severity) for c in self.checks]

    def to_dict(self) -> dict[str, Any]:
        return {"refused": self.refused,
                "findings": [{"key": f.key, "message": f.message, "severity": f.severity}
                             for f in self.findings],
                "checks": [c.to_dict() for c in self.checks],
                "pairs": [p.to_dict() for p in self.pairs],
                "memory": self.memory.to_dict() if self.memory else None,
                "probe": self.probe.to_dict() if self.probe else None}


def doctor(cfg: RunConfig, *, gpu_gib: float | None = None, probe: bool = False,
           pairs: int = 2, config_path: str | os.PathLike | None = None,
           saves_dir: str | os.PathLike | None = None, root: Path | None = None,
           reward_funcs: Sequence[str] = (),
           tokenizer: Callable[[RunConfig], Any] | None = None) -> DoctorReport:
    """The doctor's report on a run of `cfg` (placement arguments and `tokenizer` as
    core.training.preflight.preflight takes them). Only the preflight's findings when it
    refuses the run or cannot load the data."""
    findings, loaded = preflight_with_data(cfg, config_path=config_path, saves_dir=saves_dir,
                                           root=root, reward_funcs=reward_funcs,
                                           tokenizer=tokenizer)
    report = DoctorReport(findings)
    if loaded is None or report.refused:
        return report
    data, features = loaded.data, loaded.data.train_features
    report.checks = data_checks(cfg.stage, data.train, features, loaded.template)
    if cfg.stage == "dpo" and features:  # the scored flags are the dpo loss's (rm scores ends)
        from .view import show_pairs

        report.pairs = show_pairs(features, loaded.tokenizer, pairs)
    if cfg.stage not in MEASURED_STAGES or not features:
        report.checks.append(Check("memory", "stage", "info", f"The memory estimate and the "
                                   f"time probe cover stage dpo, not {cfg.stage}."))
        return report
    report.memory, more = memory_checks(cfg, features, gpu_gib)
    report.checks += more
    if probe:
        from .probe import probe as run_probe

        report.probe = run_probe(cfg, loaded.tokenizer, data)
        report.checks += probe_checks(report.probe, report.memory, cfg)
    return report


def log_checks(cfg: RunConfig, template: Any, data: Any) -> None:
    """The start of every run: the data findings and the memory estimate for the device the
    run uses, logged one line each (warnings as warnings). Cheap (no weights); a failure here
    is logged and never stops the run."""
    try:
        checks = data_checks(cfg.stage, data.train, data.train_features, template)
        if cfg.stage in MEASURED_STAGES and data.train_features:
            checks += memory_checks(cfg, data.train_features, None, here=True)[1]
    except Exception as e:  # noqa: BLE001 - the doctor advises; it must not fail a run
        log.warning("Doctor: skipped (%s: %s)", type(e).__name__, e)
        return
    for c in checks:
        log.log(logging.WARNING if c.severity == "warning" else logging.INFO, "Doctor %s: %s",
                c.id, c.line())


# --- memory and probe findings -----------------------------------------------------------
def size(n: float) -> str:
    """Bytes as GiB (from 1 GiB) or MiB."""
    return f"{n / 1024 ** 3:.2f} GiB" if n >= 1024 ** 3 else f"{n / 1024 ** 2:.1f} MiB"


def memory_checks(cfg: RunConfig, features: list[dict], gpu_gib: float | None,
                  here: bool = False) -> tuple[Any, list[Check]]:
    """The memory report and its findings; `here`: only the device this machine trains on,
    with a warning when it exceeds this machine's memory."""
    import torch

    from .memory import estimate_memory

    report = estimate_memory(cfg, features, gpu_gib)
    b = report.batch
    # rows x tokens as the run lays them out (prefix sharing and packing: fewer, longer rows)
    where = f"at the longest batch ({b.pair_count} pairs, {b.sequences} x {b.width} tokens)"
    lines = {d: f"{d.upper()} ({e.dtype}) {size(e.total)} [{_parts(e)}]"
             for d, e in (("gpu", report.gpu), ("cpu", report.cpu))}
    numbers = {"params": report.params, "trainable": report.trainable}
    if here:
        device = "gpu" if torch.cuda.is_available() else "cpu"
        return report, [_here(report, device, where, lines[device], numbers)]
    out = [Check("memory", "per_device_train_batch_size", "info",
                 f"Estimated peak memory {where}: {lines['gpu']}; {lines['cpu']}. "
                 f"{report.trainable:,} of {report.params:,} parameters train; "
                 f"{_reference(cfg)}.", numbers=numbers)]
    if report.fit:
        out.append(_fit_check(report, cfg))
    return report, out


def _parts(estimate: Any) -> str:
    return ", ".join(f"{k} {size(v)}" for k, v in estimate.parts.items() if v)


def _reference(cfg: RunConfig) -> str:
    """Where the reference log-probs come from, as core.methods.reference computes them."""
    from core.methods.losses import LOSSES

    if not LOSSES[cfg.pref_loss].reference:
        return f"{cfg.pref_loss} has no reference"
    model = ("ref_model, kept in memory" if cfg.ref_model else "the policy with its adapter "
             "off (no copy)" if cfg.finetuning_type == "lora" else "a frozen copy of the policy")
    return f"reference: {model}; its log-probs are computed once and cached on disk"


def _here(report: Any, device: str, where: str, line: str, numbers: dict) -> Check:
    import psutil

    estimate = report.gpu if device == "gpu" else report.cpu
    if device == "gpu":
        import torch
        have = torch.cuda.get_device_properties(0).total_memory
    else:
        have = psutil.virtual_memory().total
    if estimate.total <= have:
        return Check("memory", "per_device_train_batch_size", "info",
                     f"Estimated peak memory {where}: {line}; this machine has {size(have)}.",
                     numbers=numbers)
    return Check("memory", "per_device_train_batch_size", "warning",
                 f"Estimated peak memory {where}: {line}, more than this machine's "
                 f"{size(have)}.", "The run may stop out of memory at its longest batch.",
                 "lower per_device_train_batch_size (raise gradient_accumulation_steps to "
                 "keep the batch), set gradient_checkpointing=true, or lower cutoff_len "
                 "(python -m core doctor CONFIG --gpu-memory GIB finds what fits).", numbers)


def _fit_check(report: Any, cfg: RunConfig) -> Check:
    from .memory import MAX_BATCH

    fit = report.fit
    numbers = {"gpu_gib": fit.gib, "needs": report.gpu.total, "largest_batch": fit.largest_batch,
               "largest_cutoff": fit.largest_cutoff, "with_checkpointing": fit.with_checkpointing}
    most = f"{fit.largest_batch}{' or more' if fit.largest_batch >= MAX_BATCH else ''}"
    batch = (f"up to {most} pairs per device fit at cutoff_len {cfg.cutoff_len}"
             if fit.largest_batch else f"not even 1 pair per device fits at cutoff_len "
             f"{cfg.cutoff_len}")
    if fit.fits:
        return Check("gpu_fit", "per_device_train_batch_size", "info",
                     f"The run fits a GPU of {fit.gib:g} GiB (about {size(report.gpu.total)}); "
                     f"{batch}.", numbers=numbers)
    tries = []
    if fit.largest_batch:
        tries.append(f"per_device_train_batch_size={fit.largest_batch} with "
                     "gradient_accumulation_steps raised to keep the batch")
    if fit.largest_cutoff:
        tries.append(f"cutoff_len={fit.largest_cutoff}")
    if fit.with_checkpointing:
        tries.append("gradient_checkpointing=true (fits as it is)")
    if cfg.quantization_bit is None and cfg.finetuning_type == "lora":
        tries.append("quantization_bit=4 (QLoRA)")
    return Check("gpu_fit", "per_device_train_batch_size", "warning",
                 f"The run does not fit a GPU of {fit.gib:g} GiB: it needs about "
                 f"{size(report.gpu.total)}; {batch}.",
                 "It would stop out of memory at its longest batch.",
                 "; or ".join(tries) or "a larger GPU.", numbers)


def probe_checks(probe: Any, memory: Any, cfg: RunConfig) -> list[Check]:
    import torch

    device = "gpu" if torch.cuda.is_available() else "cpu"
    estimate = memory.gpu if device == "gpu" else memory.cpu
    state = sum(estimate.parts[k] for k in ("weights", "gradients", "optimizer"))
    m = probe.measured
    reference = (f" plus about {probe.reference_s / 60:.1f} min for the reference pass"
                 if probe.reference_s else "")
    seen = (f"Two training steps took {probe.step_seconds[0]:.2f} s (with warm-up) and "
            f"{probe.per_step:.2f} s: the run's {probe.total_steps} steps take about "
            f"{_duration(probe.per_step * probe.total_steps)}{reference}. Measured: weights, "
            f"gradients and optimizer {size(m['state'])} (estimated {size(state)}), "
            f"activations at the longest batch {size(m['activations'])} (estimated "
            f"{size(estimate.parts['activations'])})")
    if "cuda_peak" in m:
        seen += f", GPU peak {size(m['cuda_peak'])} (estimated {size(estimate.total)})"
    return [Check("probe", "max_steps", "info", seen + ".", numbers={
        "per_step_s": probe.per_step, "eta_s": probe.eta_s, **m})]


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{seconds:.0f} s" if seconds < 90 else f"{minutes // 60} h {minutes % 60:02d} min"
