"""load_for_training (bad-record threshold, val split, tokenized features, fingerprint),
check_dataset with a tokenizer, and LLaMA-Factory's own dpo_en_demo.json."""
import json
from pathlib import Path

import pytest

from core.config import RunConfig
from core.data import check_dataset, load_for_training, load_rows
from core.errors import UserError

LF_DATA = Path(__file__).resolve().parents[2] / "shared/data/llamafactory"
PAIR = {"instruction": "Say hello", "chosen": "hello there", "rejected": "go away"}


@pytest.fixture(scope="module")
def tokenizer():
    """A tiny byte-level BPE tokenizer with Qwen's special tokens (no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["hello there, say hello", "go away", "system user assistant",
                             "You are a helpful assistant."] * 5, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>"])


def setup(tmp_path: Path, records: list, name: str = "ds", **entry) -> Path:
    (tmp_path / f"{name}.json").write_text(json.dumps(records))
    registry = tmp_path / "dataset_info.json"
    data = json.loads(registry.read_text()) if registry.exists() else {}
    data[name] = {"file_name": f"{name}.json", "ranking": True, **entry}
    registry.write_text(json.dumps(data))
    return tmp_path


def cfg(tmp_path, **kw) -> RunConfig:
    kw.setdefault("stage", "dpo")
    kw.setdefault("dataset", "ds")
    return RunConfig(dataset_dir=str(tmp_path), **kw)


def records(n: int, bad: int = 0) -> list:
    good = [dict(PAIR, instruction=f"Say hello {i}") for i in range(n - bad)]
    return good + [{"instruction": "Q", "chosen": "", "rejected": "x"}] * bad


def test_refuses_above_max_bad_ratio(tmp_path):
    setup(tmp_path, records(20, bad=3))
    with pytest.raises(UserError) as e:
        load_for_training(cfg(tmp_path))
    msg = str(e.value)
    assert "3 of 20 records are bad" in msg and "max_bad_ratio 0.0" in msg
    assert "ds.json:17 chosen: empty text" in msg
    assert "python -m core data check ds" in msg and "raise max_bad_ratio" in msg


def test_lists_first_ten_bad_records(tmp_path):
    setup(tmp_path, records(30, bad=15))
    with pytest.raises(UserError, match=r"\.\.\. and 5 more"):
        load_for_training(cfg(tmp_path, max_bad_ratio=0.2))


def test_accepts_under_max_bad_ratio_and_logs(tmp_path, caplog):
    setup(tmp_path, records(20, bad=3))
    with caplog.at_level("WARNING", logger="core.data.training"):
        data = load_for_training(cfg(tmp_path, max_bad_ratio=0.2))
    assert len(data.train) == 17 and data.bad == 3 and data.total == 20
    assert sum("skipping bad record" in r.message for r in caplog.records) == 3
    assert data.train_features is None and data.eval == []
    assert len(data.fingerprint) == 64


def test_whole_dataset_error_counts_every_record(tmp_path):
    setup(tmp_path, [{"instruction": "Q", "output": "A"}] * 4, ranking=False)
    with pytest.raises(UserError, match="4 of 4 records are bad"):
        load_for_training(cfg(tmp_path, max_bad_ratio=0.5))


def test_val_split_is_deterministic(tmp_path):
    setup(tmp_path, records(50))
    a = load_for_training(cfg(tmp_path, val_size=0.2, seed=1))
    b = load_for_training(cfg(tmp_path, val_size=0.2, seed=1))
    c = load_for_training(cfg(tmp_path, val_size=0.2, seed=2))
    assert len(a.train) == 40 and len(a.eval) == 10
    assert a.eval == b.eval and a.train == b.train and a.eval != c.eval
    assert len(load_for_training(cfg(tmp_path, val_size=7)).eval) == 7
    with pytest.raises(UserError, match="leaving none to train"):
        load_for_training(cfg(tmp_path, val_size=50))


def test_kto_pairs_stay_on_one_side_of_the_split(tmp_path):
    setup(tmp_path, records(10))
    data = load_for_training(cfg(tmp_path, stage="kto", val_size=0.3))
    assert len(data.eval) == 6 and len(data.train) == 14
    train_prompts = {r["prompt"][0]["content"] for r in data.train}
    assert not train_prompts & {r["prompt"][0]["content"] for r in data.eval}


def test_eval_dataset_and_fingerprint(tmp_path):
    setup(tmp_path, records(5))
    setup(tmp_path, records(3), name="ev")
    data = load_for_training(cfg(tmp_path, eval_dataset="ev"))
    assert (len(data.train), len(data.eval)) == (5, 3)
    before = data.fingerprint
    setup(tmp_path, records(4), name="ev")
    assert load_for_training(cfg(tmp_path, eval_dataset="ev")).fingerprint != before


def test_features_and_cutoff_problems(tmp_path, tokenizer):
    """A prompt longer than cutoff_len used to be a bad record ("no room"); it still is with
    truncation drop, and is cut to fit by default (truncation llamafactory)."""
    from core.data.templates import get_template

    long = dict(PAIR, instruction="hello " * 200)
    setup(tmp_path, records(9) + [long])
    template = get_template("qwen", tokenizer)
    with pytest.raises(UserError, match=r"ds.json:9 prompt: \d+ tokens, longer than cutoff_len 128"):
        load_for_training(cfg(tmp_path, cutoff_len=128, truncation="drop"), template)
    data = load_for_training(cfg(tmp_path, cutoff_len=128, max_bad_ratio=0.1, val_size=2,
                                 truncation="drop"), template)
    assert len(data.train) == 7 and len(data.eval) == 2
    assert [f["row"] for f in data.train_features] == list(range(7))
    assert [f["row"] for f in data.eval_features] == [0, 1]
    for row, feature in zip(data.eval, data.eval_features):
        assert row["prompt"][0]["content"] in tokenizer.decode(feature["prompt_ids"])
    assert data.truncation.dropped == 1 and data.truncation.prompts_cut == 0
    data = load_for_training(cfg(tmp_path, cutoff_len=128, val_size=2), template)  # the default
    assert len(data.train) == 8 and data.bad == 0 and data.truncation.prompts_cut == 1
    assert max(len(f["prompt_ids"]) + len(f["chosen_ids"]) for f in data.train_features) <= 128


@pytest.mark.parametrize("stage", ["dpo", "kto", "sft"])
def test_rows_tokenized_in_slices_are_counted_and_unchanged(tmp_path, tokenizer, monkeypatch,
                                                            stage):
    """Tokenizing 3 rows at a time (the data phase counts them) gives what one pass gives:
    features, their row numbers, the dropped record and the cut counts."""
    from core.data import tokenize
    from core.data.templates import get_template

    long = dict(PAIR, instruction="hello " * 200)
    setup(tmp_path, records(9) + [long, *records(2)])
    template = get_template("qwen", tokenizer)
    settings = dict(stage=stage, cutoff_len=128, max_bad_ratio=0.2, val_size=2,
                    truncation="drop")
    whole = load_for_training(cfg(tmp_path, **settings), template)

    class Counter:
        total, done = None, 0

        def count(self, total):
            self.total = total

        def advance(self, n):
            self.done += n

    monkeypatch.setattr(tokenize, "SLICE", 3)
    counter = Counter()
    sliced = load_for_training(cfg(tmp_path, **settings), template, progress=counter)
    rows = {"dpo": 12, "sft": 12, "kto": 24}[stage]  # kto: a pair is two rows
    assert counter.total == counter.done == rows
    assert sliced.train_features == whole.train_features and sliced.train == whole.train
    assert sliced.eval_features == whole.eval_features and sliced.bad == whole.bad == 1
    assert sliced.truncation.to_dict() == whole.truncation.to_dict()
    assert [str(p) for p in sliced.problems] == [str(p) for p in whole.problems]


def test_grpo_prompts_are_tokenized_within_the_completion_room(tmp_path, tokenizer):
    """grpo had no tokenizer here (a note); its prompts now get cutoff_len -
    max_completion_length tokens, rendered as the text TRL generates from."""
    from core.data.templates import get_template

    setup(tmp_path, [{"instruction": "Q", "output": "A"},
                     {"instruction": "hello " * 100, "output": "A"}], ranking=False)
    template = get_template("qwen", tokenizer)
    data = load_for_training(cfg(tmp_path, stage="grpo", cutoff_len=96, max_completion_length=32),
                             template)
    assert len(data.train) == 2 and data.truncation.prompts_cut == 1
    short, long = data.train_features
    assert short["prompt_text"] == template.prompt_text(data.train[0]["prompt"])
    assert len(long["prompt_ids"]) == 64 < long["prompt_len"]
    assert long["prompt_text"] == tokenizer.decode(long["prompt_ids"])
    recent = load_for_training(cfg(tmp_path, stage="grpo", cutoff_len=96, max_completion_length=32,
                                   truncation="keep_recent"), template).train_features[1]
    assert recent["prompt_text"].endswith("<|im_start|>assistant\n")  # the end survives
    with pytest.raises(UserError, match="longer than cutoff_len 96 - max_completion_length 32"):
        load_for_training(cfg(tmp_path, stage="grpo", cutoff_len=96, max_completion_length=32,
                              truncation="error"), template)


def test_the_check_says_what_counted_and_its_table_agrees_with_its_errors(tmp_path, tokenizer):
    """A newcomer saw "prompt max 253" in the table while the errors listed a 2,583-token
    prompt: the table covered good rows only. Now the refused prompt is the table's max, and
    the report names the model and template that counted (and the cutoff_len it used)."""
    import re

    setup(tmp_path, [{"instruction": f"Q{i}", "output": "A"} for i in range(3)]
          + [{"instruction": "hello " * 100, "output": "A"}], ranking=False)
    report = check_dataset("ds", tmp_path, "grpo", tokenizer=tokenizer, template="qwen",
                           cutoff_len=96, max_completion_length=32, truncation="error",
                           model="tiny-qwen")
    refused = [p for p in report.problems if p.is_error]
    assert len(refused) == 1 and report.good == 3 and report.bad == 1
    longest = int(re.match(r"(\d+) tokens, longer than cutoff_len 96", refused[0].reason)[1])
    assert report.token_stats["prompt"]["max"] == longest > 64  # the bad row is in the table
    assert len(report.lengths["prompt"]) == 4 == report.to_dict()["token_rows"]
    d = report.to_dict()
    assert (d["model"], d["template"], d["cutoff_len"]) == ("tiny-qwen", "qwen", 96)
    text = report.render()
    assert "tokens counted with the tokenizer of tiny-qwen, template qwen" in text
    assert "all 4 converted rows (cut and dropped ones too)" in text
    plain = check_dataset("ds", tmp_path, "grpo")  # no tokenizer: no model named, no table
    assert plain.to_dict()["model"] is None and "tokens counted" not in plain.render()
    assert not plain.token_stats


def test_check_dataset_with_tokenizer(tmp_path, tokenizer):
    """The long prompt is an error with truncation error (it was the default's verdict), a
    cut with the default; token statistics now cover every row, the long one too."""
    setup(tmp_path, records(9) + [dict(PAIR, instruction="hello " * 200)]
          + [{"instruction": "Q", "chosen": "same", "rejected": "same"}])
    report = check_dataset("ds", tmp_path, "dpo", tokenizer=tokenizer, template="qwen",
                           cutoff_len=128, truncation="error")
    assert (report.total, report.good, report.bad, report.errors, report.warnings) == (11, 10, 1, 1, 1)
    assert not report.ok and report.can_train(0.1) and report.truncation.refused == 1
    assert set(report.token_stats) == {"prompt", "chosen", "rejected"}
    stats = report.token_stats["prompt"]
    assert stats["min"] <= stats["p50"] <= stats["p95"] <= stats["max"]
    assert stats["max"] > 128 and len(report.lengths["prompt"]) == 11  # every row, before cuts
    assert report.problems[0].is_error  # errors first
    text = report.render(limit=1)
    assert "ds.json:9 prompt:" in text and "... and 1 more (use --json for all)" in text
    assert "all 11 converted rows" in text and "cutoff_len 128, truncation error" in text
    d = report.to_dict()
    assert d["ok"] is False and len(d["problems"]) == 2 and d["token_stats"]["chosen"]["max"] > 0
    assert check_dataset("ds", tmp_path, "dpo", tokenizer=tokenizer, template="qwen").ok  # 2048 fits
    cut = check_dataset("ds", tmp_path, "dpo", tokenizer=tokenizer, template="qwen", cutoff_len=128)
    assert cut.ok and (cut.good, cut.bad, cut.errors) == (11, 0, 0)
    assert cut.truncation.prompts_cut == 1 and "ds.json:9: prompt -" in cut.truncation.examples[0]
    dropped = check_dataset("ds", tmp_path, "dpo", tokenizer=tokenizer, template="qwen",
                            cutoff_len=128, truncation="drop")
    assert dropped.ok and dropped.dropped == 1 and dropped.bad == 1 and not dropped.can_train(0)


@pytest.mark.skipif(not (LF_DATA / "dpo_en_demo.json").exists(), reason="shared LLaMA-Factory data absent")
def test_llamafactory_dpo_en_demo_unchanged(tmp_path, tokenizer):
    entry = {"file_name": str(LF_DATA / "dpo_en_demo.json"), "ranking": True,
             "formatting": "sharegpt",
             "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}}
    (tmp_path / "dataset_info.json").write_text(json.dumps({"dpo_en_demo": entry}))
    ds = load_rows("dpo_en_demo", tmp_path, "dpo")
    assert ds.total == 300 and len(ds.rows) == 300 and ds.errors == []
    systems = [r for r in ds.rows if r["prompt"][0]["role"] == "system"]
    assert len(systems) == 80
    assert max(len(r["prompt"]) for r in ds.rows) == 13
    for row in ds.rows:
        roles = [m["role"] for m in row["prompt"] if m["role"] != "system"]
        assert roles[-1] == "user" and row["chosen"][0]["role"] == "assistant"
    report = check_dataset("dpo_en_demo", tmp_path, "dpo", tokenizer=tokenizer, template="qwen",
                           cutoff_len=100_000, max_samples=20)
    assert report.ok and report.good == 20
    assert not list(tmp_path.glob("*.json*"))[1:]  # only the registry: the data was not copied


# --- several datasets, as LLaMA-Factory mixes them ------------------------------------------

def named(prefix: str, n: int) -> list:
    return [dict(PAIR, instruction=f"{prefix}{i}") for i in range(n)]


def prompts(rows: list) -> list[str]:
    return [r["prompt"][-1]["content"] for r in rows]


def test_concat_and_interleave_by_hand(tmp_path):
    setup(tmp_path, named("a", 2), name="a")
    setup(tmp_path, named("b", 3) + [{"instruction": "Q", "chosen": "", "rejected": "x"}], name="b")
    two = dict(dataset="a,b", max_bad_ratio=0.5)
    assert prompts(load_for_training(cfg(tmp_path, **two)).train) == ["a0", "a1", "b0", "b1", "b2"]
    # in turn, until the first dataset runs out (a: 2 records), then b's bad record is left out
    under = load_for_training(cfg(tmp_path, mix_strategy="interleave_under", **two)).train
    assert prompts(under) == ["a0", "b0", "a1", "b1"]
    # in turn until every record of every dataset was used, repeating the shorter ones
    over = load_for_training(cfg(tmp_path, mix_strategy="interleave_over", **two)).train
    assert prompts(over) == ["a0", "b0", "a1", "b1", "a0", "b2", "a1"]  # "a1", b's bad one
    once = load_for_training(cfg(tmp_path, mix_strategy="interleave_once", **two)).train
    assert sorted(prompts(once)) == ["a0", "a1", "b0", "b1", "b2"]


def test_interleave_probs_are_seeded(tmp_path):
    setup(tmp_path, named("a", 30), name="a")
    setup(tmp_path, named("b", 30), name="b")
    mixed = dict(dataset="a,b", mix_strategy="interleave_under", interleave_probs="0.8,0.2")
    first = prompts(load_for_training(cfg(tmp_path, seed=1, **mixed)).train)
    assert first == prompts(load_for_training(cfg(tmp_path, seed=1, **mixed)).train)
    assert first != prompts(load_for_training(cfg(tmp_path, seed=2, **mixed)).train)
    assert first[-1] == "a29" and len(set(first)) == len(first)  # stops when a runs out
    assert sum(p.startswith("a") for p in first) > 2 * sum(p.startswith("b") for p in first)


def test_val_size_holds_out_what_llamafactory_holds_out(tmp_path):
    """LLaMA-Factory splits the merged records with datasets' train_test_split: the held-out
    records are the first ceil(val_size * n) of numpy's default_rng(seed) permutation."""
    import math

    import numpy as np

    setup(tmp_path, named("a", 12), name="a")
    setup(tmp_path, named("b", 8), name="b")
    data = load_for_training(cfg(tmp_path, dataset="a,b", val_size=0.15, seed=5))
    order = [f"a{i}" for i in range(12)] + [f"b{i}" for i in range(8)]
    perm = np.random.default_rng(5).permutation(20)
    held = math.ceil(0.15 * 20)
    assert prompts(data.eval) == [order[i] for i in perm[:held]]
    assert prompts(data.train) == [order[i] for i in perm[held:]]


def test_val_size_and_eval_dataset_refused_together(tmp_path):
    setup(tmp_path, named("a", 5), name="ds")
    setup(tmp_path, named("e", 3), name="ev")
    with pytest.raises(UserError, match="val_size: 0.2 .* eval_dataset ev is set too"):
        load_for_training(cfg(tmp_path, eval_dataset="ev", val_size=0.2))


def test_mix_settings_are_checked_before_a_run():
    from core.config import problems

    def keys(**kw):
        return [key for key, _ in problems(RunConfig(**kw))]

    assert keys(dataset="a,b", mix_strategy="interleave_under", interleave_probs="0.7,0.3") == []
    assert keys(dataset="a,b", mix_strategy="interleave_over", interleave_probs="0.7,0.2") == \
        ["interleave_probs"]  # sums to 0.9
    assert keys(dataset="a,b,c", mix_strategy="interleave_under", interleave_probs="0.5,0.5") == \
        ["interleave_probs"]  # one per dataset
    assert keys(dataset="a,b", mix_strategy="interleave_under", interleave_probs="x,y") == \
        ["interleave_probs"]
    assert keys(dataset="a,b", interleave_probs="0.7,0.2") == []  # concat: not used, as in LF
    assert keys(dataset="a", eval_dataset="b", val_size=0.1) == ["val_size"]
    assert keys(truncation="cut") == ["truncation"] and keys(mix_strategy="zip") == ["mix_strategy"]
