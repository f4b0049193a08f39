"""GRPO (stage grpo) with TRL's GRPOTrainer: the policy samples num_generations completions
per prompt, the rewards score them, and each completion is pushed up or down by its reward
relative to its group.

    python -m core train examples/grpo_demo.yaml
    python -m core train examples/grpo_demo.yaml --reward-func my_rewards:score

Prompts are rendered with the run's template (so qwen3 thinking and system prompts match the
other stages) and given to TRL as text; a prompt longer than cutoff_len -
max_completion_length tokens is cut or dropped as `truncation` says (core/data/tokenize.py).
Rewards: core/rewards.py (built-ins from reward_funcs, user functions from --reward-func,
weighted by reward_weights). The reference (only with grpo_beta > 0) is the policy with its adapter off, or base + the start
adapter when continuing one. Logged: loss, reward, reward_std, rewards/<name>/mean and /std,
completions/mean_length (and min/max, clipped_ratio), entropy, kl (grpo_beta > 0).
"""
from __future__ import annotations

from core.config import RunConfig, split_list
from core.errors import UserError


def train(cfg: RunConfig, rd, data, tokenizer, checkpoint: str | None,
          user_rewards: tuple[str, ...] = ()) -> bool:
    """Train stage grpo into `rd`; True if stopped early. `user_rewards`: "module:function"
    specs from the command line. Rewards and prompts are checked before any weight loads."""
    from trl import GRPOConfig, GRPOTrainer

    from core.runs.progress import Phase

    from .common import callbacks, fit, load_model, to_dataset, training_arguments
    from .rewards import builtin_rewards, load_user_reward

    user = [load_user_reward(spec) for spec in user_rewards]
    train_rows, eval_rows, weights = check_data(cfg, data, tokenizer, len(user))
    args = training_arguments(
        cfg, rd, bool(eval_rows), GRPOConfig, num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length, beta=cfg.grpo_beta,
        temperature=cfg.temperature, reward_weights=weights, log_completions=False)
    rewards = builtin_rewards(cfg, args.device) + user
    model = load_model(cfg, rd, tokenizer)
    cbs, stop = callbacks(rd, cfg)
    with Phase(rd, "trainer"):  # TRL prepares its datasets here
        trainer = GRPOTrainer(
            model=model, reward_funcs=rewards, args=args, train_dataset=to_dataset(train_rows),
            eval_dataset=to_dataset(eval_rows) if eval_rows else None,
            processing_class=tokenizer, callbacks=cbs)
    return fit(trainer, rd, tokenizer, checkpoint, stop)


def check_data(cfg: RunConfig, data, tokenizer,
               user_rewards: int = 0) -> tuple[list[dict], list[dict], list[float] | None]:
    """What train() refuses on the loaded data before any weight loads (the dry run of
    core.training.preflight asks too): a column answer_match needs, no reward at all, weights
    that do not match the rewards. `user_rewards`: how many --reward-func functions come on
    top of reward_funcs. Returns the prompt rows (train, eval) and weights. The prompts were
    rendered and cut to cutoff_len - max_completion_length by the data layer (truncation)."""
    _check_columns(cfg, data.train)
    count = len(split_list(cfg.reward_funcs)) + user_rewards
    if not count:
        raise UserError("reward_funcs: grpo needs at least one reward; list built-ins (e.g. "
                        "answer_match) or pass --reward-func module:function")
    train_rows = prompt_rows(data.train, data.train_features)
    eval_rows = prompt_rows(data.eval, data.eval_features) if data.eval else []
    return train_rows, eval_rows, _weights(cfg, count)


def prompt_rows(rows: list[dict], features: list[dict]) -> list[dict]:
    """Rows with the prompt as the text TRL generates from (rendered, and cut to cutoff_len -
    max_completion_length by the data layer), the messages kept as prompt_messages for
    rewards that render them their way."""
    return [{**row, "prompt": f["prompt_text"], "prompt_messages": row["prompt"]}
            for row, f in zip(rows, features)]


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
