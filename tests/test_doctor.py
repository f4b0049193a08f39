"""The run doctor (core.training.doctor, python -m core doctor): each data finding on crafted
pairs (length bias both ways, identical and near-identical answers, duplicated and near-copied
pairs, a dominating prompt, cut records, doubled/missing BOS, a chat template applied twice),
clean data without warnings, the rendered tokens and their scored flags against the loss mask
of core.methods.logps, the HTML for the WebUI, the report end to end, the command line and
the findings logged at the start of a run.
Run: pytest -q tests/test_doctor.py"""
from __future__ import annotations

import json
import random
import statistics

import pytest
import torch
from conftest import ROOT, tiny_config

from core.__main__ import main
from core.data.templates import get_template
from core.data.tokenize import tokenize_pairwise
from core.data.truncation import Cutoff
from core.training.checks import data_checks
from core.training.token_checks import cut_counts

DEMO = str(ROOT / "examples" / "dpo_demo.yaml")
WORDS = ("river mountain quiet copper lantern orbit velvet harbor pepper signal meadow cobalt "
         "thunder pixel marble saddle violin glacier ember walnut canyon falcon tulip anchor "
         "cedar prism comet willow basalt nectar").split()


def pair(prompt: str, chosen: str, rejected: str) -> dict:
    return {"prompt": [{"role": "user", "content": prompt}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}]}


def words(seed: int, n: int) -> str:
    """n words that share little with another seed's: unrelated texts."""
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) + str(rng.randint(0, 99)) for _ in range(n))


def clean_rows(n: int = 10) -> list[dict]:
    """Unrelated pairs, chosen longer in half of them: nothing to warn about."""
    rows = []
    for i in range(n):
        long, short = words(3 * i + 1, 12), words(3 * i + 2, 6)
        rows.append(pair(words(3 * i, 8), *((long, short) if i % 2 else (short, long))))
    return rows


def checks(rows, tokenizer, cutoff: int = 1024, stage: str = "dpo") -> dict:
    """{check id: Check} of data_checks on `rows` tokenized with `tokenizer`'s template."""
    template = get_template(None, tokenizer)
    out = tokenize_pairwise(rows, template, Cutoff(cutoff))
    features, problems = out.features, out.problems
    assert not problems
    return {c.id: c for c in data_checks(stage, rows, features, template)}, features


def warnings(found: dict) -> set[str]:
    return {k for k, c in found.items() if c.severity == "warning"}


def test_clean_data_has_no_warnings(tokenizer):
    found, _ = checks(clean_rows(), tokenizer)
    assert warnings(found) == set(), [c.line() for c in found.values()]
    assert found["length_bias"].numbers["share_chosen_longer"] == 0.5
    assert found["prompts"].numbers["distinct_prompts"] == 10


@pytest.mark.parametrize("longer", [True, False])
def test_length_bias_both_ways(tokenizer, longer):
    rows = [pair(words(i, 6), words(100 + i, 20), words(200 + i, 4)) for i in range(10)]
    if not longer:
        rows = [pair(r["prompt"][0]["content"], r["rejected"][0]["content"],
                     r["chosen"][0]["content"]) for r in rows]
    found, features = checks(rows, tokenizer)
    bias = found["length_bias"]
    assert bias.severity == "warning" and bias.key == "dataset"
    assert f"learns to write {'longer' if longer else 'shorter'} answers" in bias.meaning
    ratio = statistics.fmean(f["chosen_len"] / f["rejected_len"] for f in features)
    assert bias.numbers["mean_length_ratio"] == round(ratio, 3)
    assert bias.numbers["share_chosen_longer"] == (1.0 if longer else 0.0)
    assert "ld_alpha" in bias.advice and "simpo" in bias.advice


def test_identical_and_near_identical_answers(tokenizer):
    rows = clean_rows()
    rows[2] = pair("Say hi.", "Hello there, friend!", "Hello there, friend!")
    rows[5] = pair("Greet me.", "Hello, World!", "hello world")
    found, _ = checks(rows, tokenizer)
    assert found["identical_answers"].numbers["pairs"] == 1
    assert found["identical_answers"].examples[0].startswith("row 2:")
    assert "0.693" in found["identical_answers"].meaning
    assert found["near_identical"].numbers["pairs"] == 1
    assert found["near_identical"].examples[0].startswith("row 5:")


def test_duplicate_and_near_duplicate_pairs(tokenizer):
    rows = clean_rows(12)
    rows.append(rows[3])  # an exact repeat
    text = words(999, 40)
    rows.append(pair("Tell me a story.", text, words(998, 10)))
    near = text.replace(text.split()[5], "different")  # one word of forty changed
    rows.append(pair("Tell me a story.", near, words(998, 10)))
    found, _ = checks(rows, tokenizer)
    dup = found["duplicate_pairs"]
    assert dup.severity == "warning" and dup.numbers["pairs"] == 1
    assert dup.examples[0].startswith("row 12:")
    near_dup = found["near_duplicates"]
    assert near_dup.numbers == {"pairs": 1, "groups": 1, "share": round(1 / 15, 4)}
    assert near_dup.examples[0].startswith("row 14 ~ row 13:")


def test_a_dominating_prompt(tokenizer):
    rows = clean_rows(10)
    for i in range(4):
        rows[i] = pair("What is the best colour?", words(50 + i, 9), words(60 + i, 9))
    found, _ = checks(rows, tokenizer)
    prompts = found["prompts"]
    assert prompts.severity == "warning"
    assert prompts.numbers["top"][0] == {"prompt": "user: What is the best colour?", "pairs": 4,
                                         "share": 0.4}
    assert "in 4 pairs (40%)" in prompts.seen and prompts.examples == (
        "row 0: prompt 'user: What is the best colour?'",)


def test_cut_records_are_counted(tokenizer):
    rows = [pair(words(i, 2), words(10 + i, 3), words(20 + i, 2)) for i in range(6)]
    rows[1] = pair(words(7, 2), words(8, 60), words(9, 5))
    found, features = checks(rows, tokenizer, cutoff=60)
    cut = found["cut_records"]
    assert cut.key == "cutoff_len" and cut.severity == "warning"
    hit = [f for f in features if any(cut_counts(f).values())]
    assert cut.numbers["records"] == len(hit) >= 1
    assert cut.numbers["tokens_cut"] == sum(
        f["chosen_len"] - len(f["chosen_ids"]) + f["rejected_len"] - len(f["rejected_ids"])
        for f in features)
    longest = max(f["prompt_len"] + max(f["chosen_len"], f["rejected_len"]) for f in features)
    assert cut.numbers["longest"] == longest and f"{longest} for all" in cut.advice
    # a tokenizer that writes per-record cut counts: those win over the lengths
    assert cut_counts({**features[0], "chosen_cut": 7})["chosen"] == 7


def bos_tokenizer(tiny_model, adds: bool, template: str | None):
    """The tiny tokenizer with a <s> BOS: `adds` makes encoding with special tokens put it
    first (as Llama's do); `template` replaces its chat template."""
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    tok.add_special_tokens({"bos_token": "<s>"})
    if adds:
        tok._tokenizer.post_processor = TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.bos_token_id)])
    if template:
        tok.chat_template = template
    return tok


# A base model's plain template: <s>, then the texts one after another.
PLAIN = ("{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% if m['role'] == 'assistant' %}"
         "{{ eos_token }}{% else %}\n{% endif %}{% endfor %}")


def test_doubled_bos(tiny_model):
    tok = bos_tokenizer(tiny_model, adds=False, template=PLAIN)
    rows = clean_rows(4)
    rows[1] = pair("<s>" + words(5, 6), words(6, 6), words(7, 3))  # exported with its BOS
    found, features = checks(rows, tok)
    assert features[1]["prompt_ids"][:2] == [tok.bos_token_id] * 2
    doubled = found["doubled_bos"]
    assert doubled.severity == "warning" and doubled.examples == ("row 1",)
    assert doubled.numbers["records"] == 1


def test_bos_written_by_the_template_and_added_by_the_tokenizer(tiny_model):
    tok = bos_tokenizer(tiny_model, adds=True, template=PLAIN)
    found, features = checks(clean_rows(4), tok)
    assert all(f["prompt_ids"][:2] == [tok.bos_token_id, f["prompt_ids"][1]] for f in features)
    assert "doubled_bos" not in found
    twice = found["bos_added_twice"]
    assert twice.severity == "info" and "add_special_tokens=False" in twice.advice


def test_missing_bos(tiny_model):
    tok = bos_tokenizer(tiny_model, adds=True, template=None)  # ChatML: no BOS written
    found, _ = checks(clean_rows(4), tok)
    assert found["missing_bos"].severity == "warning"
    assert "bos_added_twice" not in found and "doubled_bos" not in found


def test_chat_template_applied_twice(tokenizer):
    rows = clean_rows(6)
    rendered = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    rows[4] = pair(rendered, "4", "5")
    found, _ = checks(rows, tokenizer)
    markup = found["template_twice"]
    assert markup.key == "template" and markup.severity == "warning"
    assert markup.numbers["records"] == 1 and markup.examples[0] == "row 4 prompt: contains <|im_end|>"
    header = found["header_twice"]
    assert header.numbers["records"] == 1 and header.examples == ("row 4",)


def test_other_stages_get_the_token_checks(tokenizer):
    from core.data.tokenize import tokenize_kto

    rows = [{"prompt": [{"role": "user", "content": words(i, 5)}],
             "completion": [{"role": "assistant", "content": words(40 + i, 50)}],
             "label": bool(i % 2)} for i in range(4)]
    features = tokenize_kto(rows, get_template(None, tokenizer), Cutoff(40)).features
    found = {c.id: c for c in data_checks("kto", rows, features, get_template(None, tokenizer))}
    assert set(found) == {"cut_records"}
    assert found["cut_records"].numbers["per_part"]["completion"] == 4


# --- pairs as the model sees them ------------------------------------------------------------
def test_scored_flags_are_the_loss_mask(tiny_model, tokenizer):
    """The flags equal the positions core.methods.logps.token_logps scores, on a real pair:
    its mask starts at the batch's first answer position and labels are the ids there."""
    from transformers import AutoModelForCausalLM

    from core.methods.logps import token_logps
    from core.methods.pairwise import PairCollator
    from core.training.view import show_pair

    row = pair("What does a cow say?", "A cow says moo, friend!", "Moo.")
    features = tokenize_pairwise([row], get_template(None, tokenizer), Cutoff(1024)).features
    shown = show_pair(features[0], tokenizer, "first")
    batch = PairCollator(tokenizer.pad_token_id)(features)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    _, mask = token_logps(model, batch["input_ids"], batch["attention_mask"],
                          batch["completion_mask"])
    first = batch["input_ids"].shape[1] - mask.shape[1]  # the mask covers positions first..T-1
    for side, shown_side in enumerate((shown.chosen, shown.rejected)):
        scored = {first + j for j in torch.nonzero(mask[side]).flatten().tolist()}
        assert {i for i, s in enumerate(shown_side.scored) if s} == scored
        assert len(shown_side.scored) == len(shown_side.ids) == batch["attention_mask"][side].sum()
    text = lambda s: "".join(t for t, f in zip(s.tokens, s.scored) if f)  # noqa: E731
    assert text(shown.chosen) == "A cow says moo, friend!<|im_end|>\n"  # end of turn scored
    assert text(shown.rejected) == "Moo.<|im_end|>\n"
    assert "".join(shown.chosen.tokens[:shown.chosen.prompt_len]) == \
        "<|im_start|>user\nWhat does a cow say?<|im_end|>\n<|im_start|>assistant\n"
    assert shown.chosen.special[0] and shown.chosen.tokens[0] == "<|im_start|>"


def test_token_texts_keep_split_characters(tokenizer):
    from core.training.view import token_texts

    ids = tokenizer("café ☕ 你好", add_special_tokens=False)["input_ids"]
    texts = token_texts(tokenizer, ids)
    assert len(texts) == len(ids) and "".join(texts) == "café ☕ 你好"


def test_marked_text_and_html(tokenizer):
    from core.training.doctor import DoctorReport
    from core.training.view import marked, show_pairs
    from webui.doctor import doctor_html, pairs_html

    rows = [pair("Is 1 < 2? <script>x</script>", "Yes, 1 is less than 2.", "No."),
            pair(words(1, 2), words(2, 40), words(3, 5))]
    out = tokenize_pairwise(rows, get_template(None, tokenizer), Cutoff(60))
    features = out.features
    assert not out.problems
    shown = show_pairs(features, tokenizer)
    assert [p.why for p in shown] == ["first", "longest"]
    text = marked(shown[0].rejected)
    assert text.endswith("assistant↵\n⟦No.<|im_end|>↵\n⟧")
    assert "\033[4m" in marked(shown[0].rejected, ansi=True)
    assert marked(shown[1].chosen).endswith(f"[+{shown[1].chosen.cut} tokens cut at cutoff_len]")
    html = pairs_html(shown, "en")
    assert html.count("ps-scored") == sum(sum(s.scored) for p in shown
                                          for s in (p.chosen, p.rejected))
    assert "<script" not in html and "</script" not in html  # escaped token by token
    assert ">&lt;</span>" in html
    assert "&lt;|im_end|&gt;" in html and "more tokens cut at cutoff_len" in html
    report = DoctorReport([], data_checks("dpo", rows, features, get_template(None, tokenizer)),
                          shown)
    page = doctor_html(report, "zh")
    assert "最长的一组" in page and "ps-doctor-check ps-warn" in page


# --- the report, the command line, the run -------------------------------------------------
def test_doctor_report_on_the_demo_data(tiny_model, tmp_path):
    from core.training.doctor import doctor

    cfg = tiny_config(tiny_model, tmp_path / "run", max_samples=None)
    report = doctor(cfg)
    assert not report.refused and len(report.pairs) == 2
    ids = {c.id: c for c in report.checks}
    assert ids["length_bias"].severity == "warning"  # the demo's chosen answers are longer
    assert ids["memory"].key == "per_device_train_batch_size"
    assert report.memory.trainable > 0 and report.probe is None
    findings = report.all_findings()
    assert findings[:len(report.findings)] == report.findings
    assert any(f.key == "dataset" and f.severity == "warning" and "longer" in f.message
               for f in findings[len(report.findings):])
    assert json.dumps(report.to_dict())
    assert not (tmp_path / "run").exists()


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(["doctor", *args])
    return code, capsys.readouterr().out


def test_cli(capsys, tiny_model, tmp_path):
    base = [DEMO, f"dataset_dir={ROOT / 'data'}", f"output_dir={tmp_path / 'run'}",
            f"model_name_or_path={tiny_model}", "max_samples=40"]
    code, out = run_cli(capsys, *base, "--gpu-memory", "0.5")
    assert code == 0, out
    assert "== first pair (training row 0); scored tokens in ⟦ ⟧ ==" in out
    assert "⟦Good question! A cow says moo. Hope this helps! :)<|im_end|>↵\n⟧" in out
    assert "warning: length_bias: " in out and "does not fit a GPU of 0.5 GiB" in out

    code, out = run_cli(capsys, *base, "--json")
    report = json.loads(out)
    assert code == 0 and not report["refused"]
    assert {c["id"] for c in report["checks"]} >= {"length_bias", "memory", "prompts"}
    assert report["pairs"][0]["chosen"]["scored"].count(True) > 0
    assert report["memory"]["gpu"]["total"] > report["memory"]["gpu"]["parts"]["weights"]

    code, out = run_cli(capsys, *base, "pref_beta=0")
    assert code == 1 and "error: pref_beta: " in out and out.rstrip().splitlines()[-1].startswith("refused: ")
    assert not (tmp_path / "run").exists()


def test_a_run_logs_the_findings_at_its_start(tiny_model, tmp_path, caplog):
    from core.training.run import run

    caplog.set_level("INFO")  # train.log gets what the root logger passes on

    rd = run(tiny_config(tiny_model, tmp_path / "run", max_steps=1))
    log = rd.log_file.read_text()
    assert "Doctor length_bias: The chosen answer is longer in" in log
    assert "Doctor memory: Estimated peak memory at the longest batch" in log
    assert log.index("Doctor length_bias") < log.index("Model: ")  # before the weights load
