"""cutoff_len and `truncation`: LLaMA-Factory's rule computed by hand on hand-written token
lengths, keep_recent, drop, error, the end token of a cut answer, answers cut to nothing, the
counts in data check / train.log / status.json, and LLaMA-Factory's dpo_en_demo training at
cutoff_len 256 with the default settings."""
import json
import math

import pytest
from conftest import SHARED_DATA

from core.config import RunConfig
from core.data import check_dataset, load_for_training
from core.data.templates import ChatTemplate
from core.data.tokenize import tokenize_rows
from core.data.truncation import Cutoff, budget, fit
from core.errors import UserError

LF_DEMO = SHARED_DATA / "llamafactory" / "dpo_en_demo.json"


class WordTemplate(ChatTemplate):
    """One token per word: a turn is its words, an answer ends with "<end>". Token lengths are
    what the test writes."""

    def prompt_text(self, messages):
        return "".join(m["content"] + (" <end> " if m["role"] == "assistant" else " ")
                       for m in messages)

    def answer_text(self, prompt, answer):
        return answer["content"] + " <end> "


@pytest.fixture(scope="module")
def words():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    names = ["[UNK]", "<end>"] + [f"{c}{i}" for c in "sphabq" for i in range(100)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(names)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
    return WordTemplate(None, fast), {w: i for i, w in enumerate(names)}


def said(prefix: str, n: int) -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def ids(vocab, prefix: str, n: int, end: bool = False) -> list[int]:
    return [vocab[f"{prefix}{i}"] for i in range(n)] + ([vocab["<end>"]] if end else [])


def pair(prompt: int, chosen: int, rejected: int) -> dict:
    """A pair whose prompt has `prompt` tokens and whose answers have chosen/rejected tokens,
    "<end>" included."""
    return {"prompt": [{"role": "user", "content": said("p", prompt)}],
            "chosen": [{"role": "assistant", "content": said("a", chosen - 1)}],
            "rejected": [{"role": "assistant", "content": said("b", rejected - 1)}]}


# --- LLaMA-Factory's rule, by hand ----------------------------------------------------------

@pytest.mark.parametrize("source, target, cutoff, expected", [
    (12, 3, 10, (7, 3)),   # answer under half: kept whole, the prompt gets the rest
    (4, 9, 10, (4, 6)),    # prompt under half: kept whole, the answer gets the rest
    (8, 12, 10, (4, 6)),   # both long: int(10 * 12 / 20) = 6 for the answer
    (300, 100, 256, (156, 100)),
    (5, 4, 10, (5, 4)),    # fits: unchanged
])
def test_budget_by_hand(source, target, cutoff, expected):
    assert budget(source, target, cutoff) == expected


def test_pairwise_ids_follow_the_rule(words):
    """Prompt 8 tokens, chosen 3 and rejected 9 (with <end>), cutoff 10: the longer answer (9)
    sets the budget: 9*2 >= 10 and 8*2 >= 10, so answers get int(10*9/17) = 5 and the prompt
    10 - 5 = 5, each keeping its first tokens."""
    template, v = words
    out = tokenize_rows("dpo", [pair(8, 3, 9)], template, Cutoff(10))
    (f,) = out.features
    assert f["prompt_ids"] == ids(v, "p", 5)
    assert f["chosen_ids"] == ids(v, "a", 2, end=True)  # 3 <= 5: whole, <end> kept
    assert f["rejected_ids"] == ids(v, "b", 5)  # cut: the <end> token is gone
    assert (f["prompt_len"], f["chosen_len"], f["rejected_len"]) == (8, 3, 9)
    assert out.cuts == [(0, 3, 4, 0)]


def test_short_answer_keeps_its_end_token_and_the_prompt_its_start(words):
    template, v = words
    (f,) = tokenize_rows("dpo", [pair(12, 3, 2)], template, Cutoff(10)).features
    assert f["prompt_ids"] == ids(v, "p", 7)  # the first 7 of 12: its end is cut off
    assert f["chosen_ids"] == ids(v, "a", 2, end=True)
    assert f["rejected_ids"] == ids(v, "b", 1, end=True)


def test_a_cut_answer_loses_its_end_token(words):
    """Documented in truncation.py: as in LLaMA-Factory, a cut answer ends mid-text, so the
    model never sees this example stop."""
    template, v = words
    row = {"prompt": [{"role": "user", "content": said("p", 4)}],
           "completion": [{"role": "assistant", "content": said("a", 8)}], "label": True}
    (f,) = tokenize_rows("kto", [row], template, Cutoff(10)).features
    assert f["prompt_ids"] == ids(v, "p", 4) and f["completion_ids"] == ids(v, "a", 6)
    assert v["<end>"] not in f["completion_ids"]


def test_sft_multi_turn_by_hand(words):
    """LLaMA-Factory's multi-turn rule: turn 1 (prompt 3, answer 4) fits cutoff 12 whole
    (7 used); turn 2 (prompt 4, answer 6) shares the 5 left: 6*2 >= 5 and 4*2 >= 5, so its
    answer gets int(5*6/10) = 3 and its prompt 2; a third turn gets nothing."""
    template, v = words
    messages = [{"role": "user", "content": said("p", 3)},
                {"role": "assistant", "content": said("a", 3)},
                {"role": "user", "content": said("q", 4)},
                {"role": "assistant", "content": said("b", 5)},
                {"role": "user", "content": said("h", 2)},
                {"role": "assistant", "content": said("s", 1)}]
    (f,) = tokenize_rows("sft", [{"messages": messages}], template, Cutoff(12)).features
    assert f["input_ids"] == ids(v, "p", 3) + ids(v, "a", 3, end=True) + ids(v, "q", 2) + ids(v, "b", 3)
    assert f["assistant_mask"] == [0] * 3 + [1] * 4 + [0] * 2 + [1] * 3
    assert (f["sequence_len"], f["answer_len"]) == (21, 12)


def test_keep_recent_drops_old_turns_then_keeps_the_end(words):
    template, v = words
    prompt = [{"role": "system", "content": said("s", 2)},
              {"role": "user", "content": said("p", 6)},
              {"role": "assistant", "content": said("h", 5)},
              {"role": "user", "content": said("q", 3)}]
    row = {"prompt": prompt, "chosen": [{"role": "assistant", "content": said("a", 2)}],
           "rejected": [{"role": "assistant", "content": said("b", 2)}]}
    out = tokenize_rows("dpo", [row], template, Cutoff(10, "keep_recent"))
    (f,) = out.features  # system 2 + last user 3 + answer 3: the old exchange goes, whole
    assert f["prompt_ids"] == ids(v, "s", 2) + ids(v, "q", 3)
    assert f["chosen_ids"] == ids(v, "a", 2, end=True)
    assert out.cuts == [(0, 12, 0, 1)]
    (f,) = tokenize_rows("dpo", [row], template, Cutoff(7, "keep_recent")).features
    assert f["prompt_ids"] == [v["s1"]] + ids(v, "q", 3)  # then the start of what is left
    lf = tokenize_rows("dpo", [row], template, Cutoff(10)).features[0]
    assert lf["prompt_ids"] == ids(v, "s", 2) + ids(v, "p", 5)  # llamafactory keeps the start


def test_keep_recent_in_sft_scores_the_last_answer(words):
    template, v = words
    messages = [{"role": "user", "content": said("p", 6)},
                {"role": "assistant", "content": said("a", 5)},
                {"role": "user", "content": said("q", 2)},
                {"role": "assistant", "content": said("b", 2)}]
    (f,) = tokenize_rows("sft", [{"messages": messages}], template, Cutoff(8, "keep_recent")).features
    assert f["input_ids"] == ids(v, "q", 2) + ids(v, "b", 2, end=True)
    assert f["assistant_mask"] == [0, 0, 1, 1, 1]


def test_an_answer_cut_to_nothing_is_dropped_with_a_reason(words):
    """prompt 40, answer 6, cutoff 10: 6*2 >= 10 and 40*2 >= 10, int(10*6/46) = 1 token... and
    prompt 400: int(10*6/406) = 0 tokens: that record never reaches the loss."""
    template, _ = words
    assert fit(list(range(400)), [list(range(6))], 10, "llamafactory")[1] == [[]]
    rows = [pair(40, 6, 6), pair(99, 6, 6)]
    rows[1]["prompt"][0]["content"] = " ".join(["p1"] * 400)
    out = tokenize_rows("dpo", rows, template, Cutoff(10))
    assert [f["row"] for f in out.features] == [0] and len(out.features[0]["chosen_ids"]) == 1
    ((pos, fld, reason, severity),) = out.problems
    assert (pos, fld, severity) == (1, "prompt", "dropped") and "no answer token" in reason


@pytest.mark.parametrize("mode, severity", [("drop", "dropped"), ("error", "error")])
def test_drop_and_error_refuse_long_records(words, mode, severity):
    template, _ = words
    out = tokenize_rows("dpo", [pair(4, 3, 3), pair(8, 3, 3)], template, Cutoff(10, mode))
    assert [f["row"] for f in out.features] == [0] and out.cuts == []
    ((pos, _, reason, found),) = out.problems
    assert pos == 1 and found == severity and "11 tokens, longer than cutoff_len 10" in reason


# --- counts in data check, train.log and status.json ------------------------------------------

def write_lf_demo(folder):
    entry = {"file_name": str(LF_DEMO), "ranking": True, "formatting": "sharegpt",
             "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}
    folder.mkdir(exist_ok=True)
    (folder / "dataset_info.json").write_text(json.dumps({"dpo_en_demo": entry}))
    return folder


needs_lf = pytest.mark.skipif(not LF_DEMO.is_file(),
                              reason="LLaMA-Factory's dpo_en_demo.json not in ../shared/data")


@needs_lf
def test_check_counts_cuts_of_the_llamafactory_demo(tmp_path, tokenizer):
    data = write_lf_demo(tmp_path / "lf")
    report = check_dataset("dpo_en_demo", data, "dpo", tokenizer=tokenizer, cutoff_len=256)
    cuts = report.truncation
    assert report.ok and report.good == 300 and report.bad == 0 and cuts.records == 300
    assert cuts.prompts_cut > 100 and cuts.answers_cut > 100 and cuts.tokens_removed > 0
    assert cuts.mode == "llamafactory" and cuts.cutoff_len == 256
    assert "cutoff_len 256, truncation llamafactory" in report.render()
    assert max(report.lengths["prompt"]) > 256  # statistics cover the cut rows too
    refused = check_dataset("dpo_en_demo", data, "dpo", tokenizer=tokenizer, cutoff_len=256,
                            truncation="error", max_samples=60)
    assert not refused.ok and refused.truncation.refused == refused.errors > 20


@pytest.mark.slow
@needs_lf
def test_llamafactory_demo_trains_at_cutoff_256_with_defaults(tiny_model, tmp_path):
    """The issue: LLaMA-Factory's own dpo_en_demo refused to train at cutoff_len 256. With the
    default settings it now trains, the log and status.json say how many records were cut,
    and the first sigmoid loss is ln 2 (policy equal to reference)."""
    from core.training.run import run

    data = write_lf_demo(tmp_path / "lf")
    cfg = RunConfig(model_name_or_path=str(tiny_model), dataset="dpo_en_demo",
                    dataset_dir=str(data), cutoff_len=256, max_steps=2, logging_steps=1,
                    per_device_train_batch_size=2, gradient_accumulation_steps=1,
                    output_dir=str(tmp_path / "run"))
    rd = run(cfg)
    status = rd.status()
    assert status["state"] == "completed" and status["step"] == 2
    cuts = status["truncation"]
    assert cuts["mode"] == "llamafactory" and cuts["cutoff_len"] == 256 and cuts["records"] == 300
    assert cuts["prompts_cut"] > 0 and cuts["dropped"] == 0
    log = rd.log_file.read_text()
    assert f"{cuts['prompts_cut']} of 300 records had their prompt cut" in log
    first = [m for m in rd.metrics() if "loss" in m][0]
    assert first["step"] == 1 and first["loss"] == pytest.approx(math.log(2), rel=1e-5)


def test_truncation_error_refuses_the_run_with_the_records(tmp_path, tokenizer):
    from core.data.templates import get_template

    long = {"instruction": "hello " * 200, "chosen": "a", "rejected": "b"}
    (tmp_path / "d.json").write_text(json.dumps([{"instruction": "Q", "chosen": "a",
                                                  "rejected": "b"}, long]))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"d": {"file_name": "d.json",
                                                                  "ranking": True}}))
    cfg = RunConfig(dataset="d", dataset_dir=str(tmp_path), cutoff_len=64, truncation="error",
                    max_bad_ratio=0.9)
    with pytest.raises(UserError, match=r"truncation error: 1 records are longer than cutoff_len 64"
                       r"[\s\S]*d.json:1 prompt") as e:
        load_for_training(cfg, get_template(None, tokenizer))
    assert "truncation llamafactory" in str(e.value)


# --- the WebUI: a cut is a warning in the Data check, the Runs view shows a run's cuts --------

def test_data_check_report_shows_cuts_as_a_warning(tmp_path, tiny_model):
    from webui.tabs import data as data_tab
    from webui.workspace import Workspace

    data = tmp_path / "data"
    data.mkdir()
    rows = [{"instruction": "Q", "chosen": "a", "rejected": "b"},
            {"instruction": "hello " * 80, "chosen": "a " * 30, "rejected": "b"}]
    (data / "d.json").write_text(json.dumps(rows))
    (data / "dataset_info.json").write_text(json.dumps({"d": {"file_name": "d.json",
                                                              "ranking": True}}))
    ws = Workspace(saves_dir=tmp_path / "saves", data_dir=data, model_dirs=[tiny_model])

    def check(**kw):
        return data_tab.check(ws, "d", str(data), "dpo", str(tiny_model), None, kw.pop("cutoff", 64),
                              True, "en", **kw)[0]

    html = check()  # the default truncation: cut, a warning
    assert 'ps-verdict ps-warn' in html and "are cut or dropped" in html
    assert "Cutoff length 64, truncation llamafactory: 1 of 2 records had their prompt cut" in html
    assert "end token included" in html and "Tokens before truncation, all 2 rows" in html
    dropped = check(truncation="drop")
    assert 'ps-verdict ps-warn' in dropped and "1 dropped" in dropped and "max_bad_ratio" in dropped
    assert 'ps-verdict ps-bad' in check(truncation="error")
    fits = check(cutoff=4096)  # says the cutoff it used, even when nothing is cut
    assert 'ps-verdict ps-ok' in fits and "Cutoff length 4096" in fits and "0 of 2 records" in fits
    zh = data_tab.check(ws, "d", str(data), "dpo", str(tiny_model), None, 64, True, "zh")[0]
    assert "截断长度 64" in zh


def test_runs_progress_shows_what_a_run_cut(tmp_path):
    from core.runs.info import RunInfo
    from webui.render import progress_html

    info = RunInfo(name="r", path=tmp_path, state="completed", step=2, total_steps=2)
    cuts = {"mode": "llamafactory", "cutoff_len": 256, "records": 300, "prompts_cut": 227,
            "answers_cut": 283, "tokens_removed": 638174, "dropped": 0}
    html = progress_html(info, "en", truncation=cuts)
    assert "Cutoff length 256, truncation llamafactory: 227 of 300 records had their prompt cut, "\
           "283 their answer, 638174 tokens removed, 0 dropped" in html
    assert "ps-run-cuts" not in progress_html(info, "en", truncation=dict(cuts, prompts_cut=0,
                                                                         answers_cut=0))
    assert "ps-run-cuts" not in progress_html(info, "en")
