"""Reward functions for GRPO: built-ins chosen in the config, your own from the command line.

Built-ins (`reward_funcs: answer_match,format`), each giving one float per completion:
  answer_match  1 when the completion's final answer equals the dataset column
                reward_answer_column (case, spaces and end punctuation ignored); the final
                answer is the last \\boxed{...}, else the text after a </think>, else the last
                word or number of the completion. 0 otherwise.
  format        1 when reward_format_regex matches the start of the completion (dot matches
                newlines), else 0.
  length        1 at reward_length_target tokens, falling linearly to 0 at 0 and at twice it.
  reward_model  the score of a trained `rm` run (reward_model: saves/<rm run>), on the
                prompt and completion rendered with that run's template.
Your own functions are given only on the command line, never in a YAML, since a YAML may
come from a form or a stranger and naming a function runs its module:

    python -m core train examples/grpo_demo.yaml --reward-func my_rewards:score
    python -m core train examples/grpo_demo.yaml --reward-func ./rewards.py:brevity

A function is called as TRL calls it: f(prompts, completions, completion_ids, **columns),
where prompts and completions are texts (the prompt rendered with the run's template) and
columns are the dataset's other columns (e.g. answer=[...]) plus prompt_messages (the prompt
as messages); it returns one float (or None) per completion. Metrics: rewards/<name>/mean
and /std, and reward (their weighted sum).
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any, Callable

from core.config import RunConfig, split_list
from core.errors import UserError

Reward = Callable[..., list[float]]
BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
LAST_WORD = re.compile(r"[\w.\-]+(?=\W*$)")


def text_of(completion: Any) -> str:
    """A completion as text: TRL gives text for text prompts, messages for conversations."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


def normalize(answer: Any) -> str:
    return re.sub(r"\s+", " ", str(answer)).strip().strip(".!?,;:\"'").strip().lower()


def final_answers(completion: str) -> set[str]:
    """The candidates for a completion's final answer, normalized."""
    after = completion.rsplit("</think>", 1)[-1]
    found = {normalize(after)}
    boxed = BOXED.findall(completion)
    if boxed:
        found.add(normalize(boxed[-1]))
    last = LAST_WORD.search(after.strip())
    if last:
        found.add(normalize(last.group(0)))
    return found - {""}


def answer_match(column: str) -> Reward:
    def answer_match(completions, **columns) -> list[float]:
        return [1.0 if normalize(gold) in final_answers(text_of(c)) else 0.0
                for c, gold in zip(completions, columns[column])]
    return answer_match


def format_match(pattern: str) -> Reward:
    regex = re.compile(pattern, re.DOTALL)

    def format(completions, **_) -> list[float]:  # noqa: A001 - the metric's name
        return [1.0 if regex.match(text_of(c)) else 0.0 for c in completions]
    return format


def length_near(target: int) -> Reward:
    def length(completions, completion_ids, **_) -> list[float]:
        return [max(0.0, 1.0 - abs(len(ids) - target) / target) for ids in completion_ids]
    return length


def model_score(path: str, device: Any) -> Reward:
    """The score of an rm run's model for prompt + completion, rendered with that run's
    template and cutoff_len as it was trained (reward_model.RewardScorer)."""
    from .reward_model import RewardScorer

    scorer = RewardScorer(path, device)

    def reward_model(completions, prompt_messages, **_) -> list[float]:
        return scorer.score(prompt_messages, [text_of(c) for c in completions])
    return reward_model


def builtin_rewards(cfg: RunConfig, device: Any = "cpu") -> list[Reward]:
    """The configured built-ins, in reward_funcs order."""
    out: list[Reward] = []
    for name in split_list(cfg.reward_funcs):
        if name == "answer_match":
            out.append(answer_match(cfg.reward_answer_column))
        elif name == "format":
            out.append(format_match(cfg.reward_format_regex))
        elif name == "length":
            out.append(length_near(cfg.reward_length_target))
        elif name == "reward_model":
            out.append(model_score(cfg.reward_model, device))
    return out


def load_user_reward(spec: str) -> Reward:
    """`module:function` (importable from the working directory) or `file.py:function`."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name:
        raise UserError(f"--reward-func {spec}: expected module:function or file.py:function")
    try:
        if where.endswith(".py"):
            path = Path(where).resolve()
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            if module_spec is None or not path.is_file():
                raise FileNotFoundError(path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module(where)
    except Exception as e:  # a user module may raise anything while importing
        raise UserError(f"--reward-func {spec}: cannot import {where} "
                        f"({type(e).__name__}: {e})") from e
    func = getattr(module, name, None)
    if not callable(func):
        raise UserError(f"--reward-func {spec}: {where} has no function {name!r}")
    return func
