"""The run doctor's findings (core.training.checks, core.training.token_checks, the memory
line of core.training.doctor), the preflight's model checks and its resume warnings as
patterns (see webui/i18n_patterns.py) with their 中文: what the Train tab's Preview shows
beside the form and in the doctor's panel (webui/doctor.py). A finding's what-was-seen,
meaning and advice are separate patterns; its one-line form (Check.line(): "seen meaning Try:
advice") is translated sentence by sentence (i18n_core.translate). The converters of their
parts are CONVERT below. The findings of the probe and of a GPU size (`python -m core doctor
--probe --gpu-memory`) are the command line's only and stay English.
"""
from __future__ import annotations

import re

from .i18n_patterns import P, Pattern

WAYS = {"longer": "更长", "shorter": "更短"}
PARTS = {"prompt": "提示", "chosen": "优选回答", "rejected": "劣选回答", "completion": "回答",
         "sequence": "序列"}
MEMORY = {"weights": "权重", "reference": "参考模型", "gradients": "梯度", "optimizer": "优化器状态",
          "activations": "激活值", "workspace": "临时峰值"}
REFERENCES = {"ref_model, kept in memory": "ref_model，常驻内存",
              "the policy with its adapter off (no copy)": "关闭适配器的策略模型（不复制）",
              "a frozen copy of the policy": "策略模型的冻结副本"}


def _searched(text: str) -> str | None:
    """near_duplicates' search limit: "" or " among the first 20,000"."""
    m = re.fullmatch(r"(?: among the first ([\d,]+))?", text)
    return None if m is None else (f"（只查了前 {m.group(1)} 对）" if m.group(1) else "")


def _dominating(text: str) -> str | None:
    """prompts' "'user: Hi' in 4 pairs (40%); ..." -> "'user: Hi'（4 对，40%）；..."."""
    item = r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*") in (\d+) pairs \((\d+%)\)"""
    if not re.fullmatch(f"{item}(?:; {item})*", text):
        return None
    return "；".join(f"{q}（{n} 对，{s}）" for q, n, s in re.findall(item, text))


def _counts(text: str, names: dict[str, str] | None = None) -> str | None:
    """"prompt in 3, chosen in 1" -> "提示 3 条，优选回答 1 条" (names: the parts' 中文)."""
    parts = [re.fullmatch(r"(.+) in (\d+)", p) for p in text.split(", ")]
    if not all(parts) or (names and any(m.group(1) not in names for m in parts)):
        return None
    return "，".join(f"{(names or {}).get(m.group(1), m.group(1))} {m.group(2)} 条" for m in parts)


def _memory_line(text: str) -> str | None:
    """"GPU (bfloat16) 1.20 GiB [weights 1.0 GiB, gradients 2.0 MiB]" in 中文."""
    m = re.fullmatch(r"(GPU|CPU) \(([\w ,-]+)\) (\S+ [GM]iB) \[(.*)\]", text)
    if m is None:
        return None
    device, dtype, total, parts = m.groups()
    dtype = re.sub(r", (\d+)-bit weights$", r"，\1 位权重", dtype)
    items = [re.fullmatch(r"(\w+) (\S+ [GM]iB)", p) for p in parts.split(", ")] if parts else []
    if not all(i and i.group(1) in MEMORY for i in items):
        return None
    listed = "，".join(f"{MEMORY[i.group(1)]} {i.group(2)}" for i in items)
    return f"{device}（{dtype}）{total} [{listed}]"


def _lora_parts(text: str) -> str | None:
    """lora_target's "'x' names no module of M; 'mlp' names blocks, not layers LoRA can wrap"."""
    out = []
    for part in text.split("; "):
        missing = re.fullmatch(r"(.+) names no module of (.+)", part)
        blocks = re.fullmatch(r"(.+) names blocks, not layers LoRA can wrap", part)
        if missing:
            out.append(f"{missing.group(2)} 中没有模块 {missing.group(1)}")
        elif blocks:
            out.append(f"{blocks.group(1)} 是模块块，不是 LoRA 能包装的层")
        else:
            return None
    return "；".join(out)


CONVERT = {"way": WAYS.get, "lora_parts": _lora_parts, "searched": _searched, "dominating": _dominating,
           "cut_parts": lambda text: _counts(text, PARTS), "markers": _counts,
           "memory_line": _memory_line, "reference": REFERENCES.get}

DOCTOR: tuple[Pattern, ...] = (
    P("try", "Try:", "建议："),
    P("row", "row {n}", "第 {n} 行"),
    P("row_prompt", "row {n}: prompt {text}", "第 {n} 行：提示 {text}"),
    P("row_near", "row {n} ~ row {m}: prompt {text}", "第 {n} 行 ≈ 第 {m} 行：提示 {text}"),
    P("row_markup", "row {n} {key}: contains {marker}", "第 {n} 行 {key}：含有 {marker}"),
    # --- texts (core.training.checks) ----------------------------------------------------
    P("length_seen", "The chosen answer is longer in {share} of the {n} pairs whose answers "
      "differ in length (mean chosen/rejected token ratio {ratio}; {a} vs {b} tokens).",
      "在回答长度不同的 {n} 对中，优选回答更长的占 {share}（优选/劣选 Token 数之比平均为 {ratio}；"
      "{a} 对 {b} 个 Token）。"),
    P("length_meaning", "Length alone tells chosen from rejected here, and DPO's summed log-probs "
      "reward it: the model learns to write {way} answers rather than better ones.",
      "这里仅凭长度就能分出优选和劣选回答，而 DPO 的对数概率之和会奖励这一点：模型学会写{way}的回答，"
      "而不是更好的回答。", way="way"),
    P("length_advice", "balance the data with pairs where the chosen answer is the {way} one, "
      "drop pairs with extreme length ratios, or use a length-aware loss: ld_alpha=0.5 (LD-DPO) "
      "or pref_loss=simpo (averaged log-probs).",
      "用优选回答{way}的数据对来平衡数据，去掉长度比例极端的对，或使用考虑长度的损失：ld_alpha=0.5"
      "（LD-DPO）或 pref_loss=simpo（平均对数概率）。", way="way"),
    P("identical_seen", "{n} of {m} pairs have the same chosen and rejected text.",
      "{m} 对中有 {n} 对的优选和劣选回答文本相同。"),
    P("identical_meaning", "Their margin is 0 whatever the model does: they add ln 2 to the loss "
      "and nothing to learn (a loss pinned at 0.693 with many of them).",
      "无论模型怎样，它们的差值都是 0：只给损失加上 ln 2，却没有可学的东西（这样的对很多时，损失会停在 "
      "0.693）。"),
    P("identical_advice", "remove them (python -m core data check lists them).",
      "删除它们（`python -m core data check` 会列出它们）。"),
    P("near_identical_seen", "{n} of {m} pairs have answers that differ only in case, spacing or "
      "punctuation.", "{m} 对中有 {n} 对的两个回答只在大小写、空白或标点上不同。"),
    P("near_identical_meaning", "The preference then rests on those few characters, which "
      "teaches formatting quirks, not the quality the data means to teach.",
      "偏好于是只取决于这几个字符，教给模型的是格式上的怪癖，而不是数据想教的质量。"),
    P("near_identical_advice", "check how the pairs were made; remove them if the difference is "
      "an accident.", "检查这些对是怎样生成的；如果差别是偶然的，就删除它们。"),
    P("duplicate_seen", "{n} of {m} pairs repeat an earlier pair exactly.",
      "{m} 对中有 {n} 对与前面的某一对完全相同。"),
    P("duplicate_meaning", "Repeated pairs weigh more than the others and are learned by heart; "
      "with a validation split they leak into evaluation.",
      "重复的对比其他对权重更大，会被死记硬背；划分验证集时它们还会泄漏到评估中。"),
    P("duplicate_advice", "deduplicate the data.", "对数据去重。"),
    P("near_duplicate_seen", "{n} pairs ({share}) are near-copies of another pair{searched} ({g} "
      "groups; >= {j} of their character {k}-grams shared).",
      "{n} 对（{share}）是另一对的近似副本{searched}（{g} 组；字符 {k}-gram 至少有 {j} 相同）。",
      searched="searched"),
    P("near_duplicate_meaning", "Near-copies weigh more than the rest and make a validation split "
      "look better than the model is.", "近似副本比其余数据权重更大，还会让验证集上的结果好于模型的"
      "真实水平。"),
    P("near_duplicate_advice", "deduplicate (keep one pair per group) or check how the pairs were "
      "generated.", "去重（每组保留一对），或检查这些对是怎样生成的。"),
    P("prompts_seen", "{n} distinct prompts for {m} pairs, one pair each.",
      "{m} 对共有 {n} 个不同的提示，每个提示一对。"),
    P("prompts_shared", "{n} distinct prompts for {m} pairs; {k} prompts are shared by {j} pairs.",
      "{m} 对共有 {n} 个不同的提示；其中 {k} 个提示由 {j} 对共用。"),
    P("prompts_dominating", "Dominating: {named}.", "占主导的提示：{named}。", named="dominating"),
    P("prompts_meaning", "A few prompts holding a large share of the pairs steer the whole run "
      "towards their answers and away from everything else.",
      "少数几个提示占了很大一部分数据对，会把整个训练引向它们的回答，而偏离其余的一切。"),
    P("prompts_advice", "cap the pairs per prompt or add data for other prompts.",
      "限制每个提示的对数，或为其他提示增加数据。"),
    # --- token ids (core.training.token_checks) ------------------------------------------
    P("cut_seen", "{n} of {m} records are cut at cutoff_len ({parts}; {lost} tokens in all). The "
      "longest record needs {longest} tokens, 95% fit in {p95}.",
      "{m} 条记录中有 {n} 条在 cutoff_len 处被截断（{parts}；共 {lost} 个 Token）。最长的记录需要 "
      "{longest} 个 Token，95% 的记录不超过 {p95}。", parts="cut_parts"),
    P("cut_meaning", "A cut answer loses its end of turn: the model is trained on answers that "
      "never stop and compared on the parts that survived.",
      "被截断的回答失去了轮次结束标记：模型学到的是不会停止的回答，而且只在留下的部分上比较。"),
    P("cut_advice", "raise cutoff_len (to {p95} for 95% of the records, {longest} for all), or "
      "leave the long records out (truncation=drop).",
      "调高 cutoff_len（{p95} 可容下 95% 的记录，{longest} 可容下全部），或不用过长的记录"
      "（truncation=drop）。"),
    P("doubled_bos_seen", "{n} of {m} training sequences start with {name} twice.",
      "{m} 条训练序列中有 {n} 条以两个 {name} 开头。"),
    P("doubled_bos_meaning", "The template writes one and the data (or a second template) adds "
      "another: the model trains on a start it never sees when it is used, a known cause of "
      "worse answers.", "模板写了一个，数据（或第二个模板）又加了一个：模型训练时的开头与使用时不同，"
      "这是回答变差的已知原因。"),
    P("doubled_bos_advice", "remove {name} from the data's text (the template adds it).",
      "从数据的文本中删除 {name}（模板会加上它）。"),
    P("bos_twice_seen", "The chat template writes {name} and the tokenizer adds {name} itself "
      "when it encodes with its defaults.", "对话模板会写入 {name}，而分词器按默认设置编码时自己也会"
      "加上 {name}。"),
    P("bos_twice_meaning", "Training here encodes without the tokenizer's additions, so it sees "
      "one; code that tokenizes the rendered chat with add_special_tokens=True (a serving stack, "
      "a script) would feed two.", "这里的训练编码时不让分词器添加，所以只有一个；而用 "
      "`add_special_tokens=True` 对渲染后的对话分词的代码（推理服务、脚本）会送入两个。"),
    P("bos_twice_advice", "encode rendered chats with add_special_tokens=False wherever you serve "
      "the model.", "在部署模型的地方，用 `add_special_tokens=False` 对渲染后的对话编码。"),
    P("missing_bos_seen", "The tokenizer adds {name} when it encodes, so the model was trained "
      "with it first, but no training sequence here starts with {name}.",
      "分词器编码时会加上 {name}，所以模型训练时它总在最前面；但这里没有一条训练序列以 {name} 开头。"),
    P("missing_bos_meaning", "The template leaves it out, so training sees a start the model never "
      "saw.", "模板没有写它，所以训练看到的开头是模型从未见过的。"),
    P("missing_bos_advice", "use a template that writes it (template empty: the tokenizer's own).",
      "使用会写入它的模板（template 留空：用分词器自带的）。"),
    P("header_twice_seen", "{n} of {m} prompts hold a role header directly followed by another "
      "('<|im_start|>user' twice in a row or the like).",
      "{m} 个提示中有 {n} 个含有紧跟着另一个角色头的角色头（如连续两次 '<|im_start|>user'）。"),
    P("header_twice_meaning", "The chat template was applied to text that already had it, so the "
      "model learns doubled markup.", "对话模板被用在了已经带有模板标记的文本上，模型因此学到重复的"
      "标记。"),
    P("header_twice_advice", "store plain messages in the data, not rendered chat text.",
      "在数据中存放纯消息，而不是渲染后的对话文本。"),
    P("markup_seen", "{n} of {m} records hold chat markup inside a message ({markers}).",
      "{m} 条记录中有 {n} 条的消息里含有对话标记（{markers}）。", markers="markers"),
    P("markup_meaning", "The text was rendered with a chat template before it reached this one, "
      "so the template is applied twice and the model learns the markup as content.",
      "文本在到达这里之前已用对话模板渲染过，模板因此被应用了两次，模型会把标记当作内容来学。"),
    P("markup_advice", "store plain messages (role and content) in the data, without markup.",
      "在数据中存放纯消息（角色和内容），不带标记。"),
    # --- memory (core.training.doctor) ---------------------------------------------------
    P("memory_stage", "The memory estimate and the time probe cover stage dpo, not {stage}.",
      "内存估算和耗时探测只适用于 dpo 阶段，不适用于 {stage}。"),
    P("memory_seen", "Estimated peak memory at the longest batch ({n} pairs, {r} x {w} tokens): "
      "{gpu}; {cpu}. {t} of {p} parameters train; {reference}.",
      "估计的峰值内存（最长的批次：{n} 对，{r} 行 x {w} 个 Token）：{gpu}；{cpu}。{p} 个参数中训练 {t} "
      "个；{reference}。", gpu="memory_line", cpu="memory_line", reference="say"),
    P("memory_reference", "reference: {model}; its log-probs are computed once and cached on disk",
      "参考模型：{model}；它的对数概率只计算一次，并缓存到磁盘", model="reference"),
    P("memory_no_reference", "{loss} has no reference", "{loss} 不用参考模型"),
    # --- the model (core.models.checks), before any weight loads --------------------------
    P("no_pad_token", "model_name_or_path: the tokenizer of {model} has neither a pad token nor "
      "an eos token, which training needs to pad batches and end answers; set \"eos_token\" (and "
      "\"pad_token\") in its tokenizer_config.json, e.g. <|im_end|> and <|endoftext|> for Qwen, or "
      "use a model whose tokenizer has them",
      "model_name_or_path：{model} 的分词器既没有填充 Token（pad_token）也没有结束 Token"
      "（eos_token），而训练要用它们填充批次、结束回答；请在其 tokenizer_config.json 中设置 "
      "\"eos_token\"（和 \"pad_token\"），如 Qwen 的 <|im_end|> 和 <|endoftext|>，或换用分词器带有"
      "它们的模型"),
    P("lora_target_modules", "lora_target: {parts}; use all, or some of: {offer}",
      "lora_target：{parts}；请用 all，或以下模块中的几个：{offer}", parts="lora_parts"),
    P("freeze_layers", "freeze_trainable_layers: {n} but {model} has {k} decoder layers; give 1 to "
      "{k} (the last N) or -1 to -{k} (the first N)",
      "freeze_trainable_layers：{n}，但 {model} 只有 {k} 个解码层；请填 1 到 {k}（最后 N 层）或 -1 到 "
      "-{k}（最前 N 层）"),
    # --- resuming (core.training.preflight, core.runs.placement) -------------------------
    P("resume_changed", "{name} was saved with other settings, resuming with: {changes}",
      "{name} 保存时的设置不同，将以这些改动继续：{changes}"),
    P("resume_refused", "resume_from_checkpoint: {path} was saved with another {listed}, so its "
      "weights do not fit this config; set {which} back, or start fresh in a new output_dir",
      "resume_from_checkpoint：{path} 保存时的 {listed} 不同，其权重与此配置不匹配；请改回原值，或在"
      "新的 output_dir 中从头开始"),
)
