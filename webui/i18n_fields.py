"""中文 for every config field (core.config.FIELDS): its label and its help, keyed by field name.

    label("flash_attn", "zh")      # -> "注意力实现" (webui.i18n.field_label adds " · flash_attn")
    help_text("cutoff_len", "zh")  # -> the 中文 help; English (core's own) in any other language

The English help lives in core/config/fields.py, the one source; these are its translations.
The fields webui.i18n.LABELS names have their label there (both languages); this table has
the 中文 labels of all the others. tests/test_i18n_fields.py fails when a field has no label or
help here, when an entry names a field that is gone, and when a translation leaves out a config
key, a choice or a number its English help names, so a changed English help asks for its
translation to be redone.
"""
from __future__ import annotations

from core.config import FIELDS
from core.config.choices import NAME_MAX

# 中文 labels of the fields webui.i18n.LABELS does not name (it names the most visible ones in
# both languages); the key is shown after the label, as YAML and the command line use it.
LABELS: dict[str, str] = {
    "enable_thinking": "思考模式",
    "trust_remote_code": "信任远程代码",
    "quantization_type": "量化数据类型",
    "double_quantization": "双重量化",
    "flash_attn": "注意力实现",
    "use_rslora": "使用 rsLoRA",
    "use_dora": "使用 DoRA",
    "pissa_init": "PiSSA 初始化",
    "freeze_trainable_layers": "可训练层数",
    "truncation": "截断方式",
    "mix_strategy": "数据集混合策略",
    "interleave_probs": "交错采样比例",
    "train_on_prompt": "在提示上训练",
    "packing": "序列打包",
    "prefix_sharing": "共享提示前缀",
    "group_by_length": "按长度分组",
    "max_bad_ratio": "坏记录比例上限",
    "pref_beta_schedule": "β 调度",
    "pref_beta_start": "起始 β",
    "pref_beta_end": "结束 β",
    "ld_alpha": "LD-DPO α",
    "kto_chosen_weight": "KTO 期望样本权重",
    "kto_rejected_weight": "KTO 不期望样本权重",
    "reward_funcs": "奖励函数",
    "reward_weights": "奖励权重",
    "reward_answer_column": "答案列",
    "reward_format_regex": "格式正则",
    "reward_length_target": "目标长度",
    "reward_model": "奖励模型",
    "num_generations": "每组生成数",
    "max_completion_length": "最大生成长度",
    "grpo_beta": "KL 系数",
    "temperature": "采样温度",
    "per_device_eval_batch_size": "评估批大小",
    "min_lr_ratio": "最小学习率比例",
    "warmup_steps": "预热步数",
    "weight_decay": "权重衰减",
    "max_grad_norm": "梯度裁剪阈值",
    "optim": "优化器",
    "adam_beta1": "Adam β1",
    "adam_beta2": "Adam β2",
    "adam_epsilon": "Adam ε",
    "lr_scheduler_kwargs": "调度器参数",
    "bf16": "bf16 混合精度",
    "pure_bf16": "纯 bf16 训练",
    "fp16": "fp16 混合精度",
    "chunked_logps": "分块计算对数概率",
    "gradient_checkpointing": "梯度检查点",
    "dataloader_num_workers": "数据加载进程数",
    "ddp_timeout": "分布式超时（秒）",
    "nproc_per_node": "本机进程数",
    "nnodes": "节点数",
    "node_rank": "本节点编号",
    "master_addr": "主节点地址",
    "master_port": "主节点端口",
    "deepspeed": "DeepSpeed 配置",
    "fsdp": "FSDP 选项",
    "fsdp_config": "FSDP 额外设置",
    "ddp_find_unused_parameters": "查找未用参数（DDP）",
    "save_strategy": "保存策略",
    "save_only_model": "仅保存模型权重",
    "save_total_limit": "检查点数量上限",
    "eval_strategy": "评估策略",
    "eval_steps": "评估间隔",
    "plot_loss": "绘制损失曲线",
    "report_to": "实验记录工具",
    "stop_on_alarm": "告警时停止",
    "resume_from_checkpoint": "从检查点继续",
    "overwrite_output_dir": "覆盖输出目录",
}

HELP: dict[str, str] = {
    # --- model ---------------------------------------------------------------------------
    "model_name_or_path": "Hub ID（如 Qwen/Qwen2.5-0.5B-Instruct）、本地文件夹，或 'demo'（内置的小模型）。",
    "adapter_name_or_path": "作为起点的适配器，逗号分隔（如某次 SFT 运行的目录）。DPO 的参考模型随之变为"
                            "基座 + 这些适配器。",
    "template": "对话模板，按 LLaMA-Factory 的方式渲染。留空：用分词器自带的模板；qwen：带 Qwen 默认"
                "系统提示词的 ChatML（Qwen2/2.5）；qwen3：带 <think> 块的 ChatML；qwen3_nothink：纯 "
                "ChatML（Qwen3 Instruct-2507）；default：'Human:' / 'Assistant:' 对话行，以 eos 结尾；"
                "empty：只有文本本身，没有结束符。",
    "enable_thinking": "仅 Qwen3：让模型先思考（<think>...</think>）再回答。",
    "trust_remote_code": "运行模型自带的 Python 代码。只在你信任的 YAML 中设置。",
    "quantization_bit": "用 bitsandbytes 以 4 位或 8 位加载基座模型（QLoRA）。需要 CUDA GPU。",
    "quantization_type": "4 位量化的数据类型。",
    "double_quantization": "对 4 位量化的量化常数再做一次量化（每个权重约省 0.4 位）。",
    "flash_attn": "注意力内核：auto 在可用时选择 sdpa。flex：PyTorch 的 FlexAttention，它的块掩码会跳过"
                  "前缀共享和打包所屏蔽的部分（首次使用时编译；需要 CUDA GPU）。",
    # --- stage and LoRA --------------------------------------------------------------------
    "stage": "训练什么：sft、dpo（ORPO/SimPO 也由 pref_loss 选择）、kto、rm（奖励模型）、grpo。",
    "finetuning_type": "lora：训练小型适配器；full：训练全部权重；freeze：只训练最后几层。",
    "lora_rank": "LoRA 的秩 r。",
    "lora_alpha": "LoRA 缩放系数 α。留空：2 × lora_rank。",
    "lora_dropout": "LoRA 输入上的丢弃率（Dropout）。",
    "lora_target": "加 LoRA 的模块，逗号分隔（q_proj,v_proj），或 'all' 表示全部线性层。",
    "use_rslora": "秩稳定的 LoRA 缩放（α / √r）。",
    "use_dora": "权重分解的 LoRA（DoRA）。",
    "pissa_init": "用主奇异向量初始化 LoRA（PiSSA）。",
    "freeze_trainable_layers": "freeze：训练最后 N 个解码器层（负数：最前面的 N 层；不能为 0，且不超过"
                               "模型的层数）。",
    # --- data ----------------------------------------------------------------------------
    "dataset": "dataset_info.json 中的数据集名称，逗号分隔。",
    "eval_dataset": "用于评估的数据集，逗号分隔。",
    "dataset_dir": "存放数据文件的文件夹。其中有 dataset_info.json 时使用它，因此 LLaMA-Factory 的 "
                   "data/ 文件夹可以原样使用。",
    "cutoff_len": "每条序列（提示 + 回答）的最大 Token 数。更长的记录按 truncation 的设置截断或拒绝。",
    "truncation": "记录超过 cutoff_len 时：llamafactory 按 LLaMA-Factory 的方式截断（短回答保持完整，"
                  "提示保留开头）；keep_recent 先丢弃最早的轮次，再截掉提示的开头；drop 把它作为坏记录"
                  "跳过；error 终止训练。",
    "mix_strategy": "有多个数据集时：concat 依次拼接；interleave_under 在第一个数据集用完时停止；"
                    "interleave_over 重复较短的数据集；interleave_once 每条记录最多用一次。",
    "interleave_probs": "mix_strategy 为 interleave_under、interleave_over 或 interleave_once 时："
                        "各数据集的占比，逗号分隔（如 0.7,0.3），总和为 1。留空：轮流取各数据集。",
    "max_samples": "每个数据集最多使用这么多条记录。",
    "val_size": "从训练数据中留出用于评估的比例（0-1）或条数（>=1）（不能与 eval_dataset 同时使用）。",
    "train_on_prompt": "sft：除每个助手轮次外，也在提示 Token（系统和用户轮次）上训练。",
    "packing": "把多条序列打包进同一行，不做填充；注意力只在各自的序列内，位置编号重新开始。留空：dpo "
               "和 rm 开启，sft 关闭。dpo、rm：一个批次的各对共用最长 2 × cutoff_len 个 Token 的行"
               "（结果完全相同；批次仍按对计数）；sft：把对话打包进 cutoff_len 长的序列。",
    "prefix_sharing": "dpo、rm：每个提示只编码一次：每对一条序列（提示、优选回答、劣选回答），其中劣选"
                      "回答能看到提示，但看不到优选回答。结果完全相同（rm 在普通布局读取奖励的同一位置读取"
                      "每个奖励）；关闭：优选和劣选回答作为两条序列。",
    "group_by_length": "dpo、rm：把长度相近的对放进同一批次（最多 50 个批次为一组，组内按长度排序，各组打乱），"
                       "让打包更满、少算填充；关闭：普通打乱。",
    "max_bad_ratio": "坏记录占比高于此值时拒绝训练（0：有任何坏记录都不训练）。未超过此限的坏记录会被"
                     "跳过，并列在 train.log 中。",
    # --- preference ----------------------------------------------------------------------
    "pref_beta": "β：向参考模型靠拢的强度（DPO、KTO）、几率比项的权重（ORPO）或奖励的缩放（SimPO）。",
    "pref_beta_schedule": "constant：全程使用 pref_beta；linear：在训练的所有步中从 pref_beta_start "
                          "线性变化到 pref_beta_end。",
    "pref_beta_start": "linear 调度：第一步的 β。留空：pref_beta。",
    "pref_beta_end": "linear 调度：最后一步的 β（linear 必须设置）。",
    "pref_loss": "成对损失：sigmoid（DPO）、hinge（SLiC）、ipo、kto_pair、robust、orpo、simpo。",
    "pref_ftx": "在优选回答上附加的 SFT 损失的权重，与偏好损失相加。",
    "dpo_label_smoothing": "假定被标反的标签比例（sigmoid 时为 cDPO，robust 时为稳健 DPO）。",
    "simpo_gamma": "SimPO 的目标奖励差 γ。",
    "ld_alpha": "LD-DPO：回答中超出较短回答长度的 Token 的权重（0-1）。留空：关闭。",
    "kto_chosen_weight": "KTO：期望样本损失的权重。应使 kto_chosen_weight × 期望样本数 / "
                         "(kto_rejected_weight × 不期望样本数) 介于 1 和 4/3 之间；训练时会给出建议值。",
    "kto_rejected_weight": "KTO：不期望样本损失的权重。",
    "ref_model": "单独的参考模型。留空：关闭适配器的策略模型（LoRA）或冻结的副本（full）。",
    "ref_model_adapters": "加在 ref_model 上的适配器，逗号分隔。",
    "ref_model_quantization_bit": "以 4 位或 8 位加载 ref_model（CUDA）。",
    # --- GRPO ----------------------------------------------------------------------------
    "reward_funcs": "内置奖励，逗号分隔：answer_match（最终答案与数据集中的列相同）、format（匹配正则"
                    "表达式）、length（接近目标长度）、reward_model（rm 运行打出的分数）。自定义函数："
                    "在命令行中用 --reward-func 模块:函数。",
    "reward_weights": "各奖励的权重，逗号分隔，顺序为 reward_funcs 中的奖励，然后是 --reward-func 的"
                      "函数。留空：每个都为 1。",
    "reward_answer_column": "answer_match：存放期望答案的数据集列。",
    "reward_format_regex": "format：补全的开头与此正则表达式匹配时得 1 分（. 也匹配换行）。",
    "reward_length_target": "length：得 1 分的补全长度（Token 数）；得分向两侧线性下降，在 0 和目标的"
                            "两倍处为 0。",
    "reward_model": "reward_model：一次 rm 运行的目录（如 saves/rm-demo）。",
    "num_generations": "每个提示采样的补全数（一组）。per_device_train_batch_size × "
                       "gradient_accumulation_steps 按补全计数，必须是它的倍数。",
    "max_completion_length": "每个补全最多生成的 Token 数。",
    "grpo_beta": "朝参考模型的 KL 权重（0：不跑参考模型，更快；DeepSeek-R1 用的是 0.001）。",
    "temperature": "生成时的采样温度。",
    # --- optimisation --------------------------------------------------------------------
    "learning_rate": "峰值学习率。",
    "num_train_epochs": "遍历数据的轮数（max_steps > 0 时忽略）。",
    "max_steps": "训练到这么多个优化器步后停止（-1：按轮数）。",
    "per_device_train_batch_size": "每个设备每步的数据对（或样本）数。",
    "per_device_eval_batch_size": "评估时的批大小。",
    "gradient_accumulation_steps": "每次优化器更新前累积的批数。",
    "lr_scheduler_type": "预热之后的学习率调度方式。",
    "min_lr_ratio": "cosine 调度的下限，以 learning_rate 的比例表示（如 learning_rate/10）。",
    "warmup_ratio": "用于学习率预热的步数占比。",
    "warmup_steps": "预热步数（> 0 时取代 warmup_ratio）。",
    "weight_decay": "AdamW 的权重衰减。",
    "max_grad_norm": "把梯度范数裁剪到此值（0：不裁剪）。",
    "optim": "优化器（用 transformers 中的名称）。8 位、分页和 Lion 优化器需要装有 bitsandbytes "
             "的 CUDA GPU。",
    "adam_beta1": "Adam 的 β1（动量），小于 1。",
    "adam_beta2": "Adam 的 β2（二阶矩衰减），小于 1。",
    "adam_epsilon": "Adam 的 ε。",
    "lr_scheduler_kwargs": '额外的调度器参数，写成 JSON（也可写 YAML 映射），如 cosine_with_min_lr 用 '
                           '{"min_lr": 1e-6}，或 {"num_cycles": 2}。它们优先于 min_lr_ratio。',
    "seed": "数据顺序、Dropout 和初始化所用的随机种子。",
    "bf16": "以 bfloat16 训练（GPU）。不支持时回退到 fp32 并给出警告。",
    "pure_bf16": "权重保持为 bfloat16，不用混合精度训练（比 bf16 更省内存，后者保留 fp32 主权重）。",
    "fp16": "以 float16 训练，并做损失缩放（仅 CUDA）。",
    "chunked_logps": "只在被计分的（回答）Token 上应用输出层，一次一块，用重算代替保存 [Token × 词表] "
                     "的输出：大大节省内存。结果完全相同；关闭：dpo 从批次的第一个回答 Token 起，为每个"
                     "位置计算输出，包括填充和其他行的提示；kto 使用 TRL 的融合输出层，它不包含 "
                     "lm_head 上的 LoRA。",
    "gradient_checkpointing": "反向传播时重新计算激活值：更省内存，约慢 30%。",
    "dataloader_num_workers": "数据加载的工作进程数：最多为本机每个 CPU 一个（CPU 少于 4 个时最多 4 个）。",
    "ddp_timeout": "多进程（torchrun）训练等待其他进程的秒数，超时即失败。",
    "nproc_per_node": "本机上的训练进程数，每个 GPU 一个。留空：所有可见 GPU（没有 GPU 的机器上为 1）。"
                      "多于 1 个时，运行经 torchrun 启动。",
    "nnodes": "运行跨越的机器（节点）数；每个节点运行 nproc_per_node 个进程。运行开始时会打印其他节点要执行的"
              "命令。",
    "node_rank": "本机在各节点中的编号（0：写运行目录的那一台）。",
    "master_addr": "节点 0 的地址，每个节点都必须能连到它。",
    "master_port": "节点 0 上供各进程会合的空闲 TCP 端口。",
    "deepspeed": "DeepSpeed ZeRO（CUDA GPU）：预设（z0、z2、z2_offload、z3、z3_offload；写入运行目录的 "
                 "deepspeed.json）或 DeepSpeed JSON 配置文件的路径。留空：普通数据并行（DDP）。",
    "fsdp": "PyTorch FSDP（CUDA GPU），transformers 的选项，以空格分隔，如 full_shard auto_wrap（以 "
            "Qwen 的解码层为包装单位）。留空：不用 FSDP。",
    "fsdp_config": 'FSDP 的额外设置，写成 JSON（也可写 YAML 映射）或 JSON 文件的路径；它们优先于 fsdp '
                   '的设置，如 FSDP1 用 {"version": 1}。留空：FSDP2。',
    "ddp_find_unused_parameters": "DDP：每步查找没有梯度的参数（更慢；只在某些受训练的层未被用到时需要）。"
                                  "LoRA 和全参训练都应关闭。",
    # --- saving and logging --------------------------------------------------------------
    "output_dir": "运行目录。留空：saves/<run_name>。",
    "run_name": f"运行名称，最多 {NAME_MAX} 字节。未设置 output_dir 时它就是文件夹 saves/<run_name> 的名字，"
                "因此只能是单个文件夹名（不含 /）。留空：<stage>-<dataset>-<日期>-<时间>。",
    "logging_steps": "每 N 个优化器步记录一次指标。",
    "save_strategy": "何时保存检查点：steps 每 save_steps 步，epoch 每轮，no 不保存（只保存最终模型；"
                     "中止时仍会保存一个）。",
    "save_steps": "每 N 步保存一个可继续训练的检查点。",
    "save_only_model": "检查点只保存权重，不保存优化器和调度器状态：更小，但不能从它继续训练。",
    "save_total_limit": "最多保留这么多个检查点。",
    "eval_strategy": "设置了 val_size 或 eval_dataset 时何时评估：steps 每 eval_steps 步，epoch 每轮，"
                     "no 不评估。",
    "eval_steps": "每 N 步评估一次（需要 val_size 或 eval_dataset）。留空：同 logging_steps。",
    "plot_loss": "结束时另把损失曲线（loss、平滑曲线、eval_loss）画到运行目录下的 training_loss.svg。",
    "report_to": "同时记录到 tensorboard、wandb、swanlab 或 mlflow（须已安装对应的包；metrics.jsonl "
                 "总会写入）。",
    "stop_on_alarm": "有告警触发时停止训练（损失停在初始值、发散、NaN、过拟合等）：先保存检查点，运行以"
                     "“已中止”结束并记下告警原因，可用 resume_from_checkpoint=true 继续。关闭：告警只显示。",
    "resume_from_checkpoint": "true：从 output_dir 中最新的完整检查点继续；填路径：从该检查点继续。",
    "overwrite_output_dir": "LLaMA-Factory 的键，为兼容其 YAML 而保留。不会删除任何东西：无论 true 还是 "
                            "false，只有当 output_dir 中没有检查点、没有最终模型、也没有已完成的运行时"
                            "（例如在第一次保存前就失败的运行），新运行才可以沿用它；否则请继续那次运行，"
                            "或换一个 output_dir。",
}


def label(key: str, lang: str) -> str | None:
    """The field's 中文 label from this table (None in English, or when it has none here)."""
    return LABELS.get(key) if lang == "zh" else None


def help_text(key: str, lang: str) -> str:
    """The field's help in `lang`: the 中文 translation, else core's English help."""
    if lang == "zh" and key in HELP:
        return HELP[key]
    field = FIELDS.get(key)
    return (field.metadata.get("help") or "") if field is not None else ""


# dataset_info.json's column and tag names (the Data tab's upload editors); the key stays shown.
REGISTRY_KEYS: dict[str, str] = {
    "prompt": "提示", "query": "输入", "response": "回答", "history": "历史", "messages": "消息",
    "system": "系统", "tools": "工具", "chosen": "优选", "rejected": "劣选",
    "kto_tag": "KTO 标签", "role_tag": "角色字段", "content_tag": "内容字段",
    "user_tag": "用户角色名", "assistant_tag": "助手角色名", "observation_tag": "观察角色名",
    "function_tag": "函数调用角色名", "system_tag": "系统角色名",
}


def registry_label(key: str, lang: str) -> str:
    """A dataset_info.json key as an editor's label: "提示 · prompt" in 中文, the key in English."""
    return f"{REGISTRY_KEYS[key]} · {key}" if lang == "zh" and key in REGISTRY_KEYS else key
