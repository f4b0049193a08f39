"""alpaca / sharegpt / openai records -> canonical rows, and every kind of problem."""
import json
from pathlib import Path

import pytest

from core.data import load_rows
from core.errors import UserError


def make(tmp_path: Path, records, entry: dict, name: str = "ds", file: str = "ds.json") -> Path:
    (tmp_path / file).write_text(json.dumps(records), encoding="utf-8")
    registry = tmp_path / "dataset_info.json"
    old = json.loads(registry.read_text()) if registry.exists() else {}
    old[name] = {"file_name": file, **entry}
    registry.write_text(json.dumps(old), encoding="utf-8")
    return tmp_path


def msg(role, content):
    return {"role": role, "content": content}


# --- alpaca ------------------------------------------------------------------------------

def test_alpaca_history_system_and_input(tmp_path):
    rec = {"instruction": "Translate", "input": "chat", "output": "cat", "sys": "Be brief.",
           "hist": [["hi", "hello"]]}
    make(tmp_path, [rec], {"columns": {"system": "sys", "history": "hist"}})
    ds = load_rows("ds", tmp_path, "sft")
    assert ds.problems == []
    assert ds.rows == [{"messages": [msg("system", "Be brief."), msg("user", "hi"),
                                     msg("assistant", "hello"), msg("user", "Translate\nchat"),
                                     msg("assistant", "cat")]}]


def test_alpaca_ranking_columns(tmp_path):
    rec = {"instruction": "Q", "input": "", "chosen": "good", "rejected": "bad"}
    make(tmp_path, [rec], {"ranking": True, "columns": {"prompt": "instruction", "query": "input",
                                                          "chosen": "chosen", "rejected": "rejected"}})
    ds = load_rows("ds", tmp_path, "dpo")
    assert ds.rows == [{"prompt": [msg("user", "Q")], "chosen": [msg("assistant", "good")],
                        "rejected": [msg("assistant", "bad")]}]


def test_alpaca_ranking_older_output_list(tmp_path):
    make(tmp_path, [{"instruction": "Q", "input": "x", "output": ["good", "bad"]}], {"ranking": True})
    row = load_rows("ds", tmp_path, "rm").rows[0]
    assert row["prompt"] == [msg("user", "Q\nx")]
    assert row["chosen"][0]["content"] == "good" and row["rejected"][0]["content"] == "bad"


def test_kto_from_pairs_gives_two_rows(tmp_path):
    make(tmp_path, [{"instruction": "Q", "chosen": "good", "rejected": "bad"}], {"ranking": True})
    ds = load_rows("ds", tmp_path, "kto")
    assert [(r["completion"][0]["content"], r["label"]) for r in ds.rows] == [("good", True),
                                                                           ("bad", False)]
    assert ds.indices == [0, 0]


def test_kto_tag_and_sft_leaves_out_undesirable(tmp_path):
    recs = [{"instruction": "Q", "output": "A", "ok": True},
            {"instruction": "Q", "output": "B", "ok": False}]
    make(tmp_path, recs, {"columns": {"kto_tag": "ok"}})
    ds = load_rows("ds", tmp_path, "kto")
    assert [r["label"] for r in ds.rows] == [True, False]
    sft = load_rows("ds", tmp_path, "sft")
    assert len(sft.rows) == 1
    assert any("kto_tag false are left out" in str(p) for p in sft.warnings)


def test_grpo_keeps_extra_columns(tmp_path):
    make(tmp_path, [{"instruction": "2+2?", "answer": "4", "level": 1}], {})
    ds = load_rows("ds", tmp_path, "grpo")
    assert ds.rows == [{"answer": "4", "level": 1, "prompt": [msg("user", "2+2?")]}]


# --- sharegpt / openai ---------------------------------------------------------------------

TAGS = {"role_tag": "speaker", "content_tag": "text", "user_tag": "me", "assistant_tag": "bot",
        "system_tag": "sys"}


def test_sharegpt_custom_tags_system_multiturn(tmp_path):
    turns = [{"speaker": "sys", "text": "S"}, {"speaker": "me", "text": "a"},
             {"speaker": "bot", "text": "b"}, {"speaker": "me", "text": "c"},
             {"speaker": "bot", "text": "d"}]
    make(tmp_path, [{"dialog": turns}],
         {"formatting": "sharegpt", "columns": {"messages": "dialog"}, "tags": TAGS})
    ds = load_rows("ds", tmp_path, "sft")
    assert ds.rows[0]["messages"] == [msg("system", "S"), msg("user", "a"), msg("assistant", "b"),
                                      msg("user", "c"), msg("assistant", "d")]


def test_sharegpt_system_column_and_observation(tmp_path):
    # A function_call turn must be a call (LLaMA-Factory fails on "{}"); it was "{}" before
    # tool calls were rendered in Qwen's format.
    turns = [{"from": "human", "value": "weather?"},
             {"from": "function_call", "value": '{"name": "weather", "arguments": {}}'},
             {"from": "observation", "value": "sunny"}, {"from": "gpt", "value": "Sunny."}]
    make(tmp_path, [{"conversations": turns, "system": "S"}],
         {"formatting": "sharegpt", "columns": {"system": "system"}})
    rows = load_rows("ds", tmp_path, "sft").rows
    assert [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant", "tool",
                                                        "assistant"]


def test_sharegpt_ranking(tmp_path):
    rec = {"conversations": [{"from": "human", "value": "Q"}],
           "chosen": {"from": "gpt", "value": "good"}, "rejected": "bad as text"}
    make(tmp_path, [rec], {"formatting": "sharegpt", "ranking": True})
    row = load_rows("ds", tmp_path, "dpo").rows[0]
    assert row == {"prompt": [msg("user", "Q")], "chosen": [msg("assistant", "good")],
                   "rejected": [msg("assistant", "bad as text")]}


def test_openai_messages_and_ranking(tmp_path):
    sft = {"messages": [msg("system", "S"), msg("user", "hi"), msg("assistant", "yo")]}
    make(tmp_path, [sft], {"formatting": "openai"})
    assert load_rows("ds", tmp_path, "sft").rows[0]["messages"][0] == msg("system", "S")
    pair = {"messages": [msg("user", "Q")], "chosen": [msg("assistant", "A")],
            "rejected": msg("assistant", "B")}
    make(tmp_path, [pair], {"formatting": "openai", "ranking": True}, name="p", file="p.json")
    row = load_rows("p", tmp_path, "dpo").rows[0]
    assert row["chosen"] == [msg("assistant", "A")] and row["rejected"] == [msg("assistant", "B")]


def test_openai_tool_calls_and_merged_tool_results(tmp_path):
    turns = [msg("user", "w?"),
             {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f"}}]},
             msg("tool", "r1"), msg("tool", "r2"), msg("assistant", "done")]
    make(tmp_path, [{"messages": turns}], {"formatting": "openai"})
    messages = load_rows("ds", tmp_path, "sft").rows[0]["messages"]
    # Was the raw JSON '[{"name": "f"}]'; now rendered in Qwen's tool-call format (tools.py).
    assert messages[1] == msg("assistant", '<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>')
    assert messages[2]["role"] == "tool" and "r1" in messages[2]["content"] and "r2" in messages[2]["content"]


# --- problems ------------------------------------------------------------------------------

def _only(ds):
    assert len(ds.problems) == 1, ds.problems
    return ds.problems[0]


def test_missing_column_lists_available(tmp_path):
    recs = [{"instruction": "Q", "chosen": "a", "rejected": "b"}, {"question": "Q", "chosen": "a"}]
    make(tmp_path, recs, {"ranking": True})
    ds = load_rows("ds", tmp_path, "dpo")
    p = _only(ds)
    assert (Path(p.file).name, p.index, p.field) == ("ds.json", 1, "instruction")
    assert "missing" in p.reason and "question, chosen" in p.reason
    assert str(p) == f"{tmp_path / 'ds.json'}:1 instruction: {p.reason}"
    assert len(ds.rows) == 1 and ds.bad_records() == 1


def test_mismapped_column_everywhere_is_one_error(tmp_path):
    recs = [{"q": "Q", "good": "a", "bad": "b"}] * 5
    make(tmp_path, recs, {"ranking": True})
    p = _only(load_rows("ds", tmp_path, "dpo"))
    assert p.index is None and "in all 5 records" in p.reason and "q, good, bad" in p.reason


@pytest.mark.parametrize("value, reason", [("", "empty text"), ("  ", "empty text"),
                                           (None, "empty (null)"), (3, "expected text, got int")])
def test_empty_or_non_text(tmp_path, value, reason):
    recs = [{"instruction": "Q", "chosen": "a", "rejected": "b"},
            {"instruction": "Q", "chosen": value, "rejected": "b"}]
    make(tmp_path, recs, {"ranking": True})
    p = _only(load_rows("ds", tmp_path, "dpo"))
    assert (p.index, p.field, p.severity) == (1, "chosen", "error") and reason in p.reason


def test_identical_chosen_rejected_is_a_warning(tmp_path):
    make(tmp_path, [{"instruction": "Q", "chosen": "same", "rejected": "same"}], {"ranking": True})
    ds = load_rows("ds", tmp_path, "dpo")
    p = _only(ds)
    assert p.severity == "warning" and "identical" in p.reason and len(ds.rows) == 1


def test_wrong_role_order(tmp_path):
    good = [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]
    bad = [{"from": "human", "value": "a"}, {"from": "human", "value": "b"},
           {"from": "gpt", "value": "c"}]
    make(tmp_path, [{"conversations": good}, {"conversations": bad}], {"formatting": "sharegpt"})
    p = _only(load_rows("ds", tmp_path, "sft"))
    assert (p.index, p.field) == (1, "conversations[1]") and "wrong role order" in p.reason


def test_ranking_prompt_must_end_with_user(tmp_path):
    rec = {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}],
           "chosen": {"from": "gpt", "value": "x"}, "rejected": {"from": "gpt", "value": "y"}}
    ok = {"conversations": [{"from": "human", "value": "a"}], "chosen": "x", "rejected": "y"}
    make(tmp_path, [ok, rec], {"formatting": "sharegpt", "ranking": True})
    p = _only(load_rows("ds", tmp_path, "dpo"))
    assert p.index == 1 and "end with a user turn" in p.reason


def test_wrong_tags_named(tmp_path):
    recs = [{"conversations": [msg("user", "a"), msg("assistant", "b")]}] * 3
    make(tmp_path, recs, {"formatting": "sharegpt"})
    p = _only(load_rows("ds", tmp_path, "sft"))
    assert p.index is None and "no 'from' key" in p.reason and "tags.role_tag" in p.reason


def test_non_ranking_data_for_dpo_is_one_error(tmp_path):
    make(tmp_path, [{"instruction": "Q", "output": "A"}] * 300, {})
    ds = load_rows("ds", tmp_path, "dpo")
    p = _only(ds)
    assert p.index is None and p.field == "ranking" and "stage dpo needs ranking data" in p.reason
    assert ds.rows == [] and ds.bad_records() == 300


def test_record_not_an_object(tmp_path):
    make(tmp_path, [["Q", "A"], {"instruction": "Q", "output": "A"}], {})
    p = _only(load_rows("ds", tmp_path, "sft"))
    assert (p.index, p.field) == (0, "record")


def test_unknown_stage(tmp_path):
    make(tmp_path, [{"instruction": "Q", "output": "A"}], {})
    with pytest.raises(UserError, match="unknown stage 'ppo'"):
        load_rows("ds", tmp_path, "ppo")


# --- tool calls (LLaMA-Factory's glaive_toolcall layout), in Qwen's format -------------------

TOOLS = [{"name": "get_weather", "description": "Weather of a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]


def toolcall_record(call='{"name": "get_weather", "arguments": {"city": "Paris"}}'):
    return {"conversations": [
        {"from": "human", "value": "Weather in Paris?"},
        {"from": "function_call", "value": call},
        {"from": "observation", "value": '{"temp": 21}'},
        {"from": "gpt", "value": "It is 21 degrees."}], "tools": json.dumps(TOOLS)}


def test_sharegpt_tool_calls_render_in_qwen_format_for_sft(tmp_path):
    from core.data.templates import get_template
    from core.data.tokenize import conversation_turns

    make(tmp_path, [toolcall_record(), toolcall_record("not json")],
         {"formatting": "sharegpt", "columns": {"messages": "conversations", "tools": "tools"}})
    ds = load_rows("ds", tmp_path, "sft")
    (row,) = ds.rows
    system, user, call, result, answer = row["messages"]
    assert system["role"] == "system" and system["content"].startswith("# Tools\n\nYou may call")
    assert '<tools>\n{"type": "function", "function": {"name": "get_weather"' in system["content"]
    assert call == msg("assistant", '<tool_call>\n{"name": "get_weather", "arguments": '
                                    '{"city": "Paris"}}\n</tool_call>')
    assert result == msg("tool", '{"temp": 21}') and answer["content"] == "It is 21 degrees."
    (p,) = ds.errors  # a call that is not JSON: that record, with the reason
    assert (p.index, p.field) == (1, "conversations[1]") and "not valid JSON" in p.reason

    class Chars:  # one token per character: enough to render and split the turns
        chat_template = None
        eos_token = "<|im_end|>"

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [ord(c) for c in text]}

    text = "".join(chr(i) for source, target in conversation_turns(get_template("qwen", Chars()),
                                                                     row["messages"])
                   for i in source + target)
    assert "<|im_start|>user\n<tool_response>\n{\"temp\": 21}\n</tool_response><|im_end|>" in text
    assert "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\"" in text


def test_tool_calls_in_ranking_data_and_system_column(tmp_path):
    rec = {"conversations": [{"from": "human", "value": "Weather in Paris?"}],
           "chosen": {"from": "function_call",
                      "value": '[{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}]'},
           "rejected": {"from": "gpt", "value": "No idea."}, "system": "Be brief.",
           "tools": TOOLS}
    make(tmp_path, [rec], {"formatting": "sharegpt", "ranking": True,
                           "columns": {"messages": "conversations", "chosen": "chosen",
                                       "rejected": "rejected", "system": "system",
                                       "tools": "tools"}})
    row = load_rows("ds", tmp_path, "dpo").rows[0]
    assert row["prompt"][0]["content"].startswith("Be brief.\n\n# Tools\n\n")
    # string arguments holding JSON become an object, as Qwen's own template shows them
    assert row["chosen"] == [msg("assistant", '<tool_call>\n{"name": "get_weather", "arguments": '
                                              '{"city": "Paris"}}\n</tool_call>')]


def test_bad_tools_column_names_the_record(tmp_path):
    rec = dict(toolcall_record(), tools='{"name": "f"}')
    make(tmp_path, [rec], {"formatting": "sharegpt",
                           "columns": {"messages": "conversations", "tools": "tools"}})
    (p,) = load_rows("ds", tmp_path, "sft").errors
    assert (p.index, p.field) == (0, "tools") and "JSON list of function definitions" in p.reason
