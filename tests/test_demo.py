"""The bundled demo does what the README promises: the demo model answers demo prompts in
recognisable text, and the prefilled DPO (examples/dpo_demo.yaml) moves it to the chosen,
friendly style on held-out prompts."""
import json

import pytest
import torch
from conftest import ROOT

OPENERS = ("Great question!", "Good question!", "Happy to help!")


def answers(model, tokenizer, prompts, n=24):
    from core.data.templates import get_template

    template, out = get_template(None, tokenizer), []
    for prompt in prompts:
        ids = tokenizer(template.prompt_text([{"role": "user", "content": prompt}]),
                        return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(**ids, max_new_tokens=n, do_sample=False,
                                 eos_token_id=[tokenizer.eos_token_id, tokenizer.pad_token_id])
        out.append(tokenizer.decode(gen[0, ids["input_ids"].shape[1]:], skip_special_tokens=True))
    return out


@pytest.fixture(scope="module")
def demo():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.models.demo import SHIPPED, demo_model_path

    path = demo_model_path()
    assert path == SHIPPED  # shipped: nothing to build or download on a fresh machine
    return path, AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), \
        AutoTokenizer.from_pretrained(path)


def test_demo_model_speaks_the_demo_data(demo):
    _, model, tokenizer = demo
    dog, mouse, hello = answers(model, tokenizer, ["What sound does a dog make?",
                                                   "What is the plural of mouse?", "Hello!"])
    assert "woof" in dog.lower() and "mice" in mouse.lower() and hello.strip()


def test_demo_dpo_moves_answers_to_the_chosen_style(demo, demo_dpo_run):
    from peft import PeftModel

    path, base, tokenizer = demo
    test = json.loads((ROOT / "data" / "demo_pref_en_test.json").read_text())
    prompts = [r["instruction"] for r in test if not r["input"]][:10]
    tuned = PeftModel.from_pretrained(base, demo_dpo_run).eval()
    with tuned.disable_adapter():
        before = answers(tuned, tokenizer, prompts)
    after = answers(tuned, tokenizer, prompts)
    friendly = lambda texts: sum(t.strip().startswith(OPENERS) for t in texts)  # noqa: E731
    assert friendly(after) >= 8 and friendly(after) > friendly(before), (before, after)
