"""English/中文 for the WebUI's chrome: tab names, group titles, buttons, headers, messages.

    t("start", "zh")                    # -> "开始训练"
    t("run_started", "en", name="x")    # str.format fields
    field_label("pref_beta", "zh")      # -> "偏好 β · pref_beta" (the key stays visible)

Field help comes from core.config (English); a field without an entry in LABELS shows its key.
Every entry has both languages (a test checks it).
"""
from __future__ import annotations

LANGS = {"en": "English", "zh": "中文"}
DEFAULT = "en"

TEXT: dict[str, dict[str, str]] = {
    # --- shell -----------------------------------------------------------------------------
    "title": {"en": "PrefStudio", "zh": "PrefStudio"},
    "subtitle": {"en": "Preference fine-tuning for Qwen models",
                 "zh": "Qwen 模型偏好微调"},
    "language": {"en": "Language", "zh": "语言"},
    "tab_data": {"en": "Data", "zh": "数据"},
    "tab_train": {"en": "Train", "zh": "训练"},
    "tab_runs": {"en": "Runs", "zh": "运行"},
    "tab_chat": {"en": "Chat", "zh": "对话"},
    "tab_evaluate": {"en": "Evaluate", "zh": "评估"},
    "tab_export": {"en": "Export", "zh": "导出"},
    "empty_choice": {"en": "(empty)", "zh": "（空）"},
    "default": {"en": "Default", "zh": "默认"},
    "login_title": {"en": "Log in to continue.", "zh": "请先登录。"},
    "login_user": {"en": "Username", "zh": "用户名"},
    "login_password": {"en": "Password", "zh": "密码"},
    "login_button": {"en": "Log in", "zh": "登录"},
    "login_failed": {"en": "Wrong username or password.", "zh": "用户名或密码错误。"},
    "done": {"en": "Done", "zh": "完成"},
    # --- data tab --------------------------------------------------------------------------
    "registry": {"en": "Registered datasets", "zh": "已注册数据集"},
    "registry_hint": {"en": "Click a row to preview it.", "zh": "点击一行以预览。"},
    "col_name": {"en": "Name", "zh": "名称"},
    "col_format": {"en": "Format", "zh": "格式"},
    "col_ranking": {"en": "Pairs", "zh": "成对"},
    "col_stages": {"en": "Stages", "zh": "适用阶段"},
    "col_records": {"en": "Records", "zh": "记录数"},
    "col_file": {"en": "File", "zh": "文件"},
    "col_error": {"en": "Problem", "zh": "问题"},
    "dataset": {"en": "Dataset", "zh": "数据集"},
    "preview_stage": {"en": "As rows for stage", "zh": "按阶段转换"},
    "page": {"en": "Page", "zh": "页"},
    "refresh": {"en": "Refresh", "zh": "刷新"},
    "preview": {"en": "Preview", "zh": "预览"},
    "check": {"en": "Check", "zh": "检查"},
    "lengths": {"en": "Token lengths", "zh": "Token 长度"},
    "rows_shown": {"en": "Rows {first}–{last} of {total}", "zh": "第 {first}–{last} 行，共 {total} 行"},
    "no_rows": {"en": "No row converts for this stage.", "zh": "该阶段没有可转换的行。"},
    "pick_dataset": {"en": "Pick a dataset in the table above.", "zh": "请在上表中选择数据集。"},
    "system": {"en": "system", "zh": "系统"},
    "user": {"en": "user", "zh": "用户"},
    "assistant": {"en": "assistant", "zh": "助手"},
    "prompt": {"en": "prompt", "zh": "提示"},
    "chosen": {"en": "chosen", "zh": "优选"},
    "rejected": {"en": "rejected", "zh": "劣选"},
    "desirable": {"en": "desirable", "zh": "期望"},
    "undesirable": {"en": "undesirable", "zh": "不期望"},
    "check_ok": {"en": "OK: the data can train", "zh": "通过：数据可用于训练"},
    "check_bad": {"en": "Not OK: fix the problems below", "zh": "未通过：请修复以下问题"},
    "check_cut": {"en": "OK: the data can train; records longer than the cutoff length are cut "
                        "or dropped (see below)",
                  "zh": "通过：数据可用于训练；超过截断长度的记录会被截断或丢弃（见下）"},
    "check_counts": {"en": "{total} records · {good} good rows · {bad} bad records · "
                           "{errors} errors · {dropped} dropped · {warnings} warnings",
                     "zh": "{total} 条记录 · {good} 行可用 · {bad} 条坏记录 · "
                           "{errors} 个错误 · {dropped} 条丢弃 · {warnings} 个警告"},
    "check_cutoff": {"en": "Cutoff length for the check", "zh": "检查用的截断长度"},
    "check_model": {"en": "Model (tokenizer) for the check", "zh": "检查用的模型（分词器）"},
    "check_used": {"en": "Tokens counted with the tokenizer of {model}, template: {template}",
                   "zh": "Token 数由 {model} 的分词器统计，模板：{template}"},
    "template_own": {"en": "the tokenizer's own", "zh": "分词器自带"},
    "check_no_model": {"en": "Pick a model for the check to count tokens and see what the "
                             "cutoff length cuts.",
                       "zh": "请选择检查用的模型，以统计 Token 数并查看截断长度会截掉什么。"},
    "per_page": {"en": "Rows per page", "zh": "每页行数"},
    "cuts_line": {"en": "Cutoff length {cutoff_len}, truncation {mode}: {prompts_cut} of "
                        "{records} records had their prompt cut, {answers_cut} their answer, "
                        "{tokens_removed} tokens removed, {dropped} dropped",
                  "zh": "截断长度 {cutoff_len}，截断方式 {mode}：{records} 条记录中 "
                        "{prompts_cut} 条的提示被截断，{answers_cut} 条的回答被截断，共删去 "
                        "{tokens_removed} 个 Token，丢弃 {dropped} 条"},
    "cuts_end": {"en": "A cut answer loses its end, end token included: the model does not "
                       "learn to stop on that example.",
                 "zh": "被截断的回答会失去结尾（包括结束符）：模型不会在该样本上学习停止。"},
    "cuts_dropped": {"en": "Dropped records count as bad records: a run starts only when their "
                           "share is at most max_bad_ratio.",
                     "zh": "被丢弃的记录计为坏记录：只有其比例不超过 max_bad_ratio 时训练才会开始。"},
    "tokens_all": {"en": "Tokens before truncation, all {rows} rows",
                   "zh": "截断前的 Token 数，全部 {rows} 行"},
    "no_tokens": {"en": "Token lengths need the model's tokenizer: {error}",
                  "zh": "统计 Token 长度需要模型的分词器：{error}"},
    "tokens_loading": {"en": "Counting tokens with {model}…", "zh": "正在用 {model} 统计 Token…"},
    "upload": {"en": "Upload and register a file", "zh": "上传并注册文件"},
    "upload_file": {"en": "Data file (.json, .jsonl, .parquet, .csv)",
                    "zh": "数据文件（.json、.jsonl、.parquet、.csv）"},
    "new_name": {"en": "Dataset name", "zh": "数据集名称"},
    "save_as": {"en": "Save the file as (inside data/)", "zh": "文件保存为（data/ 内）"},
    "formatting": {"en": "Format", "zh": "格式"},
    "ranking": {"en": "Pairs (chosen/rejected)", "zh": "成对（优选/劣选）"},
    "columns": {"en": "Columns: which field of a record holds what",
                "zh": "列映射：记录中哪个字段对应哪一项"},
    "tags": {"en": "Role names in the conversations", "zh": "对话中的角色名"},
    "allow_bad": {"en": "Register even with bad records (they are skipped)",
                  "zh": "即使有坏记录也注册（训练时跳过）"},
    "detect": {"en": "Detect", "zh": "检测"},
    "register": {"en": "Register", "zh": "注册"},
    "detected": {"en": "Detected {formatting}{pairs}: {rows} rows convert for stage {stage} "
                       "(suits {stages}). Edit below, then Register.",
                 "zh": "检测到 {formatting}{pairs}：{rows} 行可转换为 {stage} 阶段（适用 {stages}）。"
                       "可在下方修改，然后注册。"},
    "pairs_suffix": {"en": ", pairs", "zh": "，成对"},
    "registered": {"en": "Registered {name} in {registry}.", "zh": "已将 {name} 注册到 {registry}。"},
    "not_registered": {"en": "Not registered: {n} records have errors. Fix the columns, or tick "
                             "'Register even with bad records'.",
                       "zh": "未注册：{n} 条记录有错误。请修正列映射，或勾选“即使有坏记录也注册”。"},
    "need_file": {"en": "Upload a file first.", "zh": "请先上传文件。"},
    "need_name": {"en": "Give the dataset a name.", "zh": "请填写数据集名称。"},
    "upload_preview": {"en": "Preview before registering: the file's rows as stage {stage} reads "
                             "them with the columns above",
                       "zh": "注册前预览：按上方列映射，{stage} 阶段读取到的文件内容"},
    # --- train tab -------------------------------------------------------------------------
    "group_model": {"en": "Model loading", "zh": "模型加载"},
    "group_finetuning": {"en": "Stage and LoRA", "zh": "阶段与 LoRA"},
    "group_data": {"en": "Data", "zh": "数据"},
    "group_preference": {"en": "Preference", "zh": "偏好"},
    "group_grpo": {"en": "GRPO rewards and sampling", "zh": "GRPO 奖励与采样"},
    "group_optimisation": {"en": "Optimisation", "zh": "优化"},
    "group_devices": {"en": "Devices", "zh": "设备"},
    "launch_runs": {"en": "it runs one process per device through torchrun",
                    "zh": "它经 torchrun 为每个设备启动一个进程"},
    "launch_node": {"en": "on node {n}, run", "zh": "在节点 {n} 上执行"},
    "devices_gpus": {"en": "This machine: {n} GPU(s): {gpus}. Empty nproc_per_node uses all.",
                     "zh": "本机：{n} 个 GPU：{gpus}。nproc_per_node 留空即全部使用。"},
    "devices_cpu": {"en": "This machine: no GPU, {cpus} CPUs. Several processes (nproc_per_node) "
                          "train on the CPU over gloo; DeepSpeed and FSDP need CUDA GPUs.",
                    "zh": "本机：没有 GPU，{cpus} 个 CPU。多个进程（nproc_per_node）在 CPU 上经 gloo "
                          "训练；DeepSpeed 和 FSDP 需要 CUDA GPU。"},
    "group_output": {"en": "Saving and logging", "zh": "保存与日志"},
    "start": {"en": "Start", "zh": "开始训练"},
    "abort": {"en": "Abort", "zh": "中止"},
    "save_yaml": {"en": "Save YAML", "zh": "保存 YAML"},
    "load_yaml": {"en": "Load YAML", "zh": "加载 YAML"},
    "yaml_path": {"en": "YAML file (saves/, data/ or examples/)",
                  "zh": "YAML 文件（saves/、data/ 或 examples/）"},
    "yaml": {"en": "Config (YAML)", "zh": "配置（YAML）"},
    "command": {"en": "The same run from a shell", "zh": "在终端中运行同样的训练"},
    "problems": {"en": "Fix these before starting", "zh": "开始前请修复以下问题"},
    "valid": {"en": "The config is valid.", "zh": "配置有效。"},
    "name_at_start": {"en": "run_name is empty: the run is named when it starts.",
                      "zh": "run_name 为空：开始时自动命名。"},
    "saved_yaml": {"en": "Saved {path}. Run it with the command above.",
                   "zh": "已保存 {path}，可用上方命令运行。"},
    "loaded_yaml": {"en": "Loaded {path}.", "zh": "已加载 {path}。"},
    "run_started": {"en": "Started {name}: follow it in Runs.", "zh": "已开始 {name}：在“运行”页查看。"},
    "no_run_to_abort": {"en": "No run started from this page is active.",
                        "zh": "本页面没有正在进行的训练。"},
    "abort_sent": {"en": "Abort requested for {name}: it saves a checkpoint and stops.",
                   "zh": "已请求中止 {name}：保存检查点后停止。"},
    "group_main": {"en": "Main settings", "zh": "常用设置"},
    "n_changed": {"en": "{n} changed", "zh": "{n} 项已改"},
    "yaml_path_info": {"en": "Save YAML writes here (empty: saves/configs/, never a run folder); "
                             "Load reads it.",
                       "zh": "“保存 YAML”写到这里（留空则写入 saves/configs/，不会写进运行目录）；"
                             "“加载 YAML”从这里读取。"},
    "save_first": {"en": "Save YAML first: {path} does not hold this form's config yet.",
                   "zh": "请先点击“保存 YAML”：{path} 里还不是当前表单的配置。"},
    "command_unparsable": {"en": "Fix the marked values first (Preview lists them).",
                           "zh": "请先修正标出的值（“预览”会列出）。"},
    "reset_form": {"en": "Reset to defaults", "zh": "恢复默认"},
    "reset_info": {"en": "Reset keeps the model and dataset and puts every other value back: "
                         "the demo's tuned values while you train the demo, else the config "
                         "defaults.",
                   "zh": "“恢复默认”保留模型与数据集，其余各项恢复默认：训练演示模型时为演示的调优值，"
                         "否则为配置默认值。"},
    "reset_done": {"en": "Reset to the defaults.", "zh": "已恢复默认值。"},
    "demo_left": {"en": "Not the demo any more, so its tuned values went back to the config "
                        "defaults: {changes}.",
                  "zh": "已不是演示配置，其调优值已恢复为配置默认值：{changes}。"},
    "cleared_output": {"en": "Loaded the config of {name}; output_dir and run_name were cleared, "
                             "so Start makes a new run.",
                       "zh": "已载入 {name} 的配置；已清空 output_dir 与 run_name，开始后将新建一次运行。"},
    # --- runs tab --------------------------------------------------------------------------
    "runs": {"en": "Runs", "zh": "运行列表"},
    "runs_hint": {"en": "Click a run to follow it; pick more in 'Compare' to overlay their curves.",
                  "zh": "点击一行查看运行；在“对比”中选择多个运行以叠加曲线。"},
    "selected_runs": {"en": "Compare", "zh": "对比"},
    "col_run": {"en": "Run", "zh": "运行"},
    "col_state": {"en": "State", "zh": "状态"},
    "col_stage": {"en": "Stage", "zh": "阶段"},
    "col_model": {"en": "Model", "zh": "模型"},
    "col_dataset": {"en": "Dataset", "zh": "数据集"},
    "col_progress": {"en": "Progress", "zh": "进度"},
    "col_age": {"en": "Started", "zh": "开始于"},
    "no_runs": {"en": "No runs yet: start one in Train, or with `python -m core train x.yaml`.",
                "zh": "还没有运行：在“训练”页开始，或用 `python -m core train x.yaml`。"},
    "resume": {"en": "Resume", "zh": "继续"},
    "delete": {"en": "Delete", "zh": "删除"},
    "confirm_delete": {"en": "Delete {name} for good", "zh": "永久删除 {name}"},
    "cancel": {"en": "Cancel", "zh": "取消"},
    "to_train": {"en": "Load config into Train", "zh": "载入到训练页"},
    "log": {"en": "train.log (last lines)", "zh": "train.log（末尾）"},
    "config": {"en": "config.yaml", "zh": "config.yaml"},
    "charts": {"en": "Curves", "zh": "曲线"},
    "deleted": {"en": "Deleted {name}.", "zh": "已删除 {name}。"},
    "resumed": {"en": "Resuming {name}.", "zh": "正在继续 {name}。"},
    "pick_run": {"en": "Pick a run first.", "zh": "请先选择一个运行。"},
    "elapsed": {"en": "elapsed", "zh": "已用"},
    "eta": {"en": "left", "zh": "剩余"},
    "pairs_per_s": {"en": "pairs/s", "zh": "对/秒"},
    "samples_per_s": {"en": "samples/s", "zh": "样本/秒"},
    "tokens_per_s": {"en": "tokens/s", "zh": "词元/秒"},
    "step": {"en": "step", "zh": "步"},
    # the set-up phases before a run's first step: core.runs.progress.PHASES
    "phase_data": {"en": "Loading and tokenizing the data", "zh": "正在加载并分词数据"},
    "phase_imports": {"en": "Loading the training libraries", "zh": "正在加载训练库"},
    "phase_model": {"en": "Loading the model", "zh": "正在加载模型"},
    "phase_ref_model": {"en": "Loading the reference model", "zh": "正在加载参考模型"},
    "phase_reference": {"en": "Computing reference log-probs", "zh": "正在计算参考模型对数概率"},
    "phase_trainer": {"en": "Setting up the trainer", "zh": "正在准备训练器"},
    "phase_start": {"en": "Starting training", "zh": "正在启动训练"},
    "phase_count_pairs": {"en": "{done}/{total} pairs", "zh": "{done}/{total} 对"},
    "phase_count_rows": {"en": "{done}/{total} rows", "zh": "{done}/{total} 行"},
    "phase_count_items": {"en": "{done}/{total}", "zh": "{done}/{total}"},
    "ago": {"en": "{t} ago", "zh": "{t}前"},
    "just_now": {"en": "just now", "zh": "刚刚"},
    "state_created": {"en": "created", "zh": "已创建"},
    "state_queued": {"en": "queued", "zh": "排队中"},
    "state_running": {"en": "running", "zh": "训练中"},
    "state_completed": {"en": "completed", "zh": "已完成"},
    "state_failed": {"en": "failed", "zh": "失败"},
    "state_aborted": {"en": "aborted", "zh": "已中止"},
    "stopping": {"en": "stopping", "zh": "停止中"},
    "starting": {"en": "starting", "zh": "启动中"},
    "abort_queued": {"en": "Took {name} off the queue: it had not started.",
                     "zh": "已将 {name} 移出队列：它尚未开始。"},
    "abort_starting": {"en": "Abort requested for {name}: it stops before training begins.",
                       "zh": "已请求中止 {name}：将在训练开始前停止。"},
    "queue_position": {"en": "#{n} in the queue", "zh": "队列第 {n} 位"},
    "queue_wait": {"en": "It starts when a running run ends and the {n} ahead of it have "
                         "started.",
                   "zh": "有运行结束、且前面的 {n} 个已开始后，它才会开始。"},
    "queue_next": {"en": "It starts as soon as a running run ends.",
                   "zh": "有运行结束后立即开始。"},
    "failure_title": {"en": "Why it failed", "zh": "失败原因"},
    "failure_details": {"en": "Details: the whole error and the last lines of train.log",
                        "zh": "详情：完整错误与 train.log 末尾"},
    "fix_raise": {"en": "To fix: raise {field} in {place}.", "zh": "修复：在 {place} 中调大 {field}。"},
    "fix_lower": {"en": "To fix: lower {field} in {place}.", "zh": "修复：在 {place} 中调小 {field}。"},
    "fix_change": {"en": "To fix: change {field} in {place} as the message says.",
                   "zh": "修复：按提示在 {place} 中修改 {field}。"},
    "fix_how": {"en": "'{load}' copies this run's settings there; change it and press {start}.",
                "zh": "“{load}”会把本次运行的设置带过去；修改后点击“{start}”。"},
    "fix_data_check": {"en": "Data → Check lists every bad record with its file and field.",
                       "zh": "“数据”页的“检查”会列出每条坏记录及其文件和字段。"},
    "fix_none": {"en": "Read the details below; '{load}' copies this run's settings into Train.",
                 "zh": "请查看下方详情；“{load}”可将本次运行的设置带到训练页。"},
    "no_resume_before_step": {"en": "Resume is off: the run failed before its first step, so it "
                                    "would fail the same way. Fix the cause and start it again.",
                              "zh": "无法继续：运行在第一步之前就失败了，继续只会再次失败。请修复原因后重新开始。"},
    "alarm_seen": {"en": "Seen", "zh": "现象"},
    "alarm_meaning": {"en": "Usually means", "zh": "通常意味着"},
    "alarm_advice": {"en": "Try", "zh": "可以尝试"},
    "alarm_at": {"en": "step {step}", "zh": "第 {step} 步"},
    "alarm_not_finite": {"en": "Loss is NaN or infinite", "zh": "损失为 NaN 或无穷大"},
    "alarm_diverging": {"en": "Training is diverging", "zh": "训练发散"},
    "alarm_grad_spike": {"en": "Gradient spike", "zh": "梯度尖峰"},
    "alarm_stuck": {"en": "The model is not learning", "zh": "模型没有在学习"},
    "alarm_too_easy": {"en": "The pairs are too easy", "zh": "数据对过于简单"},
    "alarm_displacement": {"en": "Chosen answers are getting less likely", "zh": "优选回答的概率在下降"},
    "alarm_overfitting": {"en": "Overfitting", "zh": "过拟合"},
    "diff_title": {"en": "How the picked runs differ", "zh": "所选运行的差异"},
    "diff_config": {"en": "Settings that differ", "zh": "不同的设置"},
    "diff_same": {"en": "Every setting is the same (output_dir and run_name aside).",
                  "zh": "除 output_dir 与 run_name 外，所有设置都相同。"},
    "diff_evaluation": {"en": "Evaluation (Evaluate tab)", "zh": "评估结果（“评估”页）"},
    "diff_no_eval": {"en": "None of them has been evaluated yet: see the Evaluate tab.",
                     "zh": "它们都还没有评估结果：请在“评估”页评估。"},
    "diff_training": {"en": "Training", "zh": "训练"},
    "diff_eval_dataset": {"en": "Eval dataset", "zh": "评估数据集"},
    "summary_initial_train_loss": {"en": "First loss", "zh": "初始损失"},
    "summary_final_train_loss": {"en": "Final loss", "zh": "最终损失"},
    "summary_best_eval_loss": {"en": "Best eval loss", "zh": "最佳评估损失"},
    "summary_final_eval_loss": {"en": "Final eval loss", "zh": "最终评估损失"},
    "summary_steps": {"en": "Steps", "zh": "步数"},
    "summary_total_steps": {"en": "Total steps", "zh": "总步数"},
    "summary_state": {"en": "State", "zh": "状态"},
    "summary_training_time_s": {"en": "Training time (s)", "zh": "训练用时（秒）"},
    "summary_alarms": {"en": "Alarms", "zh": "告警"},
    # --- charts ----------------------------------------------------------------------------
    "chart_loss": {"en": "Loss", "zh": "损失"},
    "chart_rewards": {"en": "Rewards: chosen and rejected", "zh": "奖励：优选与劣选"},
    "chart_margins": {"en": "Reward margin", "zh": "奖励差"},
    "chart_accuracies": {"en": "Reward accuracy", "zh": "奖励准确率"},
    "chart_lr": {"en": "Learning rate", "zh": "学习率"},
    "chart_eval": {"en": "Evaluation", "zh": "评估"},
    "smoothed": {"en": "smoothed", "zh": "平滑"},
    "waiting_metrics": {"en": "Waiting for the first logged step", "zh": "等待第一个记录步"},
    "no_eval": {"en": "No evaluation yet (set val_size or eval_dataset)",
                "zh": "暂无评估（设置 val_size 或 eval_dataset）"},
    # --- run doctor (webui/doctor.py) ------------------------------------------------------
    "doctor_title": {"en": "Doctor", "zh": "训练诊断"},
    "doctor_scored_hint": {"en": "Two pairs exactly as the model sees them; highlighted tokens "
                           "are scored by the loss.",
                           "zh": "模型实际看到的两组样本；高亮的词元计入损失。"},
    "doctor_first": {"en": "First pair", "zh": "第一组"},
    "doctor_longest": {"en": "Longest pair", "zh": "最长的一组"},
    "doctor_counts": {"en": "{tokens} tokens, {scored} scored",
                      "zh": "{tokens} 个词元，{scored} 个计入损失"},
    "doctor_cut": {"en": "✂ {n} more tokens cut at cutoff_len",
                   "zh": "✂ 另有 {n} 个词元被 cutoff_len 截断"},
    "doctor_try": {"en": "Try:", "zh": "建议："},
}
# More texts in tables of their own (webui/i18n_extra.py, webui/i18n_model_tabs.py).
from .i18n_extra import MORE as _MORE  # noqa: E402
from .i18n_fields import label as more_label  # noqa: E402
from .i18n_model_tabs import MODEL_TABS as _MODEL_TABS  # noqa: E402

for _table in (_MORE, _MODEL_TABS):
    if TEXT.keys() & _table.keys():
        raise RuntimeError(f"texts defined twice: {sorted(TEXT.keys() & _table.keys())}")
    TEXT.update(_table)

# Friendly names for the most visible fields; the key is always shown too, since YAML and the
# command line use it. A field without an entry shows its key only.
LABELS: dict[str, dict[str, str]] = {
    "model_name_or_path": {"en": "Model", "zh": "模型"},
    "template": {"en": "Chat template", "zh": "对话模板"},
    "finetuning_type": {"en": "Finetuning type", "zh": "微调方法"},
    "adapter_name_or_path": {"en": "Start from adapters", "zh": "起始适配器"},
    "quantization_bit": {"en": "Quantization", "zh": "量化"},
    "stage": {"en": "Stage", "zh": "训练阶段"},
    "dataset": {"en": "Dataset", "zh": "数据集"},
    "eval_dataset": {"en": "Eval dataset", "zh": "评估数据集"},
    "dataset_dir": {"en": "Data folder", "zh": "数据目录"},
    "cutoff_len": {"en": "Cutoff length", "zh": "截断长度"},
    "max_samples": {"en": "Max samples", "zh": "最大样本数"},
    "val_size": {"en": "Validation size", "zh": "验证集比例"},
    "pref_beta": {"en": "Beta", "zh": "偏好 β"},
    "pref_loss": {"en": "Preference loss", "zh": "偏好损失"},
    "pref_ftx": {"en": "SFT loss weight", "zh": "SFT 损失权重"},
    "dpo_label_smoothing": {"en": "Label smoothing", "zh": "标签平滑"},
    "simpo_gamma": {"en": "SimPO gamma", "zh": "SimPO γ"},
    "ref_model": {"en": "Reference model", "zh": "参考模型"},
    "ref_model_adapters": {"en": "Reference adapters", "zh": "参考模型适配器"},
    "ref_model_quantization_bit": {"en": "Reference quantization", "zh": "参考模型量化"},
    "lora_rank": {"en": "LoRA rank", "zh": "LoRA 秩"},
    "lora_alpha": {"en": "LoRA alpha", "zh": "LoRA α"},
    "lora_dropout": {"en": "LoRA dropout", "zh": "LoRA 丢弃率"},
    "lora_target": {"en": "LoRA modules", "zh": "LoRA 作用模块"},
    "learning_rate": {"en": "Learning rate", "zh": "学习率"},
    "num_train_epochs": {"en": "Epochs", "zh": "训练轮数"},
    "max_steps": {"en": "Max steps", "zh": "最大步数"},
    "per_device_train_batch_size": {"en": "Batch size", "zh": "批大小"},
    "gradient_accumulation_steps": {"en": "Gradient accumulation", "zh": "梯度累积"},
    "lr_scheduler_type": {"en": "LR schedule", "zh": "学习率调度"},
    "warmup_ratio": {"en": "Warmup ratio", "zh": "预热比例"},
    "logging_steps": {"en": "Log every", "zh": "日志间隔"},
    "save_steps": {"en": "Save every", "zh": "保存间隔"},
    "output_dir": {"en": "Run folder", "zh": "输出目录"},
    "run_name": {"en": "Run name", "zh": "运行名称"},
    "seed": {"en": "Seed", "zh": "随机种子"},
}


def t(key: str, lang: str = DEFAULT, **fields) -> str:
    """The text for `key` in `lang` (English when missing), formatted with `fields`."""
    entry = TEXT.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT]
    return text.format(**fields) if fields else text


def sentences(parts: list[str], lang: str = DEFAULT) -> str:
    """Sentences one after the other, as the language writes them."""
    text = ""
    for part in filter(None, parts):
        text = t("two_sentences", lang, a=text, b=part) if text else part
    return text


def field_label(key: str, lang: str = DEFAULT) -> str:
    entry = LABELS.get(key)
    if entry is None:  # the other fields' 中文 labels: webui/i18n_fields.py
        more = more_label(key, lang)
        return f"{more} · {key}" if more else key
    return f"{entry.get(lang) or entry[DEFAULT]} · {key}"


def group_title(group: str, lang: str = DEFAULT) -> str:
    return t(f"group_{group}", lang) if f"group_{group}" in TEXT else group.replace("_", " ").title()


def state_label(state: str, lang: str = DEFAULT) -> str:
    return t(f"state_{state}", lang) if f"state_{state}" in TEXT else state
