import pytest

from core.data.templates import encode, encode_conversation, get_template
from core.methods.pairwise import PairCollator

PROMPT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]
ANSWER = {"role": "assistant", "content": "Paris."}


def decode(tok, ids):
    return tok.decode(ids, skip_special_tokens=False)


def test_tokenizer_template_scores_end_token(tokenizer):
    tpl = get_template(None, tokenizer)
    prompt_ids, (answer_ids,) = encode(tpl, PROMPT, [ANSWER])
    assert decode(tokenizer, prompt_ids).endswith("<|im_start|>assistant\n")
    assert decode(tokenizer, answer_ids) == "Paris.<|im_end|>\n"
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in answer_ids


def test_qwen_template_matches_chatml_and_default_system(tokenizer):
    tpl = get_template("qwen", tokenizer)
    text = tpl.prompt_text([PROMPT[1]])
    assert text.startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")
    assert text.endswith("<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\n")
    assert tpl.prompt_text(PROMPT).startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert tpl.answer_text(PROMPT, ANSWER) == "Paris.<|im_end|>\n"


def test_qwen3_thinking_switch(tokenizer):
    on, off = get_template("qwen3", tokenizer, True), get_template("qwen3", tokenizer, False)
    assert on.prompt_text(PROMPT).endswith("<|im_start|>assistant\n")
    assert on.answer_text(PROMPT, ANSWER) == "<think>\n\n</think>\n\nParis.<|im_end|>\n"
    assert off.prompt_text(PROMPT).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    thought = {"role": "assistant", "content": "<think>easy</think>\n\nParis."}
    assert off.answer_text(PROMPT, thought) == "Paris.<|im_end|>\n"
    assert on.answer_text(PROMPT, thought) == "<think>easy</think>\n\nParis.<|im_end|>\n"
    history = PROMPT + [thought, {"role": "user", "content": "And Spain?"}]
    assert "easy" not in on.prompt_text(history)  # Qwen3 drops old thoughts


def test_default_template_for_tokenizers_without_one(tokenizer):
    tokenizer = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tokenizer.chat_template = None
    tpl = get_template(None, tokenizer)
    assert tpl.name == "default"
    assert tpl.prompt_text(PROMPT).endswith("User: Capital of France?\nAssistant: ")
    assert tpl.answer_text(PROMPT, ANSWER) == "Paris.<|im_end|>\n"


def test_unknown_template_lists_choices(tokenizer):
    with pytest.raises(ValueError, match="use qwen, qwen3, default"):
        get_template("llama3", tokenizer)


def test_stop_token_ids_per_template(tokenizer):
    """Generation stops at the template's end of turn (<|im_end|> for ChatML, the eos for
    `default`), the eos and pad, and the eos ids the model's generation_config names."""
    from transformers import GenerationConfig

    im_end, text_end = (tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>"))
    # a base model's tokenizer: its eos (and pad) is <|endoftext|>, not ChatML's end of turn
    plain = tokenizer.__class__.from_pretrained(tokenizer.name_or_path, eos_token="<|endoftext|>")
    assert plain.eos_token_id == plain.pad_token_id == text_end != im_end
    for name in ("qwen", "qwen3", None):  # None: the tokenizer's own (ChatML) template
        assert get_template(name, plain).stop_token_ids() == sorted({im_end, text_end})
    assert get_template("default", plain).stop_token_ids() == [text_end]
    plain.chat_template = None  # no template of its own: `default`
    assert get_template(None, plain).stop_token_ids() == [text_end]
    configured = GenerationConfig(eos_token_id=[7, text_end])
    assert get_template("default", plain).stop_token_ids(configured) == sorted({7, text_end})
    assert get_template("qwen", plain).stop_token_ids(GenerationConfig(eos_token_id=9)) == \
        sorted({9, im_end, text_end})
    # an instruct tokenizer's eos is <|im_end|> itself: `default` stops there too
    assert get_template("default", tokenizer).stop_token_ids() == sorted({im_end, text_end})


def test_pad_equal_to_end_token_keeps_end_scored(tokenizer):
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    tpl = get_template("qwen", tokenizer)
    prompt_ids, (chosen, rejected) = encode(tpl, PROMPT, [ANSWER, {"role": "assistant", "content": "Rome, no doubt."}])
    batch = PairCollator(pad_id=end)([{"prompt_ids": prompt_ids, "chosen_ids": chosen, "rejected_ids": rejected}])
    ids, comp = batch["input_ids"], batch["completion_mask"]
    row = 0  # chosen is shorter, so it is padded with the end token
    scored = ids[row][comp[row].bool()].tolist()
    assert scored == chosen and end in scored
    assert comp[row].sum() == len(chosen) and ids[row, -1] == end and comp[row, -1] == 0


def test_conversation_masks_every_assistant_turn(tokenizer):
    tpl = get_template(None, tokenizer)
    messages = PROMPT + [ANSWER, {"role": "user", "content": "And Spain?"},
                         {"role": "assistant", "content": "Madrid."}]
    ids, mask = encode_conversation(tpl, messages)
    scored = decode(tokenizer, [i for i, m in zip(ids, mask) if m])
    assert scored == "Paris.<|im_end|>\nMadrid.<|im_end|>\n"
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    assert decode(tokenizer, ids) == full
    _, all_mask = encode_conversation(tpl, messages, train_on_prompt=True)
    assert all(all_mask)
