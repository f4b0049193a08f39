"""Chat templates: turn canonical messages into token ids with the scored part marked.

Templates:
  None     the tokenizer's own Jinja chat template (what the model was trained with)
  qwen     ChatML as Qwen2/Qwen2.5 write it (default system prompt included)
  qwen3    ChatML with a <think> block; `enable_thinking` decides who writes it
  default  plain "User:/Assistant:" lines for tokenizers with no template

The scored part of an answer ends with the template's end token (<|im_end|> for ChatML) and
the newline after it, as the tokenizer's own template renders them, so the model learns to
stop. Qwen uses <|endoftext|> (an end token) as padding; we never derive scoring masks from
the pad id, only from positions, so the real end token stays scored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.config.fields import TEMPLATES

Message = dict[str, Any]
QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
THINK_BLOCK = re.compile(r"<think>.*?</think>\s*", re.DOTALL)
EMPTY_THINK = "<think>\n\n</think>\n\n"
IM_END = "<|im_end|>"  # ChatML's end of turn


@dataclass
class ChatTemplate:
    """Renders a prompt (ending with the assistant header) and an answer (ending with the
    end-of-turn marker) as text. `name` None means the tokenizer's own template."""

    name: str | None
    tokenizer: Any
    enable_thinking: bool = True

    def prompt_text(self, messages: list[Message]) -> str:
        if self.name is None:
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True,
                enable_thinking=self.enable_thinking)
        if self.name == "default":
            return _default_prompt(messages, self.tokenizer.eos_token or "")
        system = QWEN_DEFAULT_SYSTEM if self.name == "qwen" else None
        text = _chatml(messages, default_system=system, strip_think=self.name == "qwen3")
        text += "<|im_start|>assistant\n"
        if self.name == "qwen3" and not self.enable_thinking:
            text += EMPTY_THINK
        return text

    def answer_text(self, prompt: list[Message], answer: Message) -> str:
        content = answer["content"]
        if self.name is None:
            head = self.prompt_text(prompt)
            full = self.tokenizer.apply_chat_template(
                prompt + [answer], tokenize=False, enable_thinking=self.enable_thinking)
            if full.startswith(head):
                return full[len(head):]
            # Templates that render the last turn differently (e.g. add a think block): the
            # token-level common prefix in encode() finds where the answer starts.
            return full[_common_prefix(head, full):]
        if self.name == "default":
            return content + (self.tokenizer.eos_token or "") + "\n"
        if self.name == "qwen3":
            if not self.enable_thinking:
                content = THINK_BLOCK.sub("", content)
            elif not content.lstrip().startswith("<think>"):
                content = EMPTY_THINK + content
        return content + "<|im_end|>\n"

    def stop_token_ids(self, generation_config: Any = None) -> list[int]:
        """The ids that end an answer in generate(), for chat and evaluation alike: the
        template's end of turn (<|im_end|> for ChatML; `default` ends answers with the eos),
        the tokenizer's eos and pad (Qwen pads with <|endoftext|>, its end of text), and the
        eos ids the model's generation_config names."""
        tok = self.tokenizer
        ids = {tok.eos_token_id, tok.pad_token_id}
        if self.name != "default":
            end = tok.convert_tokens_to_ids(IM_END)  # the unk id (or None) when it is unknown
            if end != tok.unk_token_id:
                ids.add(end)
        configured = getattr(generation_config, "eos_token_id", None)
        ids.update(configured if isinstance(configured, list) else [configured])
        return sorted(i for i in ids if isinstance(i, int) and i >= 0)

    def render(self, prompt: list[Message], answer: Message) -> tuple[str, str]:
        """(prompt text, answer text); the full text of a prompt+answer may differ slightly from
        their concatenation for tokenizer templates, so use encode() for token ids."""
        return self.prompt_text(prompt), self.answer_text(prompt, answer)


def get_template(name: str | None, tokenizer: Any, enable_thinking: bool = True) -> ChatTemplate:
    """The named template, or the tokenizer's own when name is None (falls back to `default`
    when the tokenizer has none)."""
    if name is None and not getattr(tokenizer, "chat_template", None):
        name = "default"
    if name not in TEMPLATES:
        named = ", ".join(n for n in TEMPLATES if n)
        raise ValueError(f"template: unknown template {name!r}; use {named}, or leave it empty "
                         "for the tokenizer's own")
    return ChatTemplate(name, tokenizer, enable_thinking)


def encode(template: ChatTemplate, prompt: list[Message],
           answers: list[Message]) -> tuple[list[int], list[list[int]]]:
    """Token ids of the prompt and of each answer. The prompt is the longest token prefix shared
    by prompt and every prompt+answer, so tokens that merge across the boundary are handled the
    same way TRL's DPOTrainer handles them."""
    tok = template.tokenizer
    head = template.prompt_text(prompt)
    prompt_ids = tok(head, add_special_tokens=False)["input_ids"]
    fulls = [tok(head + template.answer_text(prompt, a), add_special_tokens=False)["input_ids"]
             for a in answers]
    cut = min([len(prompt_ids)] + [_common_prefix(prompt_ids, ids) for ids in fulls])
    return prompt_ids[:cut], [ids[cut:] for ids in fulls]


def encode_conversation(template: ChatTemplate, messages: list[Message],
                        train_on_prompt: bool = False) -> tuple[list[int], list[int]]:
    """Ids of a whole conversation and a 0/1 mask of the tokens to score: every assistant turn
    (or everything with train_on_prompt). Used by SFT."""
    ids: list[int] = []
    mask: list[int] = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt_ids, (answer_ids,) = encode(template, messages[:i], [message])
        new_prompt = prompt_ids[len(ids):] if prompt_ids[:len(ids)] == ids else prompt_ids
        if new_prompt is prompt_ids:  # history rendered differently (e.g. think blocks stripped)
            ids, mask = [], []
        ids += new_prompt + answer_ids
        mask += [int(train_on_prompt)] * len(new_prompt) + [1] * len(answer_ids)
    return ids, mask


def _chatml(messages: list[Message], default_system: str | None, strip_think: bool) -> str:
    parts = []
    if default_system and (not messages or messages[0]["role"] != "system"):
        parts.append(f"<|im_start|>system\n{default_system}<|im_end|>\n")
    for m in messages:
        content = m["content"]
        if strip_think and m["role"] == "assistant":
            content = THINK_BLOCK.sub("", content)
        role = "user" if m["role"] == "tool" else m["role"]
        if m["role"] == "tool":
            content = f"<tool_response>\n{content}\n</tool_response>"
        parts.append(f"<|im_start|>{role}\n{content}<|im_end|>\n")
    return "".join(parts)


def _default_prompt(messages: list[Message], eos: str) -> str:
    labels = {"system": "System", "user": "User", "assistant": "Assistant", "tool": "Tool"}
    # Earlier assistant turns end as answers do (content + eos), so a multi-turn conversation
    # renders the same whether a turn is in the prompt or being scored.
    return "".join(f"{labels.get(m['role'], m['role'].title())}: {m['content']}"
                   f"{eos if m['role'] == 'assistant' else ''}\n" for m in messages) + "Assistant: "


def _common_prefix(a, b) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
