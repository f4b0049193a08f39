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
    # A thought as LLaMA-Factory writes one: "<think>\n...\n</think>\n\n".
    thought = {"role": "assistant", "content": "<think>\neasy\n</think>\n\nParis."}
    assert off.answer_text(PROMPT, thought) == "Paris.<|im_end|>\n"
    assert on.answer_text(PROMPT, thought) == "<think>\neasy\n</think>\n\nParis.<|im_end|>\n"
    history = PROMPT + [thought, {"role": "user", "content": "And Spain?"}]
    assert "easy" not in on.prompt_text(history)  # Qwen3 drops old thoughts
    # A block written without those newlines is not a thought to LLaMA-Factory: kept as is.
    compact = {"role": "assistant", "content": "<think>easy</think>\n\nParis."}
    assert off.answer_text(PROMPT, compact) == "<think>easy</think>\n\nParis.<|im_end|>\n"


def test_default_template_for_tokenizers_without_one(tokenizer):
    tokenizer = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tokenizer.chat_template = None
    tpl = get_template(None, tokenizer)
    assert tpl.name == "default"
    assert tpl.prompt_text(PROMPT).endswith("Human: Capital of France?<|im_end|>\nAssistant:")
    assert tpl.answer_text(PROMPT, ANSWER) == "Paris.<|im_end|>\n"


def test_unknown_template_lists_choices(tokenizer):
    with pytest.raises(ValueError, match="use qwen .*, qwen3, qwen3_nothink .*, default, empty"):
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


# --- LLaMA-Factory's templates, token by token ----------------------------------------------
# Expected texts are written by hand from LLaMA-Factory's register_template calls (its
# data/template.py): qwen, qwen3 (ReasoningTemplate), qwen3_nothink, default and empty. Each
# list item is one piece LLaMA-Factory tokenizes on its own (a message's slot, the empty think
# block); the tokens must equal ours one by one.
SYS, E = "<|im_start|>system\n", "<|im_end|>\n"
USER = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
EMPTY = "<think>\n\n</think>\n\n"
HIST = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello."},
        {"role": "user", "content": "Bye"}]
PLAIN = {"role": "assistant", "content": "Bye."}
THOUGHT = {"role": "assistant", "content": "<think>\nok\n</think>\n\nBye."}
HIST_CHATML = [SYS + "Be brief." + E, USER.format("Hi"), "<think>\nhm\n</think>\n\nHello." + E,
               USER.format("Bye")]
HIST_DROPPED = [SYS + "Be brief." + E, USER.format("Hi"), "Hello." + E, USER.format("Bye")]

# (template, enable_thinking, prompt, answer) -> (prompt pieces, answer pieces)
ONE_TURN = [
    ("qwen", True, [PROMPT[1]], ANSWER,
     [SYS + QWEN_SYSTEM + E, USER.format("Capital of France?")], ["Paris." + E]),
    ("qwen", True, HIST, THOUGHT, HIST_CHATML, ["<think>\nok\n</think>\n\nBye." + E]),
    ("qwen3_nothink", True, [PROMPT[1]], ANSWER, [USER.format("Capital of France?")],
     ["Paris." + E]),
    ("qwen3_nothink", True, HIST, PLAIN, HIST_CHATML, ["Bye." + E]),
    ("qwen3", True, HIST, PLAIN, HIST_DROPPED, [EMPTY, "Bye." + E]),
    ("qwen3", True, HIST, THOUGHT, HIST_DROPPED, ["<think>\nok\n</think>\n\nBye." + E]),
    ("qwen3", False, HIST, PLAIN, HIST_DROPPED + [EMPTY], ["Bye." + E]),
    ("qwen3", False, HIST, THOUGHT, HIST_DROPPED + [EMPTY], ["Bye." + E]),
    ("default", True, HIST, PLAIN,
     ["System: Be brief.<|im_end|>\n", "Human: Hi<|im_end|>\nAssistant:",
      "<think>\nhm\n</think>\n\nHello.<|im_end|>\n", "Human: Bye<|im_end|>\nAssistant:"],
     ["Bye.<|im_end|>\n"]),
    ("empty", True, HIST, PLAIN, ["Be brief.", "Hi", "<think>\nhm\n</think>\n\nHello.", "Bye"],
     ["Bye."]),
]


def pieces_ids(tok, pieces):
    return [i for p in pieces for i in tok(p, add_special_tokens=False)["input_ids"]]


def tokens(tok, ids):
    return tok.convert_ids_to_tokens(ids)


@pytest.mark.parametrize("name, thinking, prompt, answer, want_prompt, want_answer", ONE_TURN)
def test_llamafactory_one_turn(tokenizer, name, thinking, prompt, answer, want_prompt, want_answer):
    """Pairwise and KTO examples: prompt and answer ids as LLaMA-Factory's encode_oneturn."""
    tpl = get_template(name, tokenizer, thinking)
    prompt_ids, (answer_ids,) = encode(tpl, prompt, [answer])
    assert tokens(tokenizer, prompt_ids) == tokens(tokenizer, pieces_ids(tokenizer, want_prompt))
    assert tokens(tokenizer, answer_ids) == tokens(tokenizer, pieces_ids(tokenizer, want_answer))
    assert tpl.render(prompt, answer) == ("".join(want_prompt), "".join(want_answer))


# A conversation for SFT: every answer is scored; qwen3 keeps each answer's thought here (as
# LLaMA-Factory's encode_multiturn does) and gives the others an empty block.
CONV = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"},
        {"role": "tool", "content": "ok"}, THOUGHT]
TURNS = [  # (template, enable_thinking) -> [(text, scored)]
    ("qwen", True, [(SYS + QWEN_SYSTEM + E + USER.format("Hi"), 0), ("Hello." + E, 1),
                    (USER.format("2+2?"), 0), ("4" + E, 1),
                    ("<|im_start|>user\n<tool_response>\nok\n</tool_response><|im_end|>\n"
                     "<|im_start|>assistant\n", 0), ("<think>\nok\n</think>\n\nBye." + E, 1)]),
    ("qwen3", True, [(USER.format("Hi"), 0), (EMPTY + "Hello." + E, 1),
                     (USER.format("2+2?"), 0), (EMPTY + "4" + E, 1),
                     ("<|im_start|>user\n<tool_response>\nok\n</tool_response><|im_end|>\n"
                      "<|im_start|>assistant\n", 0), ("<think>\nok\n</think>\n\nBye." + E, 1)]),
    ("qwen3", False, [(USER.format("Hi") + EMPTY, 0), ("Hello." + E, 1),
                      (USER.format("2+2?") + EMPTY, 0), ("4" + E, 1),
                      ("<|im_start|>user\n<tool_response>\nok\n</tool_response><|im_end|>\n"
                       "<|im_start|>assistant\n" + EMPTY, 0), ("Bye." + E, 1)]),
    ("default", True, [("Human: Hi<|im_end|>\nAssistant:", 0), ("Hello.<|im_end|>\n", 1),
                       ("Human: 2+2?<|im_end|>\nAssistant:", 0), ("4<|im_end|>\n", 1),
                       ("Human: ok<|im_end|>\nAssistant:", 0),
                       ("<think>\nok\n</think>\n\nBye.<|im_end|>\n", 1)]),
    ("empty", True, [("Hi", 0), ("Hello.", 1), ("2+2?", 0), ("4", 1), ("ok", 0),
                     ("<think>\nok\n</think>\n\nBye.", 1)]),
]


@pytest.mark.parametrize("name, thinking, want", TURNS)
def test_llamafactory_conversation(tokenizer, name, thinking, want):
    tpl = get_template(name, tokenizer, thinking)
    ids, mask = encode_conversation(tpl, CONV)
    want_ids, want_mask = [], []
    for text, scored in want:
        part = tokenizer(text, add_special_tokens=False)["input_ids"]
        want_ids += part
        want_mask += [scored] * len(part)
    assert tokens(tokenizer, ids) == tokens(tokenizer, want_ids)
    assert mask == want_mask


def test_generation_prompts(tokenizer):
    """What chat and grpo sample after: the prompt of an empty answer."""
    hi = [{"role": "user", "content": "Hi"}]
    assert get_template("qwen", tokenizer).prompt_text(hi) == SYS + QWEN_SYSTEM + E + USER.format("Hi")
    assert get_template("qwen3", tokenizer, True).prompt_text(hi) == USER.format("Hi")
    assert get_template("qwen3", tokenizer, False).prompt_text(hi) == USER.format("Hi") + EMPTY
    assert get_template("qwen3_nothink", tokenizer, False).prompt_text(hi) == USER.format("Hi")
    assert get_template("default", tokenizer).prompt_text(hi) == "Human: Hi<|im_end|>\nAssistant:"
    assert get_template("empty", tokenizer).prompt_text(hi) == "Hi"
    # An empty system message means the template's default one, as in LLaMA-Factory.
    blank = [{"role": "system", "content": ""}] + hi
    assert get_template("qwen", tokenizer).prompt_text(blank).startswith(SYS + QWEN_SYSTEM)


def test_pieces_are_tokenized_apart(tokenizer):
    """`empty` joins texts with nothing between them; each is still its own tokens, as in
    LLaMA-Factory, so the prompt's last token never merges into the answer."""
    tpl = get_template("empty", tokenizer)
    prompt_ids, (answer_ids,) = encode(tpl, [{"role": "user", "content": "ab"}],
                                       [{"role": "assistant", "content": "cd"}])
    assert prompt_ids == tokenizer("ab", add_special_tokens=False)["input_ids"]
    assert answer_ids == tokenizer("cd", add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("name", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen2_audio",
                                  "qwen2_omni"])
def test_multimodal_templates_are_refused(tokenizer, name):
    from core.config import RunConfig, problems

    with pytest.raises(ValueError, match="multimodal.*Qwen text template and text-only data"):
        get_template(name, tokenizer)
    (key, message), = problems(RunConfig(template=name))
    assert key == "template" and "text-only data" in message


THINKY = [
    [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "<think>\na\n</think>\n\nA"},
     {"role": "user", "content": "Q2"}],
    [{"role": "user", "content": "Q"},
     {"role": "assistant", "content": "<think>\na<think>\nb\n</think>\n\n\nA<think>\nopen"},
     {"role": "user", "content": "Q2"}],
    [{"role": "system", "content": ""}, {"role": "user", "content": "Q"},
     {"role": "assistant", "content": "\n\nA</think>\n\n"}, {"role": "tool", "content": "r"}],
]


@pytest.mark.parametrize("name", ["qwen", "qwen3", "qwen3_nothink", "default", "empty"])
@pytest.mark.parametrize("thinking", [True, False])
def test_export_jinja_renders_the_template(tokenizer, name, thinking):
    """core.models.export writes the template as Jinja: the same prompts, and a conversation
    ending with an answer as training rendered it."""
    from core.models.export import template_jinja

    tok = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tok.chat_template = template_jinja(name, tok.eos_token)
    ours = get_template(name, tok, thinking)
    for messages in THINKY + [HIST, HIST[1:2]]:
        got = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                      enable_thinking=thinking)
        assert got == ours.prompt_text(messages)
    for answer in (PLAIN, THOUGHT, {"role": "assistant", "content": "<think>x</think>y"}):
        got = tok.apply_chat_template(HIST + [answer], tokenize=False, enable_thinking=thinking)
        assert got == "".join(ours.render(HIST, answer))
