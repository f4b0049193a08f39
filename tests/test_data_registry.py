"""dataset_info.json: which registry, unknown names, malformed JSON, atomic byte-preserving
writes; and reading json / jsonl / parquet / csv / folders / the hub (offline)."""
import json
import os
import re
from pathlib import Path

import pytest

from core.data import list_datasets, load_rows, registry
from core.data.registry import add_entry, get_entry, registry_path
from core.errors import UserError

PAIR = {"instruction": "Q", "chosen": "good", "rejected": "bad"}


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_dataset_dir_registry_wins(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    write(root / "dataset_info.json", {"root_only": {"file_name": "a.json"}})
    monkeypatch.setattr(registry, "PROJECT_ROOT", root)
    own = tmp_path / "lf_data"
    own.mkdir()
    write(own / "dataset_info.json", {"mine": {"file_name": "m.json"}})
    assert registry_path(own) == own / "dataset_info.json"
    assert get_entry("mine", own).path == own / "m.json"
    bare = tmp_path / "bare"
    bare.mkdir()
    assert registry_path(bare) == root / "dataset_info.json"  # falls back to the project's
    assert get_entry("root_only", bare).path == bare / "a.json"  # files stay relative to the dir


def test_relative_dataset_dir_cwd_then_project_root(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    monkeypatch.setattr(registry, "PROJECT_ROOT", root)
    monkeypatch.chdir(tmp_path)
    assert registry.resolve_dir("data") == (root / "data").resolve()
    (tmp_path / "data").mkdir()
    assert registry.resolve_dir("data") == (tmp_path / "data").resolve()


def test_unknown_name_suggests_closest_first(tmp_path):
    write(tmp_path / "dataset_info.json", {n: {"file_name": "x.json"} for n in
                                           ("alpha", "dpo_en_demo", "dpo_zh_demo", "kto_demo")})
    with pytest.raises(UserError) as e:
        get_entry("dpo_en_dem", tmp_path)
    msg = str(e.value)
    assert "Did you mean dpo_en_demo?" in msg
    assert msg.index("dpo_en_demo") < msg.index("alpha")


def test_malformed_registry_names_line_and_column(tmp_path):
    (tmp_path / "dataset_info.json").write_text('{\n  "a": {"file_name": "x.json",}\n}')
    with pytest.raises(UserError, match=r"dataset_info.json: not valid JSON at line 2, column"):
        get_entry("a", tmp_path)


def test_invalid_entry(tmp_path):
    write(tmp_path / "dataset_info.json", {"a": {"file_name": "x.json", "formating": "alpaca"},
                                           "b": {"formatting": "csv"}})
    with pytest.raises(UserError, match="unknown key 'formating' .did you mean 'formatting'"):
        get_entry("a", tmp_path)
    with pytest.raises(UserError, match="needs file_name"):
        get_entry("b", tmp_path)


LF_TEXT = """{
  "alpaca_en_demo": {
    "file_name": "alpaca_en_demo.json"
  },
  "dpo_en_demo": {
    "file_name": "dpo_en_demo.json",
    "ranking": true,
    "formatting": "sharegpt",
    "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"}
  }
}
"""


def test_add_keeps_other_entries_byte_identical(tmp_path):
    path = tmp_path / "dataset_info.json"
    path.write_text(LF_TEXT)
    add_entry("mine", {"file_name": "m.json", "ranking": True}, tmp_path)
    text = path.read_text()
    assert text.startswith(LF_TEXT.rstrip()[:-1].rstrip())  # everything before the last brace
    data = json.loads(text)
    assert list(data) == ["alpaca_en_demo", "dpo_en_demo", "mine"]
    assert data["mine"] == {"file_name": "m.json", "ranking": True}
    assert [p.name for p in tmp_path.iterdir()] == ["dataset_info.json"]  # no temp file left


def test_add_refuses_existing_unless_force(tmp_path):
    path = tmp_path / "dataset_info.json"
    path.write_text(LF_TEXT)
    with pytest.raises(UserError, match="already in .*--force"):
        add_entry("dpo_en_demo", {"file_name": "other.json"}, tmp_path)
    assert path.read_text() == LF_TEXT
    add_entry("dpo_en_demo", {"file_name": "other.json"}, tmp_path, force=True)
    data = json.loads(path.read_text())
    assert list(data) == ["alpaca_en_demo", "dpo_en_demo"]
    assert data["dpo_en_demo"] == {"file_name": "other.json"}
    assert path.read_text().startswith(LF_TEXT.split('  "dpo_en_demo"')[0])


def test_add_never_writes_invalid(tmp_path):
    path = tmp_path / "dataset_info.json"
    path.write_text('{"a": {"file_name": "x.json"},}')  # malformed: left alone
    with pytest.raises(UserError, match="not valid JSON"):
        add_entry("b", {"file_name": "y.json"}, tmp_path)
    assert path.read_text() == '{"a": {"file_name": "x.json"},}'
    path.write_text("{}")
    with pytest.raises(UserError, match="formatting 'yaml'"):
        add_entry("b", {"file_name": "y.json", "formatting": "yaml"}, tmp_path)
    with pytest.raises(UserError, match="comma"):
        add_entry("a,b", {"file_name": "y.json"}, tmp_path)
    assert path.read_text() == "{}"


def test_add_to_new_registry(tmp_path):
    add_entry("x", {"file_name": "x.json"}, tmp_path)
    assert json.loads((tmp_path / "dataset_info.json").read_text()) == {"x": {"file_name": "x.json"}}


# --- loading -----------------------------------------------------------------------------

def _register(tmp_path, file_name, **extra):
    write(tmp_path / "dataset_info.json", {"ds": {"file_name": file_name, "ranking": True, **extra}})


def test_json_list_and_json_lines(tmp_path):
    write(tmp_path / "a.json", [PAIR, PAIR])
    _register(tmp_path, "a.json")
    assert len(load_rows("ds", tmp_path, "dpo").rows) == 2
    (tmp_path / "a.json").write_text("\n".join(json.dumps(PAIR) for _ in range(3)) + "\n")
    assert len(load_rows("ds", tmp_path, "dpo").rows) == 3  # JSON lines in a .json file
    (tmp_path / "b.jsonl").write_text(json.dumps(PAIR) + "\n\n" + json.dumps(PAIR) + "\n")
    _register(tmp_path, "b.jsonl")
    assert load_rows("ds", tmp_path, "dpo").indices == [0, 1]


def test_parquet_and_csv(tmp_path):
    import pandas as pd
    frame = pd.DataFrame([PAIR, {"instruction": "7", "chosen": "42", "rejected": ""}])
    frame.to_parquet(tmp_path / "p.parquet")
    frame.to_csv(tmp_path / "c.csv", index=False)
    for name in ("p.parquet", "c.csv"):
        _register(tmp_path, name)
        ds = load_rows("ds", tmp_path, "dpo")
        assert len(ds.rows) == 1 and ds.rows[0]["chosen"][0]["content"] == "good"
        assert [(p.index, p.field, p.reason) for p in ds.problems] == [(1, "rejected", "empty text")]
    assert list_datasets(tmp_path)[0].records == 2  # parquet: from the metadata


def test_folder_reads_every_data_file(tmp_path):
    (tmp_path / "parts").mkdir()
    write(tmp_path / "parts" / "1.json", [PAIR])
    write(tmp_path / "parts" / "2.json", [PAIR, {"instruction": "Q"}])
    _register(tmp_path, "parts")
    ds = load_rows("ds", tmp_path, "dpo")
    assert len(ds.rows) == 2
    assert ds.problems[0].file.endswith("2.json") and ds.problems[0].index == 1


def test_missing_file_names_dataset_and_path(tmp_path):
    _register(tmp_path, "nope.json")
    with pytest.raises(UserError, match=f"dataset 'ds': file not found: {tmp_path / 'nope.json'}"):
        load_rows("ds", tmp_path, "dpo")


def test_bad_json_lines_named(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps(PAIR) + "\n{oops\n")
    _register(tmp_path, "a.jsonl")
    with pytest.raises(UserError, match="a.jsonl: line 2 is not valid JSON"):
        load_rows("ds", tmp_path, "dpo")


def test_max_samples_and_num_samples(tmp_path):
    write(tmp_path / "a.json", [dict(PAIR, instruction=f"Q{i}") for i in range(10)])
    _register(tmp_path, "a.json")
    assert load_rows("ds", tmp_path, "dpo", max_samples=3).indices == [0, 1, 2]
    _register(tmp_path, "a.json", num_samples=4)
    first = load_rows("ds", tmp_path, "dpo").indices
    assert len(first) == 4 and first == load_rows("ds", tmp_path, "dpo").indices


def test_hub_offline_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    write(tmp_path / "dataset_info.json", {"uf": {"hf_hub_url": "someone/not-cached-set",
                                                  "ranking": True}})
    with pytest.raises(UserError) as e:
        load_rows("uf", tmp_path, "dpo")
    msg = str(e.value)
    assert "dataset 'uf'" in msg and "someone/not-cached-set" in msg
    assert "download it" in msg and "data add uf --file" in msg


def test_list_datasets_stages_and_broken_entries(tmp_path):
    write(tmp_path / "pairs.json", [PAIR])
    write(tmp_path / "sft.json", [{"instruction": "Q", "output": "A"}])
    write(tmp_path / "prompts.json", [{"instruction": "Q", "answer": "4"}])
    write(tmp_path / "kto.json", [{"instruction": "Q", "output": "A", "label": True}])
    write(tmp_path / "dataset_info.json", {
        "pairs": {"file_name": "pairs.json", "ranking": True},
        "sft": {"file_name": "sft.json"},
        "prompts": {"file_name": "prompts.json"},
        "kto": {"file_name": "kto.json", "columns": {"kto_tag": "label"}},
        "gone": {"file_name": "gone.json"}})
    infos = {i.name: i for i in list_datasets(tmp_path)}
    assert infos["pairs"].stages == ["dpo", "rm", "kto"] and infos["pairs"].records == 1
    assert infos["sft"].stages == ["sft", "grpo"]
    assert infos["prompts"].stages == ["grpo"]
    assert infos["kto"].stages == ["kto"]
    assert infos["gone"].error and "file not found" in infos["gone"].error
    assert os.path.basename(infos["pairs"].file) == "pairs.json"


def test_failed_write_leaves_registry_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "dataset_info.json"
    path.write_text(LF_TEXT)

    def boom(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        add_entry("mine", {"file_name": "m.json"}, tmp_path)
    assert path.read_text() == LF_TEXT
    assert [p.name for p in tmp_path.iterdir()] == ["dataset_info.json"]


def test_llamafactory_extra_keys_accepted(tmp_path):
    write(tmp_path / "a.json", [{"instruction": "Q", "output": "A"}])
    write(tmp_path / "dataset_info.json", {
        "a": {"file_name": "a.json", "file_sha1": "x", "columns": {"images": "images"}},
        "ms": {"ms_hub_url": "someone/x"}})
    # Was: images ignored with a warning, ms_hub_url refused by get_entry. Now both are listed
    # and refused when used (the issue "LLaMA-Factory configs and data run unchanged").
    ds = load_rows("a", tmp_path, "sft")
    assert ds.rows == [] and "text only" in ds.errors[0].reason and ds.errors[0].index is None
    assert ds.bad_records() == 1
    assert get_entry("ms", tmp_path).load_from == "ms_hub"
    with pytest.raises(UserError, match="ms_hub_url is not supported"):
        load_rows("ms", tmp_path, "sft")


# --- LLaMA-Factory's whole schema: sources, split, subset, num_samples ----------------------

def test_sources_are_listed_and_refused_when_used(tmp_path, monkeypatch):
    write(tmp_path / "dataset_info.json", {
        "both": {"hf_hub_url": "org/x", "ms_hub_url": "org/x", "ranking": True},
        "ms": {"ms_hub_url": "org/ms"}, "om": {"om_hub_url": "org/om"},
        "script": {"script_url": "belle_multiturn", "formatting": "sharegpt"},
        "cloud": {"cloud_file_name": "s3://bucket/d.json"}})
    assert get_entry("both", tmp_path).load_from == "hf_hub"  # LLaMA-Factory's preference
    monkeypatch.setenv("USE_MODELSCOPE_HUB", "1")
    assert get_entry("both", tmp_path).load_from == "ms_hub"
    monkeypatch.delenv("USE_MODELSCOPE_HUB")
    infos = {i.name: i for i in list_datasets(tmp_path)}
    assert all(i.error is None for i in infos.values())  # listing never fails
    assert infos["ms"].file == "ms://org/ms" and infos["cloud"].file == "s3://bucket/d.json"
    for name, says in (("ms", "ms_hub_url is not supported (org/ms"), ("om", "om_hub_url"),
                       ("script", "no longer runs loading scripts"),
                       ("cloud", "cloud storage (s3://, gs://)")):
        with pytest.raises(UserError, match=rf"dataset '{name}': .*{re.escape(says)}"):
            load_rows(name, tmp_path, "sft")


def test_split_of_a_local_file(tmp_path):
    write(tmp_path / "a.json", [dict(PAIR, instruction=f"Q{i}") for i in range(10)])
    _register(tmp_path, "a.json", split="train[:3]")
    assert load_rows("ds", tmp_path, "dpo").indices == [0, 1, 2]
    assert list_datasets(tmp_path)[0].records == 3
    _register(tmp_path, "a.json", split="train[50%:]+train[:1]")
    assert load_rows("ds", tmp_path, "dpo").indices == [5, 6, 7, 8, 9, 0]
    _register(tmp_path, "a.json", split="test")
    with pytest.raises(UserError, match=r"split 'test'.*one split, 'train'"):
        load_rows("ds", tmp_path, "dpo")


def test_subset_and_folder_on_a_local_file_are_noted(tmp_path):
    write(tmp_path / "a.json", [PAIR])
    _register(tmp_path, "a.json", subset="en", folder="x")
    ds = load_rows("ds", tmp_path, "dpo")
    assert len(ds.rows) == 1 and [w.field for w in ds.warnings] == ["subset", "folder"]
    assert "only applies to hub datasets" in ds.warnings[0].reason


def test_num_samples_draws_as_llamafactory(tmp_path):
    """numpy's legacy generator with the seed: a permutation cut to num_samples, then draws
    with repetition beyond the records there are."""
    import numpy as np

    write(tmp_path / "a.json", [dict(PAIR, instruction=f"Q{i}") for i in range(10)])
    _register(tmp_path, "a.json", num_samples=4)
    assert load_rows("ds", tmp_path, "dpo", rng=np.random.RandomState(7)).indices == \
        list(np.random.RandomState(7).permutation(10)[:4])
    _register(tmp_path, "a.json", num_samples=13)
    rng = np.random.RandomState(42)
    expected = list(rng.permutation(10)) + list(rng.choice(10, 3))
    indices = load_rows("ds", tmp_path, "dpo").indices  # seed 42 unless told
    assert indices == expected and len(set(indices)) == 10
    _register(tmp_path, "a.json", num_samples=10)  # every record, in a new order
    assert sorted(load_rows("ds", tmp_path, "dpo").indices) == list(range(10))
