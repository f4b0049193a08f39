"""The run doctor's findings in 中文 (webui/i18n_doctor.py): each pattern against what core
says today, made as tests/test_doctor.py, tests/test_preflight.py and tests/test_model_checks.py
make it (crafted pairs, BOS tokenizers, a checkpoint saved with other settings, a tokenizer
without pad and eos, the doctor on the demo data), as tests/test_i18n_core.py does for core's
other messages; and the doctor's panel and its one-line findings read in 中文.

Run: pytest -q tests/test_i18n_doctor.py"""
from __future__ import annotations

import re

import pytest
from conftest import tiny_config
from test_doctor import PLAIN, bos_tokenizer, checks, clean_rows, pair, words
from test_i18n_core import assert_translated
from test_preflight import fake_checkpoint
from zh_text import english

from webui.i18n_core import say
from webui.i18n_doctor import DOCTOR

CJK = re.compile(r"[\u4e00-\u9fff]")


def texts(found: dict, *ids: str) -> list[str]:
    """What the doctor's panel shows of these findings: seen, meaning, advice, examples."""
    out = []
    for c in (found[i] for i in ids):
        out += [c.seen, c.meaning, c.advice, *c.examples]
    return out


def lines(found: dict) -> list[str]:
    """The findings as the Train form lists them (Check.line())."""
    return [c.line() for c in found.values()]


def biased(tokenizer, longer: bool = True) -> dict:
    rows = [pair(words(i, 6), words(100 + i, 20), words(200 + i, 4)) for i in range(10)]
    if not longer:
        rows = [pair(r["prompt"][0]["content"], r["rejected"][0]["content"],
                     r["chosen"][0]["content"]) for r in rows]
    return checks(rows, tokenizer)[0]


def identical(tokenizer) -> dict:
    rows = clean_rows()
    rows[2] = pair("Say hi.", "Hello there, friend!", "Hello there, friend!")
    rows[5] = pair("Greet me.", "Hello, World!", "hello world")
    return checks(rows, tokenizer)[0]


def duplicated(tokenizer) -> dict:
    rows = clean_rows(12)
    rows.append(rows[3])
    text = words(999, 40)
    rows.append(pair("Tell me a story.", text, words(998, 10)))
    rows.append(pair("Tell me a story.", text.replace(text.split()[5], "different"),
                     words(998, 10)))
    return checks(rows, tokenizer)[0]


def dominated(tokenizer) -> dict:
    rows = clean_rows(10)
    for i in range(4):
        rows[i] = pair("What is the best colour?", words(50 + i, 9), words(60 + i, 9))
    return checks(rows, tokenizer)[0]


def cut(tokenizer) -> dict:
    rows = [pair(words(i, 2), words(10 + i, 3), words(20 + i, 2)) for i in range(6)]
    rows[1] = pair(words(7, 2), words(8, 60), words(9, 5))
    return checks(rows, tokenizer, cutoff=60)[0]


def bos(tiny_model, adds: bool, template: str | None, doubled: bool = False) -> dict:
    tok = bos_tokenizer(tiny_model, adds=adds, template=template)
    rows = clean_rows(4)
    if doubled:
        rows[1] = pair("<s>" + words(5, 6), words(6, 6), words(7, 3))
    return checks(rows, tok)[0]


def markup(tokenizer) -> dict:
    rows = clean_rows(6)
    rows[4] = pair("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n", "4", "5")
    return checks(rows, tokenizer)[0]


@pytest.fixture(scope="module")
def demo_doctor(tiny_model, tmp_path_factory):
    """The doctor on the demo data, as the Train tab's Preview runs it."""
    from core.training.doctor import doctor
    return doctor(tiny_config(tiny_model, tmp_path_factory.mktemp("doctor") / "run"))


def memory(demo_doctor) -> list[str]:
    return [c.seen for c in demo_doctor.checks if c.id == "memory"]


def other_stage(tiny_model, tmp_path) -> list[str]:
    from core.training.doctor import doctor
    report = doctor(tiny_config(tiny_model, tmp_path / "sft", stage="sft", dataset="demo_sft"))
    return [c.seen for c in report.checks if c.id == "memory"]


def no_reference() -> str:
    from core.config import RunConfig
    from core.training.doctor import _reference
    return _reference(RunConfig(pref_loss="simpo"))


def resumed(tiny_model, tmp_path, **changes) -> list[str]:
    from core.training.preflight import preflight
    cfg = tiny_config(tiny_model, tmp_path / "run")
    if not (tmp_path / "run").exists():
        fake_checkpoint(cfg)
    found = preflight(cfg.replace(resume_from_checkpoint=True, **changes))
    return [f.message for f in found if f.severity != "info"]


def model_checked(model, tmp_path, **values) -> list[str]:
    from core.training.preflight import preflight
    found = preflight(tiny_config(model, tmp_path / "run", **values))
    return [f.message for f in found if f.severity == "error"]


def padless(tiny_model, tmp_path):
    """The tiny model with a tokenizer that has neither a pad nor an eos token."""
    import json
    import shutil
    folder = tmp_path / "padless"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.update(eos_token=None, pad_token=None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


# pattern id -> (tokenizer, tiny_model, demo doctor, tmp_path) -> core's message(s)
PRODUCERS = {
    "try": lambda tok, m, d, p: lines(biased(tok)),
    "row": lambda tok, m, d, p: texts(cut(tok), "cut_records"),
    "row_prompt": lambda tok, m, d, p: texts(identical(tok), "identical_answers"),
    "row_near": lambda tok, m, d, p: texts(duplicated(tok), "near_duplicates"),
    "row_markup": lambda tok, m, d, p: texts(markup(tok), "template_twice"),
    "length_seen": lambda tok, m, d, p: texts(biased(tok), "length_bias"),
    "length_meaning": lambda tok, m, d, p: texts(biased(tok), "length_bias")
    + texts(biased(tok, longer=False), "length_bias"),
    "length_advice": lambda tok, m, d, p: texts(biased(tok), "length_bias")
    + texts(biased(tok, longer=False), "length_bias"),
    **{f"{name}_{part}": (lambda found, check: lambda tok, m, d, p: texts(found(tok), check))(
        found, check)
       for name, found, check in (("identical", identical, "identical_answers"),
                                  ("near_identical", identical, "near_identical"),
                                  ("duplicate", duplicated, "duplicate_pairs"),
                                  ("near_duplicate", duplicated, "near_duplicates"),
                                  ("prompts", dominated, "prompts"),
                                  ("cut", cut, "cut_records"),
                                  ("header_twice", markup, "header_twice"),
                                  ("markup", markup, "template_twice"))
       for part in ("seen", "meaning", "advice")},
    "prompts_seen": lambda tok, m, d, p: texts(checks(clean_rows(), tok)[0], "prompts"),
    "prompts_shared": lambda tok, m, d, p: texts(dominated(tok), "prompts"),
    "prompts_dominating": lambda tok, m, d, p: texts(dominated(tok), "prompts"),
    **{f"{name}_{part}": (lambda args, check: lambda tok, m, d, p: texts(bos(m, *args), check))(
        args, check)
       for name, args, check in (("doubled_bos", (False, PLAIN, True), "doubled_bos"),
                                 ("bos_twice", (True, PLAIN), "bos_added_twice"),
                                 ("missing_bos", (True, None), "missing_bos"))
       for part in ("seen", "meaning", "advice")},
    "memory_stage": lambda tok, m, d, p: other_stage(m, p),
    "memory_seen": lambda tok, m, d, p: memory(d),
    "memory_reference": lambda tok, m, d, p: memory(d),
    "memory_no_reference": lambda tok, m, d, p: no_reference(),
    "no_pad_token": lambda tok, m, d, p: model_checked(padless(m, p), p),
    "lora_target_modules": lambda tok, m, d, p: model_checked(m, p, lora_target="q_proj,qproj,mlp"),
    "freeze_layers": lambda tok, m, d, p: model_checked(m, p, finetuning_type="freeze",
                                                        freeze_trainable_layers=-5),
    "resume_changed": lambda tok, m, d, p: resumed(m, p, max_steps=9, learning_rate=0.01),
    "resume_refused": lambda tok, m, d, p: resumed(m, p, finetuning_type="full"),
}


def test_every_pattern_has_a_producer():
    assert {p.id for p in DOCTOR} == set(PRODUCERS), {p.id for p in DOCTOR} ^ set(PRODUCERS)


@pytest.mark.parametrize("pattern_id", list(PRODUCERS))
def test_the_pattern_matches_what_the_doctor_says_today(pattern_id, tokenizer, tiny_model,
                                                        demo_doctor, tmp_path):
    assert_translated(pattern_id, PRODUCERS[pattern_id](tokenizer, tiny_model, demo_doctor,
                                                        tmp_path))


def test_a_finding_in_one_line_reads_in_chinese(tokenizer):
    found = biased(tokenizer)["length_bias"]
    zh = say(found.line(), "zh")
    assert zh.startswith("在回答长度不同的 10 对中，优选回答更长的占 100%") and "建议：用优选回答更短的" in zh
    assert not english(zh), english(zh)
    assert say(found.line() + " Something else.", "zh") == found.line() + " Something else."


def test_the_doctor_panel_reads_in_chinese(demo_doctor):
    from webui.doctor import doctor_html
    shown = re.sub(r"<[^>]+>", " ", doctor_html(demo_doctor, "zh"))
    panel = shown.split("训练诊断", 1)[1]  # the findings (the pairs above show data)
    assert "估计的峰值内存" in panel and not english(panel), english(panel)
    assert "Estimated peak memory" in doctor_html(demo_doctor, "en")
