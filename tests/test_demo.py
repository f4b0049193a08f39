"""The bundled demo does what the README promises: the demo model answers demo prompts in
recognisable text, in the curt style, and the prefilled DPO (examples/dpo_demo.yaml) moves it
to the chosen, friendly style on held-out prompts."""
import json
import sys

import pytest
import torch
from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from demo_facts import english_qa  # noqa: E402
from make_demo_data import CLOSER, OPENERS  # noqa: E402

LONGEST_BARE = max(len(qa.short.split()) for qa in english_qa())  # words in a curt answer


def friendly(text: str) -> bool:
    """The chosen style: an opener of the data, then the fact, then its closer."""
    return text.startswith(OPENERS) and text.endswith(CLOSER)


def curt(text: str) -> bool:
    """The rejected style: a bare answer, no opener or closer, no longer than the data's."""
    return (bool(text) and not text.startswith(OPENERS) and CLOSER not in text
            and len(text.split()) <= LONGEST_BARE)


def share(texts: list[str], style) -> float:
    return sum(map(style, texts)) / len(texts)


def answers(model, tokenizer, prompts, n=32):
    from core.data.templates import get_template

    template, out = get_template(None, tokenizer), []
    for prompt in prompts:
        ids = tokenizer(template.prompt_text([{"role": "user", "content": prompt}]),
                        return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(**ids, max_new_tokens=n, do_sample=False,
                                 eos_token_id=[tokenizer.eos_token_id, tokenizer.pad_token_id])
        out.append(tokenizer.decode(gen[0, ids["input_ids"].shape[1]:],
                                    skip_special_tokens=True).strip())
    return out


@pytest.fixture(scope="module")
def demo():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.models.demo import SHIPPED, demo_model_path

    path = demo_model_path()
    assert path == SHIPPED  # shipped: nothing to build or download on a fresh machine
    return path, AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), \
        AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="module")
def heldout() -> list[str]:
    """The instructions of demo_pref_en_test: never seen in demo_pref_en or demo_sft."""
    test = json.loads((ROOT / "data" / "demo_pref_en_test.json").read_text())
    return [r["instruction"] for r in test if not r["input"]]


def test_the_styles_are_told_apart():
    assert friendly("Good question! A cat says meow. Hope this helps! :)")
    assert not curt("Good question! A cat says meow. Hope this helps! :)")
    assert curt("Meow.") and curt("paris") and curt("Keeping food cold.")
    assert not friendly("Meow.") and not friendly("Good question! A cat says")
    assert not curt("") and not curt("A cat says meow and a dog says woof and a cow says moo.")


def test_demo_model_speaks_the_demo_data(demo):
    _, model, tokenizer = demo
    dog, mouse, hello = answers(model, tokenizer, ["What sound does a dog make?",
                                                   "What is the plural of mouse?", "Hello!"])
    assert "woof" in dog.lower() and "mice" in mouse.lower() and hello.strip()


def test_demo_base_answers_curtly(demo, heldout):
    _, model, tokenizer = demo
    before = answers(model, tokenizer, heldout)
    assert len(before) == 60 and share(before, curt) >= 0.85, before


@pytest.mark.slow
def test_demo_dpo_moves_answers_to_the_chosen_style(demo, demo_dpo_run, heldout):
    from peft import PeftModel

    _, base, tokenizer = demo
    tuned = PeftModel.from_pretrained(base, demo_dpo_run).eval()
    with tuned.disable_adapter():
        before = answers(tuned, tokenizer, heldout)
    after = answers(tuned, tokenizer, heldout)
    assert share(after, friendly) >= 0.85 and share(after, friendly) > share(before, friendly), \
        (before, after)
    assert share(after[:10], friendly) >= 0.8  # the old bar: 8 of the first 10
