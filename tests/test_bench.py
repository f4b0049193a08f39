"""The pairwise benchmark's bookkeeping (no timing is asserted; the benchmark itself is
`python -m core bench dpo`, see docs/benchmarks.md): which pairs the workload keeps, the
variants, the loss-curve comparison, the speed-ups and the table."""
import argparse

from core.bench import dpo
from core.bench.workload import _fitting


def record(turns: int, words: int, system: bool = False) -> dict:
    conv = [{"from": "system", "value": "Be kind."}] if system else []
    for i in range(turns):
        conv += [{"from": "human", "value": f"question {i}"}, {"from": "gpt", "value": "answer"}]
    conv = conv[:-1]  # ends with the user's turn
    return {"conversations": conv, "chosen": {"from": "gpt", "value": "yes " * words},
            "rejected": {"from": "gpt", "value": "no"}}


def test_workload_keeps_multi_message_pairs_that_fit(tokenizer):
    records = [record(1, 5), record(2, 500), record(1, 5, system=True), record(3, 5),
               record(2, 5)]
    chosen, tokens = _fitting(records, tokenizer, dict(pairs=3, cutoff_len=128, multi_turn=True))
    # earlier turns first, then a system turn; single-message prompts and overlong pairs never
    assert chosen == [records[3], records[4], records[2]] and tokens > 0


def test_variants_compare_and_table():
    args = argparse.Namespace(llamafactory_cli="lf", only=None)
    assert dpo.variants(args) == ["ours", "ours-no-prefix_sharing", "ours-no-packing",
                                  "ours-no-chunked_logps", "ours-plain", "trl", "llamafactory"]
    assert dpo.variants(argparse.Namespace(llamafactory_cli=None, only="ours,trl")) == ["ours", "trl"]
    assert dpo.variants(argparse.Namespace(what="kto", llamafactory_cli="lf", only=None)) == [
        "ours", "ours-no-chunked_logps"]
    results = [
        {"variant": "ours", "wall_s": 10.0, "exit_code": 0, "losses": [0.6931, 0.69, 0.68]},
        {"variant": "ours-plain", "wall_s": 40.0, "exit_code": 0, "losses": [0.6931, 0.69, 0.6802]},
        {"variant": "trl", "wall_s": 50.0, "exit_code": 0, "losses": [0.6931]},
        {"variant": "llamafactory", "wall_s": 30.0, "exit_code": 1},
    ]
    dpo._compare(results)
    ours = results[0]
    assert abs(ours["curve_diff"] - 2e-4) < 1e-9 and ours["x_trl"] == 5.0
    assert "x_llamafactory" not in ours  # a failed run gives no ratio
    text = dpo.table(results)
    assert text.splitlines()[0].startswith("| variant | wall s |")
    assert "| ours | 10.0 |" in text and "failed" in text.splitlines()[-1]
