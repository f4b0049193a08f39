"""python -m core data {list,check,add,convert}: detection, refusals, exit codes, files."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
OTHER = '{\n    "keep": {"file_name": "keep.json",   "ranking": true}\n}\n'


def run(*argv) -> int:
    return main(["data", *map(str, argv)])


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def conv(*pairs):
    return [{"role": r, "content": c} for r, c in pairs]


# --- add ---------------------------------------------------------------------------------

def test_add_detects_alpaca_ranking_and_keeps_other_entries(tmp_path, capsys):
    (tmp_path / "dataset_info.json").write_text(OTHER)
    write(tmp_path / "mine.json", [{"instruction": "Q", "input": "", "chosen": "a", "rejected": "b",
                                    "system": "S", "history": [["h", "i"]]}])
    assert run("add", "mine", "--file", tmp_path / "mine.json", "--dataset_dir", tmp_path) == 0
    text = (tmp_path / "dataset_info.json").read_text()
    assert text.startswith(OTHER.rstrip()[:-1].rstrip())  # "keep" byte for byte
    entry = json.loads(text)["mine"]
    assert entry == {"file_name": "mine.json", "formatting": "alpaca", "ranking": True,
                     "columns": {"prompt": "instruction", "query": "input", "system": "system",
                                 "history": "history", "chosen": "chosen", "rejected": "rejected"}}
    out = capsys.readouterr().out
    assert '"mine": {' in out and "registered mine" in out
    assert run("check", "mine", "--dataset_dir", tmp_path) == 0


@pytest.mark.parametrize("records, expected", [
    ([{"messages": conv(("user", "Q"), ("assistant", "A"))}],
     {"formatting": "openai", "columns": {"messages": "messages"}}),
    ([{"conversations": [{"from": "user", "value": "Q"}, {"from": "bot", "value": "A"}]}],
     {"formatting": "sharegpt", "columns": {"messages": "conversations"},
      "tags": {"user_tag": "user"}}),
    ([{"prompt": conv(("user", "Q")), "chosen": conv(("assistant", "a")),
       "rejected": conv(("assistant", "b"))}],
     {"formatting": "openai", "ranking": True,
      "columns": {"messages": "prompt", "chosen": "chosen", "rejected": "rejected"}}),
    ([{"prompt": "Q", "completion": "A", "label": False}],
     {"formatting": "alpaca", "columns": {"prompt": "prompt", "response": "completion",
                                          "kto_tag": "label"}}),
    ([{"instruction": "Q", "output": ["good", "bad"]}],
     {"formatting": "alpaca", "ranking": True,
      "columns": {"prompt": "instruction", "response": "output"}}),
])
def test_add_detects_layouts(tmp_path, records, expected):
    write(tmp_path / "d.json", records)
    code = run("add", "d", "--file", tmp_path / "d.json", "--dataset_dir", tmp_path)
    entry = json.loads((tmp_path / "dataset_info.json").read_text())["d"]
    entry.pop("file_name")
    if expected.get("tags"):  # only what differs from the defaults is written
        assert {k: entry["tags"][k] for k in expected["tags"]} == expected.pop("tags")
        entry.pop("tags")
    assert entry == expected and code == 0


def test_add_explicit_columns_and_tags(tmp_path):
    write(tmp_path / "d.jsonl", [])
    (tmp_path / "d.jsonl").write_text(json.dumps(
        {"turns": [{"who": "me", "say": "Q"}], "good": "a", "bad": "b"}) + "\n")
    assert run("add", "d", "--file", tmp_path / "d.jsonl", "--dataset_dir", tmp_path,
               "--formatting", "sharegpt", "--ranking", "--columns",
               "messages=turns,chosen=good,rejected=bad",
               "--tags", "role_tag=who,content_tag=say,user_tag=me") == 0
    entry = json.loads((tmp_path / "dataset_info.json").read_text())["d"]
    assert entry["columns"] == {"messages": "turns", "chosen": "good", "rejected": "bad"}
    assert entry["tags"] == {"role_tag": "who", "content_tag": "say", "user_tag": "me"}


def test_add_refuses_bad_data(tmp_path, capsys):
    (tmp_path / "dataset_info.json").write_text(OTHER)
    write(tmp_path / "d.json", [{"instruction": "Q", "chosen": "a", "rejected": "b"},
                                {"instruction": "Q", "chosen": "", "rejected": "b"}])
    assert run("add", "d", "--file", tmp_path / "d.json", "--dataset_dir", tmp_path) == 1
    out = capsys.readouterr().out
    assert "d.json:1 chosen: empty text" in out and "not registered" in out
    assert (tmp_path / "dataset_info.json").read_text() == OTHER
    assert run("add", "d", "--file", tmp_path / "d.json", "--dataset_dir", tmp_path,
               "--allow_bad") == 0
    assert "d" in json.loads((tmp_path / "dataset_info.json").read_text())


def test_add_existing_name_needs_force(tmp_path, capsys):
    (tmp_path / "dataset_info.json").write_text(OTHER)
    write(tmp_path / "k.json", [{"instruction": "Q", "chosen": "a", "rejected": "b"}])
    assert run("add", "keep", "--file", tmp_path / "k.json", "--dataset_dir", tmp_path) == 2
    assert "already in" in capsys.readouterr().err
    assert run("add", "keep", "--file", tmp_path / "k.json", "--dataset_dir", tmp_path,
               "--force") == 0


def test_add_full_conversations_points_to_convert(tmp_path, capsys):
    write(tmp_path / "uf.json", [{"chosen": conv(("user", "Q"), ("assistant", "a")),
                                  "rejected": conv(("user", "Q"), ("assistant", "b"))}])
    assert run("add", "uf", "--file", tmp_path / "uf.json", "--dataset_dir", tmp_path) == 2
    assert "data convert" in capsys.readouterr().err
    assert not (tmp_path / "dataset_info.json").exists()


# --- convert -----------------------------------------------------------------------------

def ultrafeedback(n: int) -> list:
    """Like argilla/ultrafeedback-binarized: chosen/rejected are whole conversations."""
    rows = []
    for i in range(n):
        shared = conv(("system", "S"), ("user", f"q{i}"), ("assistant", "a"), ("user", f"more {i}"))
        rows.append({"prompt": f"q{i}", "language": "zh" if i % 2 else "en",
                     "chosen": shared + conv(("assistant", f"good {i}")),
                     "rejected": shared + conv(("assistant", f"bad {i}")), "score": 1.0})
    return rows


def test_convert_where_limit_val_ratio(tmp_path, capsys):
    import pandas as pd
    pd.DataFrame(ultrafeedback(40)).to_parquet(tmp_path / "uf.parquet")
    out = tmp_path / "out"
    argv = ["convert", tmp_path / "uf.parquet", "--to", "alpaca", "--where", "language=zh",
            "--limit", 10, "--val-ratio", 0.2, "--seed", 3, "--out", out, "--dataset_dir", tmp_path]
    assert run(*argv) == 0
    printed = capsys.readouterr().out
    assert "records read 40, matching --where 20, used 10" in printed and "characters" in printed
    train = json.loads((out / "uf.json").read_text())
    val = json.loads((out / "uf_val.json").read_text())
    assert (len(train), len(val)) == (8, 2)
    assert train[0] == {"instruction": "more 1", "input": "", "chosen": "good 1", "rejected": "bad 1",
                        "system": "S", "history": [["q1", "a"]]}
    assert all(int(r["instruction"].split()[1]) % 2 for r in train + val)  # only zh rows
    assert not (tmp_path / "dataset_info.json").exists()  # registry untouched
    assert run(*argv) == 2  # refuses to overwrite
    assert "--force" in capsys.readouterr().err
    assert run(*argv, "--force") == 0
    assert json.loads((out / "uf_val.json").read_text()) == val  # same seed, same split


def test_convert_to_sharegpt_and_register(tmp_path):
    from core.data import load_rows

    write(tmp_path / "uf.json", ultrafeedback(4) + [{"chosen": conv(("user", "x")), "rejected": []}])
    assert run("convert", tmp_path / "uf.json", "--to", "sharegpt", "--out", tmp_path / "o",
               "--register", "uf4", "--dataset_dir", tmp_path) == 0
    registry = json.loads((tmp_path / "dataset_info.json").read_text())
    assert registry["uf4"]["file_name"] == "o/uf4.json" and registry["uf4"]["ranking"] is True
    rows = load_rows("uf4", tmp_path, "dpo").rows
    assert len(rows) == 4
    assert [m["role"] for m in rows[0]["prompt"]] == ["system", "user", "assistant", "user"]
    assert rows[0]["chosen"] == conv(("assistant", "good 0"))


def test_convert_plain_pairs_and_non_pairs(tmp_path, capsys):
    (tmp_path / "p.csv").write_text("prompt,chosen,rejected\nQ,a,b\nQ2,c,c\n")
    assert run("convert", tmp_path / "p.csv", "--to", "alpaca", "--out", tmp_path) == 0
    assert json.loads((tmp_path / "p.json").read_text())[1]["chosen"] == "c"
    assert "identical to rejected" in capsys.readouterr().out
    write(tmp_path / "s.json", [{"instruction": "Q", "output": "A"}])
    assert run("convert", tmp_path / "s.json", "--to", "alpaca", "--out", tmp_path / "x") == 2
    assert run("convert", tmp_path / "p.csv", "--to", "alpaca", "--out", tmp_path / "y",
               "--where", "lang=en") == 2
    assert "no column 'lang'" in capsys.readouterr().err


# --- list / check / exit codes -------------------------------------------------------------

def test_check_exit_codes(tmp_path, capsys):
    write(tmp_path / "good.json", [{"instruction": "Q", "chosen": "a", "rejected": "b"}] * 3)
    write(tmp_path / "bad.json", [{"instruction": "Q", "chosen": "a", "rejected": "b"},
                                  {"instruction": "Q", "chosen": 1, "rejected": "b"}])
    write(tmp_path / "dataset_info.json", {"good": {"file_name": "good.json", "ranking": True},
                                           "bad": {"file_name": "bad.json", "ranking": True}})
    assert run("check", "good", "--dataset_dir", tmp_path) == 0
    assert run("check", "bad", "--dataset_dir", tmp_path) == 1
    assert "bad.json:1 chosen: expected text, got int" in capsys.readouterr().out
    assert run("check", "bad", "--dataset_dir", tmp_path, "--max_bad_ratio", 0.5) == 0
    assert run("check", "good", "--dataset_dir", tmp_path, "--stage", "sft") == 0  # warning only
    assert run("check", "goood", "--dataset_dir", tmp_path) == 2
    assert "Did you mean good?" in capsys.readouterr().err
    assert run("check", "bad", "--dataset_dir", tmp_path, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["errors"] == 1 and report["can_train"] is False
    assert report["problems"][0]["index"] == 1


def test_check_with_model_folder_and_demo_missing(tmp_path, capsys, monkeypatch):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(["hello world"], trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>").save_pretrained(tmp_path / "tok")
    write(tmp_path / "d.json", [{"instruction": "hello", "chosen": "a", "rejected": "b"}])
    write(tmp_path / "dataset_info.json", {"d": {"file_name": "d.json", "ranking": True}})
    assert run("check", "d", "--dataset_dir", tmp_path, "--model", tmp_path / "tok",
               "--template", "qwen", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["token_stats"]["prompt"]["max"] > 0
    assert run("check", "d", "--dataset_dir", tmp_path, "--template", "qwen") == 2
    monkeypatch.setitem(sys.modules, "core.models.demo", None)  # as if it did not exist
    assert run("check", "d", "--dataset_dir", tmp_path, "--model", "demo") == 2
    assert "demo model is not available" in capsys.readouterr().err


def test_list_table_and_json(tmp_path, capsys):
    write(tmp_path / "a.json", [{"instruction": "Q", "output": "A"}] * 2)
    write(tmp_path / "dataset_info.json", {"a": {"file_name": "a.json"},
                                           "b": {"file_name": "missing.json"}})
    assert run("list", "--dataset_dir", tmp_path) == 0
    out = capsys.readouterr().out
    assert ["a", "alpaca", "sft,grpo", "2"] == out.splitlines()[1].split()[:4]
    assert "ERROR: dataset 'b': file not found" in out
    assert run("list", "--dataset_dir", tmp_path, "--json") == 0
    assert json.loads(capsys.readouterr().out)[0]["records"] == 2


@pytest.mark.parametrize("action", ["list", "check", "add", "convert"])
def test_help_has_examples(action, capsys):
    with pytest.raises(SystemExit) as e:
        main(["data", action, "--help"])
    assert e.value.code == 0
    assert "examples:" in capsys.readouterr().out


def test_subprocess_exit_code_and_no_heavy_imports(tmp_path):
    probe = ("import sys, importlib.util; from core.__main__ import main; code = main(['data', 'list', "
             f"'--dataset_dir', {str(tmp_path)!r}]); "
             "heavy = [m for m in ('torch', 'transformers', 'datasets', 'pandas', 'pyarrow') "
             "if m in sys.modules]; print(heavy); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip().endswith("[]"), done.stderr
    done = subprocess.run([sys.executable, "-m", "core", "data", "check", "nope", "--dataset_dir",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("error: unknown dataset 'nope'")


def test_register_file_dry_run_for_the_webui(tmp_path):
    from core.data import register_file

    write(tmp_path / "d.json", [{"instruction": "Q", "chosen": "a", "rejected": "b"}])
    result = register_file("d", tmp_path / "d.json", tmp_path, dry_run=True)
    assert result.registry is None and result.rows == 1 and result.stages == ["dpo", "rm", "kto"]
    assert result.entry["file_name"] == "d.json"
    assert not (tmp_path / "dataset_info.json").exists()


def test_check_says_which_cutoff_and_truncation_it_used(tmp_path, capsys, tiny_model):
    write(tmp_path / "d.json", [{"instruction": "hello " * 60, "chosen": "a", "rejected": "b"},
                                {"instruction": "Q", "chosen": "a", "rejected": "b"}])
    write(tmp_path / "dataset_info.json", {"d": {"file_name": "d.json", "ranking": True}})
    check = ("check", "d", "--dataset_dir", tmp_path, "--model", tiny_model, "--cutoff_len", 32)
    assert run(*check) == 0  # the default cuts: the data trains
    out = capsys.readouterr().out
    assert "cutoff_len 32, truncation llamafactory: 1 of 2 records had their prompt cut" in out
    assert "tokens before truncation, all 2 converted rows" in out and "OK: the data can train" in out
    assert f"tokens counted with the tokenizer of {tiny_model}, template its own" in out
    assert run(*check, "--truncation", "drop") == 1
    assert "the run would refuse: 1 of 2 records left out" in capsys.readouterr().out
    assert run(*check, "--truncation", "drop", "--max_bad_ratio", 0.5) == 0
    assert run(*check, "--truncation", "error", "--max_bad_ratio", 0.5) == 1  # refuses any
    assert "d.json:0 prompt:" in capsys.readouterr().out
    assert run(*check, "--truncation", "keep_recent", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cutoff_len"] == 32 and report["truncation"]["mode"] == "keep_recent"
    assert report["model"] == str(tiny_model) and report["template"] is None
    assert report["truncation"]["prompts_cut"] == 1 and report["token_rows"] == 2
