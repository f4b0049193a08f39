"""Core's messages about runs and their alarms (what was seen, what it usually means, what to
try: core.runs.alarms), as patterns (see webui/i18n_patterns.py) with their 中文: what the Runs
tab shows."""
from __future__ import annotations

from .i18n_patterns import P, Pattern

STUCK_SEEN = ("After {step} steps the loss is {num} (its value while the policy equals the "
              "reference: {name} = {num2}) and the policy's log-probs have moved at most {delta} "
              "nats from the reference on either answer.")
STUCK_SEEN_ZH = ("训练 {step} 步后损失为 {num}（策略等于参考模型时的值：{name} = {num2}），策略在两个"
                 "回答上的对数概率与参考模型相比最多只变了 {delta} nats。")
STUCK_MASKED = "The answers' log-probs are exactly 0: no answer token is scored."
DIVERGING_MEANING = ("Training is diverging: the updates are too large for this model and batch "
                     "(learning rate too high, too little warmup), or fp16 overflowed; the model "
                     "is being damaged, not tuned.")
DIVERGING_ADVICE = ("Resume from a checkpoint before it with learning_rate 3-10x lower and "
                    "warmup_ratio 0.1, keep max_grad_norm at 1.0, and use bf16 (or fp32) instead "
                    "of fp16.")


RUNS: tuple[Pattern, ...] = (
    # --- runs (core.runs) ------------------------------------------------------------------
    P("gone", "process ended unexpectedly (see train.log)", "进程意外结束（见 train.log）"),
    P("startup_see_log", "ended before training started (see train.log)", "训练开始前就结束了（见 train.log）"),
    P("startup", "ended before training started: {error}", "训练开始前就结束了：{error}", error="say"),
    P("stopped_alarm", "stopped on alarm {id} at step {step}: {seen}",
      "因“{id}”告警在第 {step} 步停止：{seen}", id="alarm", seen="say"),
    P("abort_stopping", "{name} is stopping already: it saves a checkpoint after the current step "
      "and ends", "{name} 已在停止中：当前步结束后保存检查点并停止"),
    P("abort_state", "{name} is {state}; only a queued or running run can be aborted",
      "{name} {state}；只能中止排队中或训练中的运行", state="state"),
    P("resume_alive", "{name} is {state}, its process (pid {n}) is still running; abort it, or "
      "wait for it to end", "{name} {state}，其进程（pid {n}）仍在运行；请先中止它，或等它结束",
      state="state"),
    P("resume_state", "{name} is {state}; only an aborted or failed run can be resumed",
      "{name} {state}；只能继续已中止或失败的运行", state="state"),
    P("resume_final", "{name} has a final model but no complete checkpoint to resume from; rerun "
      "its config into a new folder: python -m core train {path}",
      "{name} 已有最终模型，但没有可继续的完整检查点；请把它的配置在新文件夹中重新运行：`python -m core "
      "train {path}`"),
    P("delete_alive", "{name} is {state}, its process (pid {n}) is still running; {hint}",
      "{name} {state}，其进程（pid {n}）仍在运行；{hint}", state="state", hint="say"),
    P("try_later", "try again in a moment", "请稍后再试"),
    P("abort_first", "abort it first", "请先中止它"),
    P("config_missing", "{path} is missing, so {name} cannot be resumed",
      "缺少 {path}，因此 {name} 无法继续"),
    P("config_missing_load", "{path} is missing: {name} has no config to load",
      "缺少 {path}：{name} 没有可载入的配置"),
    P("in_use", "output_dir: {path} is in use by another training process (pid {n}); wait for it, "
      "abort it, or choose a new output_dir",
      "output_dir：{path} 正被另一个训练进程（pid {n}）使用；请等它结束、中止它，或换一个 output_dir"),
    P("holds_run", "output_dir: {path} already holds a run ({held}). To continue it, add "
      "resume_from_checkpoint=true; to start over, choose a new output_dir.",
      "output_dir：{path} 中已有一次运行（{held}）。要继续它，请加上 resume_from_checkpoint=true；"
      "要重新开始，请换一个 output_dir。", held="held"),
    P("no_checkpoint", "resume_from_checkpoint: no complete checkpoint in {path}; remove the key "
      "to start fresh", "resume_from_checkpoint：{path} 中没有完整的检查点；删除该项即可从头开始"),
    P("max_steps_below", "max_steps: {n} is not above the step of {name} ({m}), so resuming would "
      "train nothing; set max_steps above {m}, or start fresh in a new output_dir",
      "max_steps：{n} 不大于 {name} 的步数（{m}），继续训练将什么也不训练；请把 max_steps 设为大于 {m} "
      "的值，或在新的 output_dir 中从头开始"),
    P("no_sound_checkpoint", "resume_from_checkpoint: no sound checkpoint in {path} ({problems}); "
      "remove the key to start fresh",
      "resume_from_checkpoint：{path} 中没有完好的检查点（{problems}）；删除该项即可从头开始"),
    P("corrupt_file", "resume_from_checkpoint: {path} is corrupt and cannot be read safely "
      "({reason}); resume from another checkpoint, or start fresh in a new output_dir",
      "resume_from_checkpoint：{path} 已损坏，无法安全读取（{reason}）；请从另一个检查点继续，或在新的 "
      "output_dir 中从头开始"),
    P("incomplete_checkpoint", "resume_from_checkpoint: {path} is incomplete ({problem}); pick "
      "another or use resume_from_checkpoint=true",
      "resume_from_checkpoint：{path} 不完整（{problem}）；请选择另一个，或使用 "
      "resume_from_checkpoint=true", problem="say"),
    P("checkpoint_corrupt", "{name} is corrupt: its content differs from what was saved (same "
      "size, another checksum)", "{name} 已损坏：内容与保存时不同（大小相同，校验和不同）"),
    # --- NaN or infinity stops a run (core.methods.finite) -------------------------------------
    P("nan_stop", "learning_rate: {what} at step {step}; the run stopped, nothing after it is "
      "saved. To fix it, lower learning_rate, use bf16 instead of fp16, or a smaller "
      "per_device_train_batch_size or cutoff_len, then start again (or resume from a checkpoint "
      "saved before this step)",
      "learning_rate：第 {step} 步{what}；运行已停止，之后的内容都不会保存。解决办法：降低 "
      "learning_rate，用 bf16 代替 fp16，或减小 per_device_train_batch_size 或 cutoff_len，然后重新"
      "开始（或从这一步之前保存的检查点继续）", what="say"),
    P("nan_gradient", "the gradient of {name} is NaN or infinite", "{name} 的梯度为 NaN 或无穷大"),
    P("nan_logged", "the logged {key} is {value}", "记录的 {key} 为 {value}"),
    P("nan_final", "the final model not saved: the weight {w} is NaN or infinite",
      "最终模型未保存：权重 {w} 为 NaN 或无穷大"),
    P("nan_checkpoint", "{name} not marked complete: the weight {w} is NaN or infinite",
      "{name} 未标记为完整：权重 {w} 为 NaN 或无穷大"),
    P("no_final_model", "{path} has no final model and no complete checkpoint yet (state: "
      "{state}); wait for its first save_steps checkpoint", "{path} 还没有最终模型，也没有完整的检查点（状态："
      "{state}）；请等它按 save_steps 保存第一个检查点", state="state"),
    P("export_exists", "--out {path} exists and is not empty; choose a new folder or empty it",
      "输出目录 {path} 已存在且不为空；请换一个文件夹或清空它"),
    # --- alarms: what was seen, what it means, what to try (core.runs.alarms) ----------------
    P("stuck_seen", STUCK_SEEN, STUCK_SEEN_ZH, name="formula"),
    P("stuck_seen_masked", STUCK_SEEN + " " + STUCK_MASKED,
      STUCK_SEEN_ZH + "回答的对数概率恰好为 0：没有任何回答 Token 参与计分。", name="formula"),
    P("stuck_meaning", "The weights are not training: the learning rate is too small for this "
      "many steps, nothing trainable gets a gradient, or the answer tokens are masked (cut off at "
      "cutoff_len or not marked as answer).",
      "权重没有在训练：学习率对这么多步来说太小，可训练参数得不到梯度，或者回答 Token 被屏蔽了（在 "
      "cutoff_len 处被截掉，或没有被标记为回答）。"),
    P("stuck_advice", "Raise learning_rate (LoRA DPO usually trains at 5e-6 to 5e-5, full "
      "fine-tuning at 5e-7 to 5e-6); check the trainable parameter count at the top of train.log; "
      "run `python -m core data check` with your model and cutoff_len to see cut answers.",
      "调大 learning_rate（LoRA DPO 通常用 5e-6 到 5e-5，全参数微调用 5e-7 到 5e-6）；查看 train.log "
      "开头的可训练参数量；用你的模型和 cutoff_len 运行 `python -m core data check`，查看被截断的回答。"),
    P("easy_seen", "At step {step} of {m} (within the first {share}) the loss is already {num} "
      "with reward accuracy {num2}: every pair is ranked right by a wide margin.",
      "在第 {step} 步（共 {m} 步，仍在前 {share} 内）损失已是 {num}，奖励准确率 {num2}：每一对都以很大的"
      "差距排对了。"),
    P("easy_meaning", "The pairs are too easy to teach anything (rejected answers that are "
      "obviously broken, chosen answers the model already gives), or the answer leaks into the "
      "prompt; the rest of the run mostly inflates the margins.",
      "这些数据对太容易，学不到东西（劣选回答明显有问题，或模型本来就会给出优选回答），或者答案泄露到"
      "了提示中；剩下的训练主要只是在拉大奖励差。"),
    P("easy_advice", "Read a few pairs in the Data tab; make rejected answers plausible (e.g. "
      "sampled from the model), check that the chosen text is not in the prompt or system "
      "message, and hold out pairs (val_size) before trusting the accuracy.",
      "在“数据”页看几对数据；让劣选回答更像样（如从模型采样），检查优选文本没有出现在提示或系统消息中，"
      "并在相信准确率之前先留出一部分数据对（val_size）。"),
    P("displacement_seen", "Over steps {step}-{step2} the chosen answers' log-prob kept falling "
      "({a} -> {b} nats against the reference; {fall} nats since the start, {share} of their "
      "reference log-likelihood {ref}) while the reward margin rose ({c} -> {d}).",
      "在第 {step}-{step2} 步中，优选回答的对数概率持续下降（相对参考模型 {a} -> {b} nats；自开始以来"
      "下降 {fall} nats，为其参考对数似然 {ref} 的 {share}），而奖励差在上升（{c} -> {d}）。"),
    P("displacement_meaning", "Likelihood displacement: the margin grows by making both answers "
      "less likely, the chosen ones too; probability moves to answers in neither set, which often "
      "shows as longer, off-topic or degenerate generations.",
      "似然位移：奖励差的增大来自两个回答的概率都在降低，优选回答也不例外；概率转移到了两组之外的回答上，"
      "常表现为生成变长、跑题或退化。"),
    P("displacement_advice", "Add an SFT term on the chosen answers ({fix}), lower learning_rate, "
      "or raise pref_beta; compare generations in Chat before using the model.",
      "在优选回答上加 SFT 项（{fix}），调小 learning_rate，或调大 pref_beta；使用模型前先在“对话”页对比"
      "生成结果。", fix="say"),
    P("raise_ftx", "raise pref_ftx from {num}", "把 pref_ftx 从 {num} 调大"),
    P("set_ftx", "set pref_ftx 0.1-1.0", "把 pref_ftx 设为 0.1-1.0"),
    P("margin_seen", "At step {step} the reward margin is {num}, beyond +-{m}: past about 10 the "
      "loss no longer changes, so the policy is drifting (one answer's log-probs collapsing).",
      "第 {step} 步的奖励差为 {num}，超出了 ±{m}：超过约 10 后损失就不再变化，策略正在漂移（某个回答的"
      "对数概率在崩塌）。"),
    P("high_loss_seen", "At steps {step}-{step2} the loss is {losses}, more than {n}x its start "
      "({name} = {num}): the policy prefers the rejected answers far more than the reference does.",
      "在第 {step}-{step2} 步损失为 {losses}，超过起始值（{name} = {num}）的 {n} 倍：策略比参考模型更"
      "偏好劣选回答。", name="formula"),
    P("diverging_meaning", DIVERGING_MEANING,
      "训练正在发散：对这个模型和批大小来说更新太大（学习率太高、预热太少），或 fp16 溢出了；模型正在被"
      "破坏，而不是被微调。"),
    P("diverging_advice", DIVERGING_ADVICE,
      "从它之前的检查点继续，把 learning_rate 调小 3-10 倍并设 warmup_ratio 0.1，保持 max_grad_norm "
      "为 1.0，并用 bf16（或 fp32）代替 fp16。"),
    P("spike_seen", "At step {step} grad_norm is {num}, {n}x the median {num2} of the {m} logged "
      "steps before it.", "第 {step} 步的 grad_norm 为 {num}，是之前 {m} 个记录步中位数 {num2} 的 {n} 倍。"),
    P("spike_meaning", "A gradient spike: a batch the model finds very surprising, a learning rate "
      "too high, or fp16 overflow. Clipping (max_grad_norm) bounds the update, so one spike with a "
      "steady loss is usually harmless; repeated spikes come before divergence.",
      "梯度尖峰：某个批次让模型非常意外、学习率太高，或 fp16 溢出。梯度裁剪（max_grad_norm）限制了更新"
      "幅度，所以损失平稳时偶尔一次尖峰通常无害；反复出现的尖峰往往预示着发散。"),
    P("spike_advice", "Watch the loss beside it. If spikes repeat or the loss jumps, lower "
      "learning_rate, keep max_grad_norm at 1.0 (0 turns clipping off) and use bf16 instead of "
      "fp16.", "留意旁边的损失曲线。如果尖峰反复出现或损失突然跳升，请调小 learning_rate，保持 "
      "max_grad_norm 为 1.0（0 表示关闭裁剪），并用 bf16 代替 fp16。"),
    P("nan_seen", "At step {step} {names} is NaN or infinite.", "第 {step} 步的 {names} 为 NaN 或无穷大。",
      names="nan_names"),
    P("nan_seen_many", "At step {step} {names} are NaN or infinite.",
      "第 {step} 步的 {names} 为 NaN 或无穷大。", names="nan_names"),
    P("nan_meaning", "The numbers overflowed: usually fp16 without enough range, or a learning "
      "rate so high the weights blew up. Every step after this is wasted.",
      "数值溢出了：通常是 fp16 的表示范围不够，或学习率高到让权重爆炸。此后的每一步都是浪费。"),
    P("nan_advice", "Stop the run and resume from a checkpoint before this step with a lower "
      "learning_rate and bf16 or fp32 instead of fp16; check the data for empty answers (`python "
      "-m core data check`).", "停止运行，从这一步之前的检查点以更小的 learning_rate 继续，并用 bf16 或 "
      "fp32 代替 fp16；检查数据中是否有空回答（`python -m core data check`）。"),
    P("overfit_seen", "eval_loss rose from {a} at step {step} to {b} at step {step2} ({n} "
      "evaluations rising in a row) while the train loss fell from {c} to {d}.",
      "eval_loss 从第 {step} 步的 {a} 升到第 {step2} 步的 {b}（连续 {n} 次评估上升），而训练损失从 {c} "
      "降到了 {d}。"),
    P("overfit_meaning", "Overfitting: the model is memorising the training data; what it learns "
      "no longer carries over to held-out data.", "过拟合：模型在记忆训练数据，学到的东西不再能推广到"
      "留出的数据上。"),
    P("overfit_advice", "Use the checkpoint nearest step {step} (save_steps equal to eval_steps "
      "keeps one per evaluation); train fewer epochs, with a lower learning_rate, more data or "
      "lora_dropout 0.05-0.1.", "使用最接近第 {step} 步的检查点（save_steps 与 eval_steps 相同可在每次"
      "评估时保留一个）；减少训练轮数，调小 learning_rate，增加数据，或把 lora_dropout 设为 0.05-0.1。"),
)

GENERIC: tuple[Pattern, ...] = (
    # --- the Train tab's severity, exceptions of any kind ------------------------------------
    P("warning", "{message} (warning)", "{message}（警告）", message="say"),
    P("problems", "{n} problems:", "{n} 个问题："),
    P("source_problems", "{path}: {n} problems:", "{path}：{n} 个问题："),
    # last: a known message under the key it concerns ("dataset: unknown dataset 'x' in ...")
    P("keyed", "{key}: {message}", "{key}：{message}", message="say"),
)
