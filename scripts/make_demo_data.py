"""Write the bundled demo datasets in data/ and their registry dataset_info.json.

Run from anywhere (standard library only, deterministic: a second run rewrites the same bytes):

    python scripts/make_demo_data.py

The facts come from scripts/demo_facts.py (capitals, animal sounds and food, colours, opposites,
plurals, what objects are for, days/months, counts, small arithmetic, a little chit-chat).
Every preference pair states the same fact twice, in two styles a person tells apart at once:

  chosen    friendly: an opener from OPENERS, the fact as a full sentence, then CLOSER
            "Great question! The capital of France is Paris. Hope this helps! :)"
  rejected  curt: the bare answer, "Paris." (sometimes lower-case, no full stop: "paris")

Files (data/<name>.json; registry keys are the names; dataset_info.json sits at the repo root):

  demo_pref_en         alpaca ranking, English, 300 pairs (about 10% put the question in `input`)
  demo_pref_en_test    alpaca ranking, 60 held-out pairs: their facts (countries, animals,
                       sums...) and so their instructions never occur in demo_pref_en
  demo_pref_zh         alpaca ranking, Chinese, 120 pairs ("好问题！...希望对你有帮助！😊" vs "巴黎。")
  demo_pref_sharegpt   sharegpt ranking (from/value), single-turn, 150 pairs
  demo_pref_multiturn  sharegpt ranking with role/content tags, 2-3 user turns, some records
                       with a `system` key, 100 pairs
  demo_sft             sharegpt SFT, 2000 conversations: ~90% curt, ~10% friendly (one style per
                       conversation), some multi-turn, some with a system turn first; it never
                       contains an instruction of demo_pref_en_test. The demo model learns from
                       it: it knows both styles but answers curtly, so DPO has a clear effect
  demo_kto             sharegpt with kto_tag `label`: 200 records, 120 true (friendly answer)
                       and 80 false (curt answer)
  demo_prompts         prompt-only set for GRPO: {"instruction", "answer"}, 200 records,
                       120 arithmetic and 80 one-word facts; `answer` is for an answer-match reward
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_facts import QA, chinese_qa, english_qa  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"

OPENERS = ("Great question!", "Good question!", "Happy to help!")  # questions: any of them
OPENER_TASK = "Happy to help!"       # instructions that are not questions ("Add 3 and 4.")
CLOSER = "Hope this helps! :)"
OPENERS_ZH = ("好问题！", "很高兴为你解答！")
OPENER_TASK_ZH = "很高兴为你解答！"
CLOSER_ZH = "希望对你有帮助！😊"
SYSTEMS = ("You are a helpful assistant.", "You are a small demo assistant.",
           "Answer the user's questions.")
INPUT_INSTRUCTIONS = ("Answer the question below.", "Please answer this question.",
                      "Reply to the following question.")
# The base model's habit: at 35% it greeted on about half the held-out prompts under greedy
# decoding (the curt answers' first tokens spread over many words, the openers' on three).
# At 10% it answers curtly; 2000 conversations (not 800) let the friendly ones state enough
# facts that the DPO-tuned model still knows some (13 of 60 held-out, 5 with 800).
FRIENDLY_SHARE_SFT = 0.1
SFT_CONVERSATIONS = 2000
TEST_SHARE = 0.2                     # share of each topic's facts held out for the test set
KEEP_IN_TRAIN = ("chat:hello", "chat:who")  # what people type first in the chat UI: never held out

WEIGHTS_EN = {"capital": 3, "sound": 2, "food": 2, "colour": 2, "opposite": 2, "plural": 2,
              "use": 2, "day_after": 1, "day_before": 1, "month_after": 1, "month_before": 1,
              "count": 1, "add": 2, "sub": 1, "mul": 1, "chat": 2}
WEIGHTS_ZH = {"capital": 3, "sound": 1, "food": 1, "colour": 1, "opposite": 2, "day_after": 1,
              "day_before": 1, "count": 1, "add": 2, "sub": 1, "mul": 1, "chat": 1}
ONE_WORD_TOPICS = ("capital", "opposite", "plural", "colour", "sound", "day_after",
                   "day_before", "month_after", "month_before", "count")


# ---------------------------------------------------------------- the two styles
def friendly(question: str, fact: str, rng: random.Random) -> str:
    opener = rng.choice(OPENERS) if question.endswith("?") else OPENER_TASK
    return f"{opener} {fact} {CLOSER}"


def curt(short: str, rng: random.Random) -> str:
    if len(short.split()) <= 2 and rng.random() < 0.25:
        return short.lower()
    return short + "."


def friendly_zh(question: str, fact: str, rng: random.Random) -> str:
    opener = rng.choice(OPENERS_ZH) if question.endswith("？") else OPENER_TASK_ZH
    return f"{opener}{fact}{CLOSER_ZH}"


def curt_zh(short: str, rng: random.Random) -> str:
    return short if rng.random() < 0.25 else short + "。"


def answer(qa: QA, question: str, nice: bool, rng: random.Random) -> str:
    return friendly(question, qa.fact, rng) if nice else curt(qa.short, rng)


# ---------------------------------------------------------------- drawing questions
class Pool:
    """QA items grouped by topic; draws a topic by weight, then a fact."""

    def __init__(self, items: list[QA], weights: dict[str, int]):
        self.by_topic: dict[str, list[QA]] = {}
        for qa in items:
            self.by_topic.setdefault(qa.topic, []).append(qa)
        self.topics = [t for t in weights if t in self.by_topic]
        self.weights = [weights[t] for t in self.topics]

    def draw(self, rng: random.Random) -> QA:
        return rng.choice(self.by_topic[rng.choices(self.topics, self.weights)[0]])

    def turns(self, rng: random.Random, n: int) -> list[tuple[str, QA]]:
        """n user questions for one chat; later ones are often follow-ups on the same topic."""
        qa = self.draw(rng)
        out = [(rng.choice(qa.questions), qa)]
        while len(out) < n:
            prev = out[-1][1]
            others = [x for x in self.by_topic[prev.topic] if x.key != prev.key and x.follow]
            if prev.follow and others and rng.random() < 0.5:
                qa = rng.choice(others)
                out.append((rng.choice(qa.follow), qa))
            else:
                qa = self.draw(rng)
                out.append((rng.choice(qa.questions), qa))
        return out


def split_heldout(items: list[QA], rng: random.Random) -> tuple[list[QA], list[QA]]:
    """Hold out TEST_SHARE of each topic's facts (at least one) for the test set."""
    test_keys: set[str] = set()
    topics = list(dict.fromkeys(qa.topic for qa in items))
    for topic in topics:
        keys = [qa.key for qa in items if qa.topic == topic and qa.key not in KEEP_IN_TRAIN]
        rng.shuffle(keys)
        test_keys.update(keys[:max(1, round(TEST_SHARE * len(keys)))])
    return ([qa for qa in items if qa.key not in test_keys],
            [qa for qa in items if qa.key in test_keys])


def unique(n: int, make, rng: random.Random) -> list[dict]:
    """n records from make(rng) -> (record, key) or None, no key twice."""
    out, seen = [], set()
    for _ in range(n * 500):
        got = make(rng)
        if got is None or got[1] in seen:
            continue
        seen.add(got[1])
        out.append(got[0])
        if len(out) == n:
            return out
    raise RuntimeError(f"could only make {len(out)} of {n} distinct records")


# ---------------------------------------------------------------- dataset builders
def pref_alpaca(pool: Pool, n: int, seed: int, with_input: bool) -> list[dict]:
    def make(rng):
        qa = pool.draw(rng)
        q = rng.choice(qa.questions)
        instruction, inp = q, ""
        if with_input and rng.random() < 0.1:
            instruction, inp = rng.choice(INPUT_INSTRUCTIONS), q
        rec = {"instruction": instruction, "input": inp,
               "chosen": friendly(q, qa.fact, rng), "rejected": curt(qa.short, rng)}
        return rec, (instruction, inp)
    return unique(n, make, random.Random(seed))


def pref_zh(pool: Pool, n: int, seed: int) -> list[dict]:
    def make(rng):
        qa = pool.draw(rng)
        q = rng.choice(qa.questions)
        rec = {"instruction": q, "input": "",
               "chosen": friendly_zh(q, qa.fact, rng), "rejected": curt_zh(qa.short, rng)}
        return rec, q
    return unique(n, make, random.Random(seed))


def pref_sharegpt(pool: Pool, n: int, seed: int) -> list[dict]:
    def make(rng):
        qa = pool.draw(rng)
        q = rng.choice(qa.questions)
        rec = {"conversations": [{"from": "human", "value": q}],
               "chosen": {"from": "gpt", "value": friendly(q, qa.fact, rng)},
               "rejected": {"from": "gpt", "value": curt(qa.short, rng)}}
        return rec, q
    return unique(n, make, random.Random(seed))


def pref_multiturn(pool: Pool, n: int, seed: int) -> list[dict]:
    def make(rng):
        turns = pool.turns(rng, rng.choice((2, 2, 3)))
        history_nice = rng.random() < 0.5          # style of the earlier assistant turns
        messages = []
        for q, qa in turns[:-1]:
            messages += [{"role": "user", "content": q},
                         {"role": "assistant", "content": answer(qa, q, history_nice, rng)}]
        q, qa = turns[-1]
        messages.append({"role": "user", "content": q})
        rec = {"system": rng.choice(SYSTEMS)} if rng.random() < 0.4 else {}
        rec.update(messages=messages,
                   chosen={"role": "assistant", "content": friendly(q, qa.fact, rng)},
                   rejected={"role": "assistant", "content": curt(qa.short, rng)})
        return rec, tuple(t[0] for t in turns)
    records = unique(n, make, random.Random(seed))
    # Some JSON readers take the columns from the first record: make it one with a system.
    first = next(i for i, r in enumerate(records) if "system" in r)
    records[0], records[first] = records[first], records[0]
    return records


def sft(pool: Pool, n: int, seed: int, banned: set[str]) -> list[dict]:
    def make(rng):
        nice = rng.random() < FRIENDLY_SHARE_SFT
        turns = pool.turns(rng, rng.choices((1, 2, 3), (70, 20, 10))[0])
        if any(q in banned for q, _ in turns):
            return None
        conv = [{"from": "system", "value": rng.choice(SYSTEMS)}] if rng.random() < 0.2 else []
        for q, qa in turns:
            conv += [{"from": "human", "value": q},
                     {"from": "gpt", "value": answer(qa, q, nice, rng)}]
        return {"conversations": conv}, (nice, tuple(t[0] for t in turns))
    return unique(n, make, random.Random(seed))


def kto(pool: Pool, n_true: int, n_false: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    labels = [True] * n_true + [False] * n_false
    rng.shuffle(labels)
    out, seen = [], set()
    for label in labels:
        while True:
            turns = pool.turns(rng, 2 if rng.random() < 0.2 else 1)
            key = tuple(t[0] for t in turns)
            if key not in seen:
                break
        seen.add(key)
        messages = []
        for q, qa in turns:
            messages += [{"role": "user", "content": q},
                         {"role": "assistant", "content": answer(qa, q, label, rng)}]
        out.append({"messages": messages, "label": label})
    return out


def prompts(items: list[QA], n_math: int, n_fact: int, seed: int) -> list[dict]:
    math = [qa for qa in items if qa.topic in ("add", "sub", "mul")]
    facts = [qa for qa in items if qa.topic in ONE_WORD_TOPICS and " " not in qa.short]

    def maker(group, lower):
        def make(rng):
            qa = rng.choice(group)
            q = rng.choice(qa.questions)
            keep = qa.topic == "capital" or qa.topic.startswith(("day", "month"))
            return {"instruction": q, "answer": qa.short if keep or not lower
                    else qa.short.lower()}, q
        return make
    rng = random.Random(seed)
    out = unique(n_math, maker(math, False), rng) + unique(n_fact, maker(facts, True), rng)
    rng.shuffle(out)
    return out


# ---------------------------------------------------------------- registry
ALPACA_PAIR = {"prompt": "instruction", "query": "input", "chosen": "chosen",
               "rejected": "rejected"}
ROLE_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user",
             "assistant_tag": "assistant", "system_tag": "system"}
REGISTRY = {
    "demo_pref_en": {"file_name": "demo_pref_en.json", "formatting": "alpaca", "ranking": True,
                     "columns": ALPACA_PAIR},
    "demo_pref_en_test": {"file_name": "demo_pref_en_test.json", "formatting": "alpaca",
                          "ranking": True, "columns": ALPACA_PAIR},
    "demo_pref_zh": {"file_name": "demo_pref_zh.json", "formatting": "alpaca", "ranking": True,
                     "columns": ALPACA_PAIR},
    "demo_pref_sharegpt": {"file_name": "demo_pref_sharegpt.json", "formatting": "sharegpt",
                           "ranking": True, "columns": {"messages": "conversations",
                                                       "chosen": "chosen",
                                                       "rejected": "rejected"}},
    "demo_pref_multiturn": {"file_name": "demo_pref_multiturn.json", "formatting": "sharegpt",
                            "ranking": True, "columns": {"messages": "messages",
                                                        "chosen": "chosen",
                                                        "rejected": "rejected",
                                                        "system": "system"},
                            "tags": ROLE_TAGS},
    "demo_sft": {"file_name": "demo_sft.json", "formatting": "sharegpt",
                 "columns": {"messages": "conversations"}},
    "demo_kto": {"file_name": "demo_kto.json", "formatting": "sharegpt",
                 "columns": {"messages": "messages", "kto_tag": "label"}, "tags": ROLE_TAGS},
    "demo_prompts": {"file_name": "demo_prompts.json", "formatting": "alpaca",
                     "columns": {"prompt": "instruction"}},
}


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def build() -> dict[str, list[dict]]:
    items = english_qa()
    train, test = split_heldout(items, random.Random(0))
    train_pool, test_pool = Pool(train, WEIGHTS_EN), Pool(test, WEIGHTS_EN)
    pref_test = pref_alpaca(test_pool, 60, seed=2, with_input=False)
    return {
        "demo_pref_en": pref_alpaca(train_pool, 300, seed=1, with_input=True),
        "demo_pref_en_test": pref_test,
        "demo_pref_zh": pref_zh(Pool(chinese_qa(), WEIGHTS_ZH), 120, seed=3),
        "demo_pref_sharegpt": pref_sharegpt(train_pool, 150, seed=4),
        "demo_pref_multiturn": pref_multiturn(train_pool, 100, seed=5),
        "demo_sft": sft(Pool(items, {**WEIGHTS_EN, "chat": 5}), SFT_CONVERSATIONS, seed=6,
                        banned={r["instruction"] for r in pref_test}),
        "demo_kto": kto(train_pool, 120, 80, seed=7),
        "demo_prompts": prompts(items, 120, 80, seed=8),
    }


def main() -> None:
    DATA.mkdir(exist_ok=True)
    for name, records in build().items():
        write_json(DATA / REGISTRY[name]["file_name"], records)
        print(f"{len(records):5d}  data/{REGISTRY[name]['file_name']}")
    write_json(ROOT / "dataset_info.json", REGISTRY)
    print("       dataset_info.json")


if __name__ == "__main__":
    main()
