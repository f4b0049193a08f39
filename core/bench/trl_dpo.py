"""TRL's DPOTrainer on a benchmark workload, as one process (run by `python -m core bench dpo`).

    python -m core.bench.trl_dpo SETTINGS.json

SETTINGS.json: model, dataset, dataset_dir, cutoff_len, batch, epochs, learning_rate,
lora_rank, beta, output_dir. The pairs are the workload's rows in TRL's conversational format
(the tokenizer's chat template renders them as `template: qwen` does); TRL's defaults that
would make the run differ from ours are set to ours: fp32 (no bf16 autocast), no gradient
checkpointing, no truncation (every pair fits cutoff_len), logging every step. Everything
else is TRL's default, the reference included (the policy with its adapter off, scored at
every step). Writes output_dir/log_history.json (and peak GPU memory on CUDA).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def main(path: str) -> None:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from core.data import load_rows

    s = json.loads(Path(path).read_text())
    rows = load_rows(s["dataset"], s["dataset_dir"], "dpo").rows
    pairs = [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]}
             for r in rows]
    cuda = torch.cuda.is_available()
    args = DPOConfig(
        output_dir=s["output_dir"], per_device_train_batch_size=s["batch"],
        gradient_accumulation_steps=1, num_train_epochs=s["epochs"],
        learning_rate=s["learning_rate"], beta=s["beta"], loss_type=["sigmoid"], max_length=None,
        bf16=cuda and s.get("bf16", False), gradient_checkpointing=False, logging_steps=1,
        save_strategy="no", report_to=[], use_cpu=not cuda, lr_scheduler_type="cosine",
        warmup_steps=0, seed=42)
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(s["model"], dtype=dtype)
    lora = LoraConfig(r=s["lora_rank"], lora_alpha=2 * s["lora_rank"], lora_dropout=0.0,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(pairs),
                         processing_class=AutoTokenizer.from_pretrained(s["model"]),
                         peft_config=lora)
    trainer.train()
    out = {"log_history": trainer.state.log_history}
    if cuda:
        out["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    (Path(s["output_dir"]) / "log_history.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
