"""A trained reward model (a finished `rm` run) as a scorer of answers: GRPO's reward_model
reward and the evaluation judge both score through RewardScorer.

    scorer = RewardScorer("saves/rm-demo")
    scorer.score([[{"role": "user", "content": "Capital of France?"}]], ["Paris."])  # [1.7]

A (prompt, answer) pair is rendered with the rm run's own template and cut to its cutoff_len
(keeping the end), then scored in right-padded batches: the score head reads the last real
token, as TRL's RewardTrainer trained it. Rendering matters: TRL's own reward-model path would
score the bare decoded text, without the end-of-turn tokens the model saw in training.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from core.config import RunConfig
from core.errors import UserError

log = logging.getLogger(__name__)
Message = dict[str, Any]


def rm_config(path: str | Path, key: str = "reward_model") -> RunConfig:
    """The config of a finished rm run; a UserError naming `key` for anything else."""
    from core.runs.rundir import RunDir

    rd = RunDir(path)
    try:
        cfg = RunConfig.load(rd.config)
    except UserError as e:
        raise UserError(f"{key}: {path} is not a run directory ({e})") from e
    if cfg.stage != "rm" or not rd.has_final_model():
        raise UserError(f"{key}: {path} is not a finished rm run (stage {cfg.stage}, "
                        f"state {rd.status().get('state')}); train one with stage: rm")
    return cfg


def load_reward_model(path: str | Path, dtype: str | None = None,
                      key: str = "reward_model") -> tuple[Any, Any]:
    """(model, tokenizer) of a finished rm run: a plain transformers sequence classifier with
    one output (LoRA merged into base + the run's start adapters), in eval mode, in the run's
    dtype (or `dtype`, one of core.models.loading.DTYPES) and quantization."""
    return _load(Path(path), rm_config(path, key), dtype, key)


def _load(path: Path, cfg: RunConfig, dtype: str | None, key: str) -> tuple[Any, Any]:
    from peft import PeftModel
    from transformers import AutoTokenizer

    from core.models.loading import LoadOptions, load_model

    opts = LoadOptions.of_run(cfg, adapters=tuple(cfg.adapters), key=key)
    if dtype is not None:
        opts = opts.replace(dtype=dtype)
    if (path / "adapter_config.json").is_file():
        model = PeftModel.from_pretrained(load_model(opts, head="reward"), str(path))
        model = model.merge_and_unload()
    else:  # full weights: the run's folder is the model
        model = load_model(opts.replace(model=str(path), adapters=(), quantization_bit=None),
                           head="reward")
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model.config.pad_token_id = tokenizer.pad_token_id  # the head reads the last non-pad token
    return model.eval(), tokenizer


class RewardScorer:
    """An rm run loaded once, scoring (prompt messages, answer text) pairs in batches."""

    def __init__(self, path: str | Path, device: Any = "cpu", dtype: str | None = None,
                 batch_size: int = 16, key: str = "reward_model") -> None:
        from core.data.templates import get_template

        self.cfg = rm_config(path, key)
        self.model, self.tokenizer = _load(Path(path), self.cfg, dtype, key)
        if getattr(self.model, "hf_quantizer", None) is None:  # quantized: on its GPU already
            self.model.to(device)
        self.device = next(self.model.parameters()).device
        self.template = get_template(self.cfg.template, self.tokenizer, self.cfg.enable_thinking)
        self.batch_size = batch_size

    def ids(self, prompt: list[Message], answer: str) -> list[int]:
        """The token ids the model scores: prompt + answer in the run's template, cut from the
        left to the run's cutoff_len so the scored end is kept."""
        from core.data.templates import encode

        prompt_ids, (answer_ids,) = encode(self.template, prompt,
                                           [{"role": "assistant", "content": answer}])
        return (prompt_ids + answer_ids)[-self.cfg.cutoff_len:]

    def score(self, prompts: list[list[Message]], answers: list[str]) -> list[float]:
        """The reward of each answer to its prompt (the lists run in parallel)."""
        if len(prompts) != len(answers):
            raise ValueError(f"{len(prompts)} prompts but {len(answers)} answers")
        seqs = [self.ids(p, a) for p, a in zip(prompts, answers)]
        out: list[float] = []
        for start in range(0, len(seqs), self.batch_size):
            out += self._forward(seqs[start:start + self.batch_size])
        return out

    @torch.no_grad()
    def _forward(self, seqs: list[list[int]]) -> list[float]:
        from torch.nn.utils.rnn import pad_sequence

        ids = pad_sequence([torch.tensor(s) for s in seqs], batch_first=True,
                           padding_value=self.tokenizer.pad_token_id)
        mask = pad_sequence([torch.ones(len(s), dtype=torch.long) for s in seqs], batch_first=True)
        logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
        return logits[:, 0].float().tolist()
