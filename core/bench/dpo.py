"""Whole-process pairwise (DPO) training, one trainer after another on the same machine, data,
model, LoRA (r8, all linear layers), loss (sigmoid), batch size, cutoff_len and epochs:

- ours: `python -m core train` with every fast switch on (the defaults);
- ours with prefix_sharing, packing, chunked_logps off in turn, and with all of them off
  (ours-plain: the reference for the loss curve; same data order, group_by_length on);
- TRL's DPOTrainer (core/bench/trl_dpo.py);
- LLaMA-Factory's `llamafactory-cli train` when --llamafactory-cli PATH is given (it needs
  its own virtualenv, docs/benchmarks.md says how to make one).

Each runs as its own process with its own empty PREFSTUDIO_HOME (no cached reference
log-probs): wall time from start to exit, CPU time (user + system: less disturbed than wall
time on a shared machine), peak RSS (wait4's ru_maxrss of the process and what it waited for), peak GPU memory on CUDA, first-step loss, and the largest loss
difference to ours-plain over the first 10 steps. pairs/s and tokens/s divide the pairs
(and their prompt + answer tokens, each answer with its prompt) trained over all epochs by
the wall time. Prints a table and writes JSON.

    python -m core bench dpo
    python -m core bench dpo --workload long --llamafactory-cli ../lf-venv/bin/llamafactory-cli

`python -m core bench kto` trains stage kto on the same workload (each pair a desirable and
an undesirable row) with our scored-only head (ours) and with TRL's fused head
(ours-no-chunked_logps, the reference for its loss curve), everything else the same.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from core.paths import PROJECT_ROOT

from .workload import Workload, prepare

SWITCHES = ("prefix_sharing", "packing", "chunked_logps")
LEARNING_RATE = 5e-6
BETA = 0.1
CURVE_STEPS = 10


def variants(args: argparse.Namespace) -> list[str]:
    if getattr(args, "what", "dpo") == "kto":
        names = ["ours", "ours-no-chunked_logps"]
    else:
        names = ["ours"] + [f"ours-no-{s}" for s in SWITCHES] + ["ours-plain", "trl"]
    if args.llamafactory_cli and getattr(args, "what", "dpo") == "dpo":
        names.append("llamafactory")
    if args.only:
        wanted = set(args.only.split(","))
        names = [n for n in names if n in wanted]
    return names


def bench_dpo(args: argparse.Namespace) -> list[dict]:
    """Run every variant, print the table, write the JSON; returns the results."""
    work = prepare(args.workload, args.size, args.file)
    scratch = Path(tempfile.mkdtemp(prefix="prefstudio-bench-dpo-"))
    print(f"workload {work.name}: {work.pairs} pairs, {work.tokens} tokens, cutoff_len "
          f"{work.cutoff_len}, model {args.size} ({work.model}); batch {args.batch}, "
          f"{args.epochs:g} epochs; scratch {scratch}", flush=True)
    results = []
    for name in variants(args):
        command, read = _command(name, work, args, scratch / name)
        result = measure(name, command, scratch / name)
        result.update(read() if result["exit_code"] == 0 else {})
        _rates(result, work, args.epochs)
        results.append(result)
        print(f"  {name}: {result['wall_s']} s, exit {result['exit_code']}", flush=True)
    _compare(results, "ours-no-chunked_logps" if args.what == "kto" else "ours-plain")
    print(table(results))
    out = Path(args.out or scratch / f"bench_{args.what}.json")
    out.write_text(json.dumps({"stage": args.what, "workload": work.name, "size": args.size, "pairs": work.pairs,
                               "tokens": work.tokens, "cutoff_len": work.cutoff_len,
                               "batch": args.batch, "epochs": args.epochs,
                               "machine": machine(), "results": results}, indent=1))
    print(f"JSON: {out}")
    return results


def measure(name: str, command: list[str], folder: Path) -> dict:
    """Run one process to its end: wall time, peak RSS, exit code, log tail on failure."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PREFSTUDIO_HOME": str(folder / "home"), "PYTHONUNBUFFERED": "1"}
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with open(folder / "process.log", "w") as logfile:
        proc = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=logfile,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    result = {"variant": name, "wall_s": round(wall, 2), "exit_code": proc.returncode,
              "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
              "peak_rss_gb": round(usage.ru_maxrss / 2**20, 3), "load_before": round(load, 2)}
    if proc.returncode:
        result["log_tail"] = (folder / "process.log").read_text(errors="replace")[-2000:]
    return result


def _command(name: str, work: Workload, args, folder: Path):
    """The command line of a variant and a function that reads its losses afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    if name.startswith("ours"):
        off = SWITCHES if name == "ours-plain" else [s for s in SWITCHES if name.endswith(s)]
        path = folder / "config.yaml"
        cfg = _ours(work, args, folder / "run", off)
        if args.what == "kto":  # the pairs split into rows; KTO's own loss
            cfg.pop("pref_loss")
            cfg["stage"] = "kto"
        path.write_text(yaml.safe_dump(cfg))
        return [sys.executable, "-m", "core", "train", str(path)], lambda: _read_ours(folder / "run")
    if name == "trl":
        path = folder / "settings.json"
        path.write_text(json.dumps(_trl(work, args, folder / "run")))
        return ([sys.executable, "-m", "core.bench.trl_dpo", str(path)],
                lambda: _read_trl(folder / "run"))
    path = folder / "llamafactory.yaml"
    path.write_text(yaml.safe_dump(_llamafactory(work, args, folder / "run")))
    return [args.llamafactory_cli, "train", str(path)], lambda: _read_llamafactory(folder / "run")


def _ours(work: Workload, args, out: Path, off) -> dict:
    cfg = dict(model_name_or_path=str(work.model), dataset=work.dataset,
               dataset_dir=str(work.dataset_dir), template="qwen", cutoff_len=work.cutoff_len,
               stage="dpo", finetuning_type="lora", lora_rank=8, lora_target="all",
               pref_loss="sigmoid", pref_beta=BETA, per_device_train_batch_size=args.batch,
               per_device_eval_batch_size=args.batch, gradient_accumulation_steps=1,
               num_train_epochs=args.epochs, learning_rate=LEARNING_RATE, warmup_ratio=0.0,
               logging_steps=1, save_steps=100_000, output_dir=str(out), bf16=args.bf16,
               flash_attn=getattr(args, "flash_attn", "auto"))
    cfg.update({s: False for s in off})
    return cfg


def _trl(work: Workload, args, out: Path) -> dict:
    return dict(model=str(work.model), dataset=work.dataset, dataset_dir=str(work.dataset_dir),
                cutoff_len=work.cutoff_len, batch=args.batch, epochs=args.epochs,
                learning_rate=LEARNING_RATE, lora_rank=8, beta=BETA, output_dir=str(out),
                bf16=args.bf16)


def _llamafactory(work: Workload, args, out: Path) -> dict:
    return dict(model_name_or_path=str(work.model), stage="dpo", do_train=True,
                finetuning_type="lora", lora_rank=8, lora_target="all", pref_beta=BETA,
                pref_loss="sigmoid", dataset=work.dataset, dataset_dir=str(work.dataset_dir),
                template="qwen", cutoff_len=work.cutoff_len, output_dir=str(out),
                logging_steps=1, save_steps=100_000, plot_loss=False, overwrite_output_dir=True,
                report_to="none", per_device_train_batch_size=args.batch,
                gradient_accumulation_steps=1, learning_rate=LEARNING_RATE,
                num_train_epochs=args.epochs, lr_scheduler_type="cosine", warmup_ratio=0.0,
                bf16=args.bf16, seed=42)


def _read_ours(run: Path) -> dict:
    from core.runs.rundir import RunDir

    rd = RunDir(run)
    out = {"losses": [m["loss"] for m in rd.metrics() if "loss" in m and "step" in m]}
    if "peak_gpu_memory_gib" in rd.status():
        out["peak_gpu_gib"] = rd.status()["peak_gpu_memory_gib"]
    return out


def _read_trl(run: Path) -> dict:
    data = json.loads((run / "log_history.json").read_text())
    out = {"losses": [h["loss"] for h in data["log_history"] if "loss" in h]}
    if "peak_gpu_memory_gib" in data:
        out["peak_gpu_gib"] = data["peak_gpu_memory_gib"]
    return out


def _read_llamafactory(run: Path) -> dict:
    lines = (run / "trainer_log.jsonl").read_text().splitlines()
    return {"losses": [r["loss"] for r in map(json.loads, lines) if "loss" in r]}


def _rates(result: dict, work: Workload, epochs: float) -> None:
    losses = result.get("losses") or [None]
    result["first_loss"] = losses[0]
    result["pairs_per_s"] = round(work.pairs * epochs / result["wall_s"], 3)
    result["tokens_per_s"] = round(work.tokens * epochs / result["wall_s"], 1)


def _compare(results: list[dict], reference: str = "ours-plain") -> None:
    """Loss-curve difference to `reference` (first 10 steps) and speed-ups over TRL/LF."""
    by = {r["variant"]: r for r in results}
    plain = by.get(reference, {}).get("losses")
    for r in results:
        if plain and r["variant"].startswith("ours") and r.get("losses"):
            n = min(CURVE_STEPS, len(plain), len(r["losses"]))
            r["curve_diff"] = max(abs(a - b) for a, b in zip(r["losses"][:n], plain[:n]))
        for other in ("trl", "llamafactory"):
            if other in by and by[other]["exit_code"] == 0 and r["exit_code"] == 0:
                r[f"x_{other}"] = round(by[other]["wall_s"] / r["wall_s"], 2)


COLUMNS = (("variant", "variant", "{}"), ("wall_s", "wall s", "{:.1f}"),
           ("cpu_s", "CPU s", "{:.1f}"), ("pairs_per_s", "pairs/s", "{:.3f}"), ("tokens_per_s", "tokens/s", "{:.0f}"),
           ("peak_rss_gb", "peak RSS GB", "{:.2f}"), ("peak_gpu_gib", "peak GPU GiB", "{:.2f}"),
           ("first_loss", "first loss", "{:.4f}"), ("curve_diff", "|dloss| vs plain", "{:.1e}"),
           ("x_trl", "x TRL", "{:.2f}"), ("x_llamafactory", "x LF", "{:.2f}"),
           ("load_before", "load", "{:.1f}"))


def table(results: list[dict]) -> str:
    """A Markdown table of the results (docs/benchmarks.md takes it as it is)."""
    def cell(r, key, fmt):
        value = r.get(key)
        if r["exit_code"] and key not in ("variant", "wall_s"):
            return "failed" if key == "first_loss" else ""
        return "" if value is None else fmt.format(value)

    lines = ["| " + " | ".join(title for _, title, _ in COLUMNS) + " |",
             "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(cell(r, k, f) for k, _, f in COLUMNS) + " |" for r in results]
    return "\n".join(lines)


def machine() -> dict:
    """Where the figures came from."""
    import platform

    import torch

    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "load_after": round(os.getloadavg()[0], 2)}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
