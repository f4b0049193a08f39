"""GRPO (stage grpo) with TRL's GRPOTrainer: the policy samples num_generations completions
per prompt, the rewards score them, and each completion is pushed up or down by its reward
relative to its group.

    python -m core train examples/grpo_demo.yaml
    python -m core train examples/grpo_demo.yaml --reward-func my_rewards:score

Prompts are rendered with the run's template (so qwen3 thinking and system prompts match the
other stages) and given to TRL as text; a prompt longer than cutoff_len -
max_completion_length tokens is skipped with a warning. Rewards: core/rewards.py (built-ins
from reward_funcs, user functions from --reward-func, weighted by reward_weights). The
reference (only with grpo_beta > 0) is the policy with its adapter off, or base + the start
adapter when continuing one. Logged: loss, reward, reward_std, rewards/<name>/mean and /std,
completions/mean_length (and min/max, clipped_ratio), entropy, kl (grpo_beta > 0).
"""
from __future__ import annotations

import logging

from core.config import RunConfig, split_list
from core.errors import UserError

log = logging.getLogger(__name__)


def train(cfg: RunConfig, rd, data, tokenizer, checkpoint: str | None,
          user_rewards: tuple[str, ...] = ()) -> bool:
    """Train stage grpo into `rd`; True if stopped early. `user_rewards`: "module:function"
    specs from the command line. Rewards and prompts are checked before any weight loads."""
    from trl import GRPOConfig, GRPOTrainer

    from core.models.policy import load_policy

    from .common import callbacks, describe, fit, to_dataset, training_arguments
    from .rewards import builtin_rewards, load_user_reward

    user = [load_user_reward(spec) for spec in user_rewards]
    train_rows, eval_rows, weights = check_data(cfg, data, tokenizer, len(user))
    args = training_arguments(
        cfg, rd, bool(eval_rows), GRPOConfig, num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length, beta=cfg.grpo_beta,
        temperature=cfg.temperature, reward_weights=weights, log_completions=False)
    rewards = builtin_rewards(cfg, args.device) + user
    model = load_policy(cfg, tokenizer)
    describe(model)
    cbs, stop = callbacks(rd, cfg)
    trainer = GRPOTrainer(
        model=model, reward_funcs=rewards, args=args, train_dataset=to_dataset(train_rows),
        eval_dataset=to_dataset(eval_rows) if eval_rows else None, processing_class=tokenizer,
        callbacks=cbs)
    return fit(trainer, rd, tokenizer, checkpoint, stop)


def check_data(cfg: RunConfig, data, tokenizer,
               user_rewards: int = 0) -> tuple[list[dict], list[dict], list[float] | None]:
    """What train() refuses on the loaded data before any weight loads (the dry run of
    core.training.preflight asks too): a column answer_match needs, no reward at all, weights
    that do not match the rewards, no prompt that fits. `user_rewards`: how many --reward-func
    functions come on top of reward_funcs. Returns the prompt rows (train, eval) and weights."""
    from core.data.templates import get_template

    _check_columns(cfg, data.train)
    count = len(split_list(cfg.reward_funcs)) + user_rewards
    if not count:
        raise UserError("reward_funcs: grpo needs at least one reward; list built-ins (e.g. "
                        "answer_match) or pass --reward-func module:function")
    template = get_template(cfg.template, tokenizer, cfg.enable_thinking)
    train_rows = prompt_rows(data.train, template, tokenizer, cfg)
    eval_rows = prompt_rows(data.eval, template, tokenizer, cfg) if data.eval else []
    return train_rows, eval_rows, _weights(cfg, count)


def prompt_rows(rows: list[dict], template, tokenizer, cfg: RunConfig) -> list[dict]:
    """Rows with the prompt rendered as text (and kept as prompt_messages for rewards that
    render it their way); prompts that leave no room for max_completion_length tokens within
    cutoff_len are left out (and counted in the log)."""
    room = cfg.cutoff_len - cfg.max_completion_length
    out = []
    for row in rows:
        text = template.prompt_text(row["prompt"])
        if len(tokenizer(text, add_special_tokens=False)["input_ids"]) <= room:
            out.append({**row, "prompt": text, "prompt_messages": row["prompt"]})
    if len(out) < len(rows):
        log.warning("grpo: skipped %d of %d prompts longer than cutoff_len - "
                    "max_completion_length = %d tokens; raise cutoff_len to keep them",
                    len(rows) - len(out), len(rows), room)
    if not out:
        raise UserError(f"cutoff_len: {cfg.cutoff_len} leaves no prompt room for "
                        f"max_completion_length {cfg.max_completion_length}; raise cutoff_len")
    return out


def _check_columns(cfg: RunConfig, rows: list[dict]) -> None:
    if "answer_match" in split_list(cfg.reward_funcs) and cfg.reward_answer_column not in rows[0]:
        have = ", ".join(k for k in rows[0] if k != "prompt") or "no other column"
        raise UserError(f"reward_answer_column: the data has no column "
                        f"{cfg.reward_answer_column!r} for answer_match (it has: {have}); set "
                        "reward_answer_column or drop answer_match from reward_funcs")


def _weights(cfg: RunConfig, count: int) -> list[float] | None:
    weights = [float(w) for w in split_list(cfg.reward_weights)]
    if weights and len(weights) != count:
        raise UserError(f"reward_weights: {len(weights)} weights for {count} rewards "
                        "(reward_funcs, then each --reward-func); give one per reward")
    return weights or None
