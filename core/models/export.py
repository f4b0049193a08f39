"""Merge a run's LoRA adapter into its base and save a standalone model (+ tokenizer).

    python -m core export --run saves/demo-dpo --out exports/demo-dpo
    python -m core export --run saves/demo-dpo/checkpoint-20 --out exports/ck20 --dtype bfloat16

The result loads with plain `AutoModelForCausalLM.from_pretrained(out)` and chats with the
template the run trained with (written as the tokenizer's chat_template when the tokenizer's
own renders differently). Nothing is half-written: the model is saved into a hidden folder next
to `out` and renamed at the end; a non-empty `out` is never overwritten.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from core.data.templates import EMPTY_THINK, THINK_CLOSE, THINK_OPEN
from core.errors import UserError

from .loading import DTYPES, LoadOptions, load_model, load_tokenizer
from .spec import ModelSpec, run_model_spec

log = logging.getLogger(__name__)


# --- export ------------------------------------------------------------------------------
def export(run_or_adapter: str | os.PathLike, out_dir: str | os.PathLike, dtype: str = "auto",
           max_shard_size: str = "2GB", base: str | None = None) -> Path:
    """Merge and save; returns the output folder. dtype: one of DTYPES, where "auto" keeps the
    base model's saved dtype."""
    out = Path(out_dir)
    if dtype not in DTYPES:
        raise UserError(f"dtype: {dtype!r} is not one of {', '.join(DTYPES)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {out} exists and is not empty; choose a new folder or empty it")
    spec = run_model_spec(run_or_adapter, base=base)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.export-"))
    try:
        _write(spec, tmp, dtype, max_shard_size, source=str(run_or_adapter))
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("Exported %s to %s", run_or_adapter, out)
    return out


def _write(spec: ModelSpec, tmp: Path, dtype: str, max_shard_size: str, source: str) -> None:
    import torch

    # Merged at full precision, then cast to the target dtype.
    opts = LoadOptions(spec.base, adapters=spec.merged, dtype="float32")
    model = load_model(opts)
    if spec.adapter:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, spec.adapter).merge_and_unload()
    target = _target_dtype(spec.base, dtype)
    model.to(target)
    model.config.use_cache = True  # load_model turns it off for training
    model.save_pretrained(tmp, max_shard_size=max_shard_size)
    has_tokenizer = spec.adapter and (Path(spec.adapter) / "tokenizer_config.json").is_file()
    tokenizer = load_tokenizer(opts.replace(model=spec.adapter) if has_tokenizer else opts)
    set_chat_template(tokenizer, spec.template, spec.enable_thinking)
    tokenizer.save_pretrained(tmp)
    info = {"source": source, "base": spec.base, "merged_adapters": list(spec.merged),
            "adapter": spec.adapter, "dtype": str(target).removeprefix("torch."),
            "template": spec.template, "enable_thinking": spec.enable_thinking}
    (tmp / "prefstudio_export.json").write_text(json.dumps(info, indent=1))
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _target_dtype(base: str, dtype: str):
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    from transformers import AutoConfig

    from .loading import resolve_model_path

    saved = getattr(AutoConfig.from_pretrained(resolve_model_path(base)), "dtype", None)
    if isinstance(saved, str):
        saved = getattr(torch, saved, None)
    return saved if isinstance(saved, torch.dtype) else torch.float32


# --- chat template -----------------------------------------------------------------------
PROBES = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
     {"role": "user", "content": "Bye"}],
    [{"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "<think>\nA greeting.\n</think>\n\nHello."},
     {"role": "user", "content": "Bye"}],
]
THINKING_OFF = "{%- if enable_thinking is not defined %}{%- set enable_thinking = false %}{%- endif %}"


def set_chat_template(tokenizer, template: str | None, enable_thinking: bool = True) -> None:
    """Make `tokenizer.apply_chat_template` render prompts as the run's template did: keep the
    tokenizer's own when it agrees on probe conversations, else write the named template as
    Jinja. A run trained without thinking gets that as the default."""
    own = getattr(tokenizer, "chat_template", None)
    if template is None and not own:  # training fell back to `default` (get_template)
        template = "default"
    if template is not None and (not own or not _agrees(tokenizer, template, enable_thinking)):
        tokenizer.chat_template = template_jinja(template, tokenizer.eos_token or "")
        log.info("Wrote the %s template as the tokenizer's chat_template.", template)
    if not enable_thinking and "enable_thinking" in (tokenizer.chat_template or ""):
        tokenizer.chat_template = THINKING_OFF + tokenizer.chat_template
    if tokenizer.chat_template and not _agrees(tokenizer, template, enable_thinking, default=True):
        log.warning("The exported chat template renders prompts differently from the %s template "
                    "the run used; check the export's tokenizer_config.", template or "tokenizer's")


def _agrees(tokenizer, template: str | None, thinking: bool, default: bool = False) -> bool:
    """Whether the tokenizer's Jinja gives the same prompts as our template (with `default`,
    without passing enable_thinking, as a user of the export would)."""
    from core.data.templates import get_template

    ours = get_template(template, tokenizer, thinking)
    extra = {} if default else {"enable_thinking": thinking}
    try:
        return all(ours.prompt_text(m) == tokenizer.apply_chat_template(
            m, tokenize=False, add_generation_prompt=True, **extra) for m in PROBES)
    except Exception:  # a template that cannot render the probes (e.g. no system role)
        return False


def template_jinja(name: str, eos: str) -> str:
    """Jinja equal to core.data.templates' `name` for prompts (tested on probes): the system
    text or the default one, each message's slot, and for qwen3 the thoughts of earlier answers
    removed and the empty think block after the header when enable_thinking is false. A
    conversation ending with an answer renders it as training scored it."""
    from core.data.templates import SLOTS

    slots = SLOTS[name]

    def slot(text: str, var: str) -> str:
        before, after = text.replace("{eos}", eos).split("{content}")
        return " + ".join(p for p in (json.dumps(before) if before else "", var,
                                      json.dumps(after) if after else "") if p)

    assistant = "{{- " + slot(slots.assistant, "content") + " }}"
    if slots.reasoning:
        assistant = _REASONING_ANSWER + assistant
    return (
        (_REMOVE_THOUGHT if slots.reasoning else "")
        + "{%- set ns = namespace(system='', start=0) %}"
        "{%- if messages and messages[0]['role'] == 'system' %}"
        "{%- set ns.system = messages[0]['content'] %}{%- set ns.start = 1 %}{%- endif %}"
        "{%- if not ns.system %}{%- set ns.system = " + json.dumps(slots.default_system) + " %}"
        "{%- endif %}"
        "{%- for m in messages[ns.start:] %}{%- set content = m['content'] %}"
        "{%- if loop.first and ns.system %}{{- " + slot(slots.system, "ns.system") + " }}"
        "{%- endif %}"
        "{%- if m['role'] == 'assistant' %}" + assistant +
        "{%- elif m['role'] == 'tool' %}{{- " + slot(slots.observation, "content") + " }}"
        "{%- else %}{{- " + slot(slots.user, "content") + " }}{%- endif %}{%- endfor %}"
        + ("{%- if add_generation_prompt and enable_thinking is defined and enable_thinking "
           "is false %}{{- " + json.dumps(EMPTY_THINK) + " }}{%- endif %}"
           if slots.reasoning else ""))


# LLaMA-Factory's remove_thought: every "<think>\n...\n</think>\n\n" (shortest match), then
# leading newlines. Jinja has no regular expressions: split at the openings and drop each
# one up to the first closing after it; an opening never closed stays.
_REMOVE_THOUGHT = (
    "{%- macro remove_thought(text) %}{%- set t = namespace(out='', pending='') %}"
    "{%- for part in text.split(" + json.dumps(THINK_OPEN) + ") %}"
    "{%- if loop.first %}{%- set t.out = part %}"
    "{%- elif " + json.dumps(THINK_CLOSE) + " in part %}"
    "{%- set t.out = t.out + part.split(" + json.dumps(THINK_CLOSE) + ", 1)[1] %}"
    "{%- set t.pending = '' %}"
    "{%- else %}{%- set t.pending = t.pending + " + json.dumps(THINK_OPEN) + " + part %}"
    "{%- endif %}{%- endfor %}{{- (t.out + t.pending).lstrip('\\n') }}{%- endmacro %}")
# An answer in the prompt loses its thoughts; the conversation's last answer (no generation
# prompt) keeps them unless thinking is off, and gets the empty block when it has none.
_REASONING_ANSWER = (
    "{%- set thinking = not (enable_thinking is defined and enable_thinking is false) %}"
    "{%- if not loop.last or add_generation_prompt or not thinking %}"
    "{%- set content = remove_thought(content) %}{%- endif %}"
    "{%- if loop.last and not add_generation_prompt and '<think>' not in content and "
    "'</think>' not in content %}{{- " + json.dumps(EMPTY_THINK) + " }}{%- endif %}")
