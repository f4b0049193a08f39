"""中文 for every config field, and no English left in any 中文 text of the UI's tables.

Every field of core.config.FIELDS has a 中文 label (webui.i18n.LABELS or webui.i18n_fields)
and a 中文 help (webui.i18n_fields.HELP) that names the same config keys, choices and numbers
as core's English help: a field added without them, or an English help changed under its
translation, fails here. zh_text.english() is the allow-list of words that may stay Latin."""
from __future__ import annotations

import re

import pytest
from zh_text import english

from core.config import FIELDS
from core.data.registry import COLUMN_KEYS, TAG_KEYS
from webui import forms, i18n, i18n_core, i18n_fields

NUMBER = re.compile(r"(?<![A-Za-z_\d.])\d+(?:\.\d+)?(?:e-?\d+)?(?![A-Za-z_\d]|\.\d)")
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_field_has_a_chinese_label_and_help():
    for key in FIELDS:
        label = i18n.field_label(key, "zh")  # "LoRA α · lora_alpha": no CJK needed
        assert label.endswith(f" · {key}") and not english(label), (key, label)
        assert CJK.search(i18n_fields.help_text(key, "zh")), key
        assert i18n_fields.help_text(key, "en") == FIELDS[key].metadata["help"]


def test_every_entry_names_a_field_once():
    assert set(i18n_fields.HELP) <= set(FIELDS), set(i18n_fields.HELP) - set(FIELDS)
    assert set(i18n_fields.LABELS) <= set(FIELDS), set(i18n_fields.LABELS) - set(FIELDS)
    assert not set(i18n_fields.LABELS) & set(i18n.LABELS)  # one place for each label


def required(english_help: str, key: str) -> set[str]:
    """What a translation must keep: config keys (with an underscore: "dataset" or "seed" may
    be plain words), the field's own choices, numbers (not the digits of names: Qwen2.5)."""
    words = set(re.findall(r"[A-Za-z_][\w]*", english_help))
    choices = {str(c) for c in FIELDS[key].metadata.get("choices") or () if c is not None}
    keys = {w for w in words if (w in FIELDS and "_" in w) or (w in choices and len(w) > 1)}
    return keys | set(NUMBER.findall(english_help))


@pytest.mark.parametrize("key", list(FIELDS))
def test_the_chinese_help_keeps_the_keys_choices_and_numbers(key):
    english_help, chinese = FIELDS[key].metadata["help"], i18n_fields.HELP[key]
    missing = {w for w in required(english_help, key)
               if not re.search(rf"(?<![\w.]){re.escape(w)}(?![\w])", chinese)}
    assert not missing, f"{key}: the 中文 help lacks {missing}; translate the English again:\n" \
                        f"  {english_help}\n  {chinese}"


def test_the_check_finds_what_a_changed_help_would_miss():
    help_ = "Keep at most 7 checkpoints of save_steps, or no (see eval_steps)."
    assert required(help_, "save_strategy") == {"7", "save_steps", "no", "eval_steps"}
    assert required("Qwen2.5-0.5B at 1e-6 (4/3, ~30%)", "seed") == {"1e-6", "4", "3", "30"}


def test_the_form_says_help_default_and_range_in_chinese():
    for key, spec in forms.SPECS.items():
        text = forms.info(spec, "zh")
        assert text.startswith(i18n_fields.HELP[key]) and "默认" in text, key
        assert not english(text, {str(spec.default)}), (key, english(text))
    assert forms.info(forms.SPECS["cutoff_len"], "zh").endswith("（默认：2048 · ≥ 16，≤ 1048576）")
    assert forms.info(forms.SPECS["bf16"], "zh").endswith("（默认：否）")
    assert forms.info(forms.SPECS["cutoff_len"], "en").endswith("(Default: 2048 · ≥ 16, ≤ 1048576)")


def test_upload_editors_have_chinese_labels():
    for key in COLUMN_KEYS + TAG_KEYS:
        assert i18n_fields.registry_label(key, "en") == key
        assert CJK.search(i18n_fields.registry_label(key, "zh")), key


def chinese_texts():
    """(where, 中文 text) for every 中文 text of the UI's tables, {parts} left out."""
    for key, entry in {**i18n.TEXT, **i18n.LABELS}.items():
        yield f"i18n {key}", entry["zh"]
    for table in ("LABELS", "HELP", "REGISTRY_KEYS"):
        for key, text in getattr(i18n_fields, table).items():
            yield f"i18n_fields.{table} {key}", text
    for pattern in i18n_core.PATTERNS:
        yield f"pattern {pattern.id}", pattern.zh


def test_no_chinese_text_holds_english():
    found = [(where, english(re.sub(r"\{\w+\}", "k_k", text))) for where, text in chinese_texts()]
    found = [(where, words) for where, words in found if words]
    assert not found, "\n".join(f"{where}: {words}" for where, words in found)


@pytest.mark.parametrize("text, words", [
    ("Drop File Here - or - Click to Upload", ["Drop", "File", "Here", "or", "Click", "to",
                                              "Upload"]),
    ("学习率 · learning_rate（默认：5e-05 · > 0，≤ 1）", []),
    ("用 Qwen/Qwen2.5-0.5B-Instruct 的 LoRA 在 train.log 中", []),
    ("运行 `python -m core data check` 或 --force；'all' 与 <stage>", []),
    ("Token lengths", ["lengths"]),
    ("e.g. 0.5", ["e.g"]),
])
def test_the_english_check(text, words):
    assert english(text) == words
