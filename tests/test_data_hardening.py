"""Bad data files end in a clear error that names the file, record or key and the fix, never
in a raw exception; what the data tab, `data list`, `data check` and a run say agrees.
(The issue "Hardening: bad values, NaN, escaping files ...", items 5 and 6, data parts;
docs/reliability.md lists each case with its test.)
Run: pytest -q tests/test_data_hardening.py"""
import json
import re
import shlex
from pathlib import Path

import pytest
from conftest import ROOT, tiny_config

from core.__main__ import main
from core.data import check_dataset, list_datasets, load_for_training, load_rows
from core.data.registry import add_entry, data_command, get_entry
from core.data.templates import get_template
from core.errors import UserError
from core.training.preflight import preflight, refused

PAIR = {"instruction": "Q", "chosen": "good", "rejected": "bad"}
SAME = {"instruction": "Q", "chosen": "same", "rejected": "same"}


def register(folder: Path, file: str, content: str | bytes, **entry) -> Path:
    """`content` as `folder/file`, registered as dataset "ds" (with `entry`'s keys)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    (folder / "dataset_info.json").write_text(json.dumps({"ds": {"file_name": file, **entry}}))
    return folder


def records(*recs) -> str:
    return json.dumps(list(recs))


def info(folder: Path):
    (found,) = list_datasets(folder)
    return found


# --- item 5: raw exceptions become clear errors -------------------------------------------------
@pytest.mark.parametrize("role", [["human"], {"name": "human"}])
def test_a_sharegpt_role_that_is_a_list_or_object_is_one_bad_record(tmp_path, role):
    """Was `TypeError: unhashable type`, which aborted the whole dataset."""
    good = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}
    bad = {"conversations": [{"from": role, "value": "hi"}, {"from": "gpt", "value": "yo"}]}
    folder = register(tmp_path, "c.json", records(good, bad, good), formatting="sharegpt")
    ds = load_rows("ds", folder, "sft")
    assert len(ds.rows) == 2
    (p,) = ds.problems
    assert (p.index, p.field, p.severity) == (1, "conversations[0].from", "error")
    assert f"expected a role name (text), got {type(role).__name__}" in p.reason
    assert info(folder).error is None  # the registry table reads it too


def test_a_tool_calls_value_that_is_not_a_list_is_one_bad_record(tmp_path):
    turns = [{"role": "user", "content": "hi"},
             {"role": "assistant", "content": "", "tool_calls": 5}]
    folder = register(tmp_path, "o.json", records({"messages": turns}), formatting="openai")
    (p,) = load_rows("ds", folder, "sft").problems
    assert p.field == "messages[1].tool_calls" and "expected a list of calls, got int" in p.reason


@pytest.mark.parametrize("file, content, line", [
    ("a.jsonl", b'{"instruction": "a", "output": "b"}\n{"instruction": "caf\xe9"}\n', 2),
    ("a.json", b'[{"instruction": "a", "output": "b"},\n {"instruction": "\xff"}]', 2),
    ("a.csv", b"instruction,output\na,b\nc,d\n\xe9t\xe9,e\n", 4),
])
def test_invalid_utf8_names_the_file_line_and_fix(tmp_path, file, content, line):
    """Was a bare UnicodeDecodeError (no file, no line) from records, `data list`, `data check`."""
    folder = register(tmp_path, file, content)
    said = rf"{file}: not UTF-8 text: line {line}, byte \d+ .*save the file as UTF-8"
    with pytest.raises(UserError, match=said):
        load_rows("ds", folder, "sft")
    with pytest.raises(UserError, match=said):
        check_dataset("ds", folder, "sft")
    assert re.search(said, info(folder).error)


def test_a_registry_that_is_not_utf8_names_itself(tmp_path):
    (tmp_path / "dataset_info.json").write_bytes(b'{"ds": {"file_name": "d\xe9.json"}}')
    with pytest.raises(UserError, match=r"dataset_info.json: not UTF-8 text: line 1"):
        get_entry("ds", tmp_path)


@pytest.mark.parametrize("file, text", [
    ("deep.json", "[" + "[" * 5000 + "]" * 5000 + "]"),
    ("deep.jsonl", '{"instruction": "a", "output": "b"}\n{"instruction": '
     + "[" * 5000 + "]" * 5000 + ', "output": "x"}\n'),
    ("first.jsonl", '{"instruction": ' + "[" * 5000 + "]" * 5000 + "}\n"),
])
def test_five_thousand_nested_brackets_name_the_file_and_line(tmp_path, file, text):
    """Was RecursionError from records, `data list` and the Data tab (which reads the first
    record of JSON lines only, so counts deep.jsonl without complaint)."""
    folder = register(tmp_path, file, text)
    line = 2 if file == "deep.jsonl" else 1
    said = rf"{file}: line {line}: brackets nested 500\d deep, more than can be read; .*remove"
    with pytest.raises(UserError, match=said):
        load_rows("ds", folder, "sft")
    listed = info(folder)
    assert re.search(said, listed.error) if line == 1 else listed.records == 2


def test_deep_nesting_in_the_registry_is_a_clear_error(tmp_path):
    (tmp_path / "dataset_info.json").write_text('{"ds": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(UserError, match=r"dataset_info.json: line 1: brackets nested 5001 deep"):
        list_datasets(tmp_path)


def test_nesting_python_can_read_but_not_show_is_one_bad_record(tmp_path):
    """Nearly as deep as json can read: the record is reported (or the file refused), never a
    RecursionError later when the value is shown."""
    deep = "[" * 960 + "]" * 960
    text = '{"instruction": "a", "output": "b"}\n{"instruction": ' + deep + ', "output": "x"}\n'
    folder = register(tmp_path, "d.jsonl", text)
    try:
        ds = load_rows("ds", folder, "sft")
    except UserError as e:
        assert "d.jsonl: line 2: brackets nested" in str(e)
    else:
        assert len(ds.rows) == 1 and [p.index for p in ds.problems] == [1]


def test_a_number_too_long_to_read_is_a_clear_error(tmp_path):
    folder = register(tmp_path, "n.jsonl", '{"instruction": ' + "9" * 5000 + ', "output": "b"}\n')
    with pytest.raises(UserError, match=r"n.jsonl: line 1: a value cannot be read .*as text"):
        load_rows("ds", folder, "sft")


def test_json_lines_split_only_at_newlines(tmp_path):
    """U+2028 and U+0085 are allowed inside JSON strings; str.splitlines() cut records there."""
    rec = {"instruction": "a\u2028b\u0085c", "output": "d\u2029e"}
    folder = register(tmp_path, "u.jsonl", json.dumps(rec, ensure_ascii=False) + "\r\n")
    ds = load_rows("ds", folder, "sft")
    assert ds.problems == [] and ds.rows[0]["messages"][0]["content"] == "a\u2028b\u0085c"
    assert info(folder).records == 1


# --- item 6: one reader, commands that work when pasted, no silent fallback -------------------
@pytest.mark.parametrize("file, content", [
    ("b.jsonl", '\ufeff{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": "d"}\n'),
    ("b.json", '\ufeff[{"instruction": "a", "output": "b"}, {"instruction": "c", "output": "d"}]'),
    ("b.csv", "\ufeffinstruction,output\na,b\nc,d\n"),
])
def test_a_file_with_a_bom_reads_the_same_everywhere(tmp_path, file, content):
    """A JSONL with a BOM trained, but `data list` and the Data tab called it an error."""
    folder = register(tmp_path, file, content)
    found = info(folder)
    assert found.error is None and found.records == 2 and found.stages == ["sft", "grpo"]
    assert len(load_rows("ds", folder, "sft").rows) == 2
    assert check_dataset("ds", folder, "sft").ok
    assert main(["data", "list", "--dataset_dir", str(folder)]) == 0


def test_a_registry_with_a_bom_reads_and_keeps_it(tmp_path):
    register(tmp_path, "a.json", records({"instruction": "a", "output": "b"}))
    registry = tmp_path / "dataset_info.json"
    registry.write_bytes(b"\xef\xbb\xbf" + registry.read_bytes())
    assert get_entry("ds", tmp_path).file_name == "a.json"
    add_entry("more", {"file_name": "a.json"}, tmp_path)
    assert registry.read_bytes().startswith(b"\xef\xbb\xbf")
    assert [i.name for i in list_datasets(tmp_path)] == ["ds", "more"]


def pasted(message: str) -> list[str]:
    """The `python -m core data ...` command a message suggests, as main() arguments."""
    found = re.search(r"`(python -m core data [^`]+)`", message)
    assert found, message
    return shlex.split(found.group(1))[3:]


def test_suggested_commands_name_the_dataset_dir_and_work_when_pasted(tmp_path, monkeypatch,
                                                                      capsys):
    """A run over data outside ./data is refused with a `data check` command; pasted from
    another folder it checks that dataset (it omitted --dataset_dir and failed)."""
    folder = register(tmp_path / "my data", "p.json",
                      records(PAIR, {"instruction": "Q", "chosen": 3, "rejected": "b"}),
                      ranking=True)
    monkeypatch.chdir(tmp_path)
    cfg = tiny_config(ROOT, tmp_path / "run", dataset="ds", dataset_dir=str(folder))
    with pytest.raises(UserError) as refusal:
        load_for_training(cfg)
    argv = pasted(str(refusal.value))
    assert argv[-2:] == ["--dataset_dir", str(folder)]
    capsys.readouterr()
    assert main(argv) == 1  # the check runs on that dataset and finds the bad record
    assert "p.json:1 chosen: expected text, got int" in capsys.readouterr().out
    assert data_command("check", "x", dataset_dir="data") == "python -m core data check x"


def test_other_suggested_commands_carry_the_dataset_dir(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "dataset_info.json").write_text("{}")
    with pytest.raises(UserError) as e:
        get_entry("x", empty)
    assert pasted(str(e.value))[-2:] == ["--dataset_dir", str(empty)]
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "dataset_info.json").write_text(json.dumps({"h": {"hf_hub_url": "no/such"}}))
    with pytest.raises(UserError) as e:
        load_rows("h", hub, "sft")
    assert pasted(str(e.value)) == ["data", "add", "h", "--file", "PATH", "--force",
                                    "--dataset_dir", str(hub)]
    full = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    (tmp_path / "full.json").write_text(records({"chosen": full, "rejected": full}))
    from core.data import register_file
    with pytest.raises(UserError) as e:
        register_file("f", tmp_path / "full.json", hub)
    assert pasted(str(e.value))[:3] == ["data", "convert", str(tmp_path / "full.json")]
    assert pasted(str(e.value))[-2:] == ["--dataset_dir", str(hub)]


@pytest.fixture(scope="module")
def plain_tokenizer(tiny_model):
    """The tiny model's tokenizer without a chat template."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_model)
    tok.chat_template = None
    return tok


def test_a_tokenizer_without_a_chat_template_says_default_is_used(tmp_path, plain_tokenizer,
                                                                   tiny_model):
    """It fell back to `default` silently: the check, the run's log and preflight say so."""
    template = get_template(None, plain_tokenizer)
    assert template.name == "default" and "has no chat template" in template.fallback
    assert get_template("default", plain_tokenizer).fallback == ""
    report = check_dataset("demo_pref_en", ROOT / "data", "dpo", tokenizer=plain_tokenizer,
                           max_samples=4)
    assert any("the `default` template is used" in n for n in report.notes)
    cfg = tiny_config(tiny_model, tmp_path / "run", max_samples=4)
    assert load_for_training(cfg, template).notes == [template.fallback]
    found = preflight(cfg, tokenizer=lambda c: plain_tokenizer)
    assert not refused(found)
    said = [f for f in found if f.key == "template"]
    assert len(said) == 1 and said[0].severity == "warning"
    assert "set template qwen, qwen3 or qwen3_nothink" in said[0].message


def test_every_pair_identical_is_refused(tmp_path, tiny_model):
    """It trained for nothing; now the check says NOT OK and the run refuses, naming why."""
    folder = register(tmp_path / "d", "s.json", records(SAME, SAME, SAME), ranking=True)
    report = check_dataset("ds", folder, "dpo")
    assert not report.ok and report.bad == 3
    assert "no usable pair: chosen is identical to rejected in all 3 pairs" in report.render()
    cfg = tiny_config(tiny_model, tmp_path / "run", dataset="ds", dataset_dir=str(folder))
    for stage in ("dpo", "kto", "rm"):
        with pytest.raises(UserError, match=f"dataset: ds, stage {stage}: no usable pair"):
            load_for_training(cfg.replace(stage=stage))
    found = preflight(cfg)
    assert refused(found) and any("no usable pair" in f.message for f in found)
    # one usable pair is enough; sft uses the chosen answer alone and is not warned
    register(folder, "s.json", records(SAME, PAIR, SAME), ranking=True)
    assert check_dataset("ds", folder, "dpo").ok
    assert len(load_for_training(cfg).train) == 3
    assert load_rows("ds", folder, "sft").problems[0].reason.startswith("ranking data used for sft")
    assert len(load_rows("ds", folder, "sft").problems) == 1


def test_no_usable_pair_left_after_the_bad_records(tmp_path, tokenizer, tiny_model):
    """The one usable pair is too long for cutoff_len and dropped: the identical ones left
    would train for nothing, so the check and the run refuse."""
    long = {"instruction": "Q", "chosen": "good " * 200, "rejected": "bad"}
    folder = register(tmp_path / "d", "s.json", records(long, SAME, SAME), ranking=True)
    assert check_dataset("ds", folder, "dpo").ok  # without a tokenizer: nothing is dropped
    report = check_dataset("ds", folder, "dpo", tokenizer=tokenizer, cutoff_len=64,
                           truncation="drop")
    assert not report.ok and "no usable pair" in report.render()
    cfg = tiny_config(tiny_model, tmp_path / "run", dataset="ds", dataset_dir=str(folder),
                      cutoff_len=64, truncation="drop", max_bad_ratio=0.5)
    with pytest.raises(UserError, match=r"dataset: ds, stage dpo: no usable pair: .* all 2 pairs"):
        load_for_training(cfg, get_template(None, tokenizer))


@pytest.mark.parametrize("content", ["", "[]", "\n\n  \n"])
def test_an_empty_file_is_an_error_the_report_lists(tmp_path, content):
    """The report said "fix the errors above" and listed none."""
    folder = register(tmp_path, "e.jsonl" if content != "[]" else "e.json", content)
    report = check_dataset("ds", folder, "sft")
    assert not report.ok and report.errors == 1
    (p,) = report.problems
    assert p.index is None and p.field == "file_name" and p.reason.startswith("no records")
    text = report.render()
    assert "no records: nothing to read in" in text and "NOT OK: fix the errors above" in text
    from webui.render import report_html
    assert "no records: nothing to read in" in report_html(report.to_dict(), "en")


def test_no_rows_without_errors_says_what_stands_in_the_way(tmp_path):
    folder = register(tmp_path, "k.json",
                      records({"instruction": "Q", "output": "A", "ok": False}),
                      columns={"kto_tag": "ok"})
    report = check_dataset("ds", folder, "sft")
    assert report.errors == 0 and not report.ok
    assert report.render().endswith("NOT OK: no record gives a row to train stage sft (see above)")


# --- item 6: dataset names checked at Start -------------------------------------------------
def test_an_unknown_dataset_is_a_preflight_error_naming_the_key(tmp_path, tiny_model):
    cfg = tiny_config(tiny_model, tmp_path / "run", dataset="demo_pref_en,nope")
    (f,) = [f for f in preflight(cfg, tokenizer=lambda c: pytest.fail("tokenizer loaded"))
            if f.severity == "error"]
    assert f.key == "dataset" and f.message.startswith("dataset: unknown dataset 'nope'")
    assert "Available: " in f.message and "demo_pref_en" in f.message
    cfg = tiny_config(tiny_model, tmp_path / "run", eval_dataset="demo_pref_ne")
    (f,) = [f for f in preflight(cfg) if f.severity == "error"]
    assert f.key == "eval_dataset" and "Did you mean demo_pref_en?" in f.message


def test_start_in_the_webui_refuses_an_unknown_dataset_before_launching(tmp_path):
    from core.config import RunConfig
    from core.runs.manager import RunManager
    from webui import forms
    from webui.tabs import train as train_tab
    from webui.workspace import Workspace

    data = tmp_path / "data"
    register(data, "p.json", records(PAIR, PAIR), ranking=True)
    ws = Workspace(saves_dir=tmp_path / "saves", data_dir=data)
    manager = RunManager(ws.saves_dir, max_concurrent=0)
    values = forms.config_values(RunConfig(dataset="dss", dataset_dir=str(data), max_steps=2,
                                           run_name="r"))
    name, found = train_tab.start(ws, manager, values)
    assert name is None and found[0][0] == "dataset"
    assert "unknown dataset 'dss'" in found[0][1] and "Did you mean ds?" in found[0][1]
    assert manager.list() == [] and not (ws.saves_dir.exists() and any(ws.saves_dir.iterdir()))
