"""Chat templates: turn canonical messages into token ids with the scored part marked.

The named templates are LLaMA-Factory's (its data/template.py, 0.9.x), rendered as it renders
them, so a model trained there and here sees the same tokens:
  None           the tokenizer's own Jinja chat template (what the model was trained with)
  qwen           ChatML, default system "You are Qwen, created by Alibaba Cloud. You are a
                 helpful assistant." (Qwen2, Qwen2.5)
  qwen3          ChatML with thinking (LLaMA-Factory's ReasoningTemplate): an answer without a
                 think block gets an empty one, "<think>\\n\\n</think>\\n\\n", scored when
                 enable_thinking is on, part of the prompt when it is off (and then written
                 thoughts are removed); earlier answers of a prompt lose their thoughts
  qwen3_nothink  plain ChatML without a default system; think blocks stay as written
                 (Qwen3 Instruct-2507)
  default        "System: s<eos>\\n" "Human: q<eos>\\nAssistant:" "a<eos>\\n"
  empty          the texts alone, one after another: no end token, so a model trained with
                 it never learns to stop
A thought is LLaMA-Factory's "<think>\\n...\\n</think>\\n\\n" exactly (a block written
without those newlines is left as it is, as there).

Like LLaMA-Factory, each piece (a message's slot, the empty think block) is tokenized on its
own and the ids are joined, so a prompt's last token never merges with its answer's first.
The scored part of an answer ends with the template's end (<|im_end|> and the newline for
ChatML), so the model learns to stop. Qwen pads with <|endoftext|> (an end token); scoring
masks come from positions, never from the pad id, so the real end token stays scored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.config.choices import TEMPLATES
from core.config.llamafactory import value_hint

Message = dict[str, Any]
QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
THINK_OPEN, THINK_CLOSE = "<think>\n", "\n</think>\n\n"  # LLaMA-Factory's thought_words
IM_END = "<|im_end|>"  # ChatML's end of turn
EMPTY_THINK = THINK_OPEN + THINK_CLOSE
THOUGHT = re.compile(re.escape(THINK_OPEN) + "(.*?)" + re.escape(THINK_CLOSE), re.DOTALL)


@dataclass(frozen=True)
class Slots:
    """A template's text per role; {content} is the message, {eos} the tokenizer's eos."""

    user: str
    assistant: str
    system: str
    observation: str  # a tool result (role "tool")
    default_system: str = ""
    reasoning: bool = False  # think blocks as LLaMA-Factory's ReasoningTemplate handles them


CHATML = dict(
    user="<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n",
    assistant="{content}<|im_end|>\n", system="<|im_start|>system\n{content}<|im_end|>\n",
    observation="<|im_start|>user\n<tool_response>\n{content}\n</tool_response><|im_end|>\n"
                "<|im_start|>assistant\n")
HUMAN = "Human: {content}{eos}\nAssistant:"
SLOTS = {
    "qwen": Slots(**CHATML, default_system=QWEN_DEFAULT_SYSTEM),
    "qwen3": Slots(**CHATML, reasoning=True),
    "qwen3_nothink": Slots(**CHATML),
    "default": Slots(user=HUMAN, assistant="{content}{eos}\n", system="System: {content}{eos}\n",
                     observation=HUMAN),
    "empty": Slots(user="{content}", assistant="{content}", system="{content}",
                   observation="{content}"),
}


def remove_thought(content: str) -> str:
    """LLaMA-Factory's remove_thought: drop every thought, then leading newlines."""
    return THOUGHT.sub("", content).lstrip("\n")


def has_thought(content: str) -> bool:
    return THINK_OPEN.strip() in content or THINK_CLOSE.strip() in content


@dataclass
class ChatTemplate:
    """Renders a prompt (ending with the assistant header) and an answer (ending with the
    end-of-turn marker) as text. `name` None means the tokenizer's own template."""

    name: str | None
    tokenizer: Any
    enable_thinking: bool = True
    fallback: str = ""  # why `default` stands in for a template the tokenizer lacks ("": none)

    def prompt_text(self, messages: list[Message]) -> str:
        """The generation prompt: the conversation and the header of the next answer."""
        if self.name is None:
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True,
                enable_thinking=self.enable_thinking)
        return "".join(self.pieces(messages, {"role": "assistant", "content": ""})[0])

    def answer_text(self, prompt: list[Message], answer: Message) -> str:
        if self.name is None:
            head = self.prompt_text(prompt)
            full = self.tokenizer.apply_chat_template(
                prompt + [answer], tokenize=False, enable_thinking=self.enable_thinking)
            if full.startswith(head):
                return full[len(head):]
            # Templates that render the last turn differently (e.g. add a think block): the
            # token-level common prefix in encode() finds where the answer starts.
            return full[_common_prefix(head, full):]
        return "".join(self.pieces(prompt, answer)[1])

    def stop_token_ids(self, generation_config: Any = None) -> list[int]:
        """The ids that end an answer in generate(), for chat and evaluation alike: the
        template's end of turn (<|im_end|> for ChatML; `default` ends answers with the eos),
        the tokenizer's eos and pad (Qwen pads with <|endoftext|>, its end of text), and the
        eos ids the model's generation_config names."""
        tok = self.tokenizer
        ids = {tok.eos_token_id, tok.pad_token_id}
        if self.name is None or IM_END in SLOTS[self.name].assistant:
            end = tok.convert_tokens_to_ids(IM_END)  # the unk id (or None) when it is unknown
            if end != tok.unk_token_id:
                ids.add(end)
        configured = getattr(generation_config, "eos_token_id", None)
        ids.update(configured if isinstance(configured, list) else [configured])
        return sorted(i for i in ids if isinstance(i, int) and i >= 0)

    def render(self, prompt: list[Message], answer: Message) -> tuple[str, str]:
        """(prompt text, answer text) of a scored answer; use encode() for token ids. For
        qwen3 the prompt depends on the answer (an answer that brings its own thought gets
        no empty block), so it may differ from prompt_text(prompt)."""
        if self.name is None:
            return self.prompt_text(prompt), self.answer_text(prompt, answer)
        head, last = self.pieces(prompt, answer)
        return "".join(head), "".join(last)

    # --- named templates: LLaMA-Factory's encode_oneturn / encode_multiturn ----------------
    def pieces(self, prompt: list[Message], answer: Message) -> tuple[list[str], list[str]]:
        """Texts of the prompt and of the answer, each piece tokenized on its own."""
        slots = SLOTS[self.name]
        messages = [dict(m) for m in prompt] + [dict(answer)]
        if slots.reasoning:
            for m in messages[:-1]:  # earlier answers lose their thoughts
                if m["role"] == "assistant":
                    m["content"] = remove_thought(m["content"])
            if not self.enable_thinking:
                messages[-1]["content"] = remove_thought(messages[-1]["content"])
        *history, last = self._messages(messages)
        head = [piece for pieces in history for piece in pieces]
        if slots.reasoning and not has_thought(messages[-1]["content"]):
            if self.enable_thinking:
                last = [EMPTY_THINK] + last
            else:
                head = head + [EMPTY_THINK]
        return head, last

    def turns(self, messages: list[Message]) -> list[tuple[list[str], list[str]]]:
        """(prompt pieces, answer pieces) per assistant turn of a conversation: every answer
        keeps its thoughts (or loses them all without thinking) and gets an empty think
        block when it has none."""
        slots = SLOTS[self.name]
        messages = [dict(m) for m in messages]
        if slots.reasoning and not self.enable_thinking:
            for m in messages:
                if m["role"] == "assistant":
                    m["content"] = remove_thought(m["content"])
        rendered = self._messages(messages)
        said = [m for m in messages if m["role"] != "system"] if messages else []
        pairs = []
        for i in range(0, len(rendered) - 1, 2):
            source, target = rendered[i], rendered[i + 1]
            if slots.reasoning and not has_thought(said[i + 1]["content"]):
                if self.enable_thinking:
                    target = [EMPTY_THINK] + target
                else:
                    source = source + [EMPTY_THINK]
            pairs.append((source, target))
        return pairs

    def _messages(self, messages: list[Message]) -> list[list[str]]:
        """Pieces per non-system message; the system text (or the template's default) goes
        before the first one."""
        slots = SLOTS[self.name]
        system, rest = "", messages
        if messages and messages[0]["role"] == "system":
            system, rest = messages[0]["content"], messages[1:]
        system = system or slots.default_system
        by_role = {"user": slots.user, "tool": slots.observation, "assistant": slots.assistant}
        eos = self.tokenizer.eos_token or ""
        out = []
        for i, m in enumerate(rest):
            if m["role"] not in by_role:
                raise ValueError(f"template {self.name}: a {m['role']!r} message can only come "
                                 "first (system) or be user, tool or assistant")
            pieces = [_fill(slots.system, system, eos)] if i == 0 and system else []
            out.append(pieces + [_fill(by_role[m["role"]], m["content"], eos)])
        return out

    def ids(self, pieces: list[str]) -> list[int]:
        tok = self.tokenizer
        return [i for piece in pieces if piece
                for i in tok(piece, add_special_tokens=False)["input_ids"]]


def _fill(slot: str, content: str, eos: str) -> str:
    return slot.replace("{eos}", eos).replace("{content}", content)  # eos first: content is data


def get_template(name: str | None, tokenizer: Any, enable_thinking: bool = True) -> ChatTemplate:
    """The named template, or the tokenizer's own when name is None. A tokenizer without one
    gets `default`, as in LLaMA-Factory, and the template's `fallback` says so (data check,
    preflight and train.log show it)."""
    fallback = ""
    if name is None and not getattr(tokenizer, "chat_template", None):
        name, fallback = "default", no_chat_template(tokenizer)
    if name not in TEMPLATES:
        raise ValueError(f"template: unknown template {name!r}; {value_hint('template', name)}")
    return ChatTemplate(name, tokenizer, enable_thinking, fallback)


def no_chat_template(tokenizer: Any) -> str:
    """What a run without a template of its own is told: the prompts will not look like the
    ones a chat model was trained on."""
    source = getattr(tokenizer, "name_or_path", "") or "the model"
    return (f"template: the tokenizer of {source} has no chat template, so the `default` "
            "template is used (Human: / Assistant: turns, not ChatML); set template "
            "qwen, qwen3 or qwen3_nothink for a Qwen model, or template default to keep it "
            "without this warning")


def encode(template: ChatTemplate, prompt: list[Message],
           answers: list[Message]) -> tuple[list[int], list[list[int]]]:
    """Token ids of the prompt and of each answer. Named templates: as LLaMA-Factory, the
    first answer's prompt is shared. The tokenizer's own template: the prompt is the longest
    token prefix shared by prompt and every prompt+answer, so tokens that merge across the
    boundary are handled the same way TRL's DPOTrainer handles them."""
    if template.name is not None:
        rendered = [template.pieces(prompt, a) for a in answers]
        return template.ids(rendered[0][0]), [template.ids(answer) for _, answer in rendered]
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
    if template.name is not None:
        for source, target in template.turns(messages):
            source_ids, target_ids = template.ids(source), template.ids(target)
            ids += source_ids + target_ids
            mask += [int(train_on_prompt)] * len(source_ids) + [1] * len(target_ids)
        return ids, mask
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


def _common_prefix(a, b) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
