"""Core's messages about values, paths, models, the machine and data, as patterns (see
webui/i18n_patterns.py) with their 中文: what the Train form, the Data tab and an upload show."""
from __future__ import annotations

from .i18n_patterns import P, Pattern

NEEDS_CUDA = ("needs a CUDA GPU with bitsandbytes, and this machine has no CUDA device. Remove "
              "the key (train in 16/32 bits with LoRA) or run on a GPU machine.")

MESSAGES: tuple[Pattern, ...] = (
    # first: an exception's type before a message ("UserError: cutoff_len: ...")
    P("exception", "{exc}: {message}", "{exc}：{message}", message="say"),
    # --- a value typed into a field (core.config.values, core.config.validate) ---------------
    P("required", "{key}: a value is required (expected {types})",
      "{key}：必须填写（应为{types}）", types="types"),
    P("too_large", "{key}: {value} is too large for a number", "{key}：{value} 超出了数字的范围"),
    P("not_type", "{key}: {value} is not {types}", "{key}：{value} 不是{types}", types="types"),
    P("at_least", "{key}: {value} must be at least {num}", "{key}：{value} 不能小于 {num}"),
    P("not_one_of_hint", "{key}: {value} is not one of: {listed} ({hint})",
      "{key}：{value} 不是可选值之一：{listed}（{hint}）", hint="say"),
    P("template_hint", "PrefStudio trains Qwen text models: use qwen (Qwen2/2.5), qwen3, "
      "qwen3_nothink (Qwen3 Instruct-2507), default, empty, or leave it empty for the tokenizer's "
      "own", "PrefStudio 训练 Qwen 文本模型：请用 qwen（Qwen2/2.5）、qwen3、qwen3_nothink（Qwen3 "
      "Instruct-2507）、default、empty，或留空以使用分词器自带的模板"),
    P("not_one_of", "{key}: {value} is not one of: {listed}", "{key}：{value} 不是可选值之一：{listed}"),
    P("not_finite", "{key}: {value} is not a finite number; leave it empty or another number in "
      "range", "{key}：{value} 不是有限的数；请留空，或填写范围内的其他数"),
    P("not_finite_default", "{key}: {value} is not a finite number; give {default} (the default) "
      "or another number in range", "{key}：{value} 不是有限的数；请填 {default}（默认值）或范围内的其他数"),
    P("below_min", "{key}: {value} is below the minimum {num}", "{key}：{value} 低于最小值 {num}"),
    P("above_max", "{key}: {value} is above the maximum {num}", "{key}：{value} 高于最大值 {num}"),
    P("not_above", "{key}: {value} must be greater than {num}", "{key}：{value} 必须大于 {num}"),
    P("not_below", "{key}: {value} must be below {num}", "{key}：{value} 必须小于 {num}"),
    P("nul", "{key}: {value} contains a NUL byte (\\0); remove it",
      "{key}：{value} 含有 NUL 字节（\\0），请删除它"),
    P("surrogates", "{key}: {value} holds characters that are not text (lone surrogates)",
      "{key}：{value} 含有不是文本的字符（孤立的代理项）"),
    P("surrogates_path", "{key}: {value} holds characters no file name can (lone surrogates)",
      "{key}：{value} 含有文件名不能包含的字符（孤立的代理项）"),
    P("too_long", "{key}: {n} bytes long; shorten it to at most {m}",
      "{key}：长 {n} 字节，请缩短到最多 {m} 字节"),
    P("path_too_long", "{key}: the path is {n} bytes long; paths have at most {m}",
      "{key}：路径长 {n} 字节，路径最多 {m} 字节"),
    P("name_too_long", "{key}: the name {name} is {n} bytes long; a file or folder name has at "
      "most {m}, so shorten it", "{key}：名称 {name} 长 {n} 字节，文件或文件夹名最多 {m} 字节，请缩短"),
    P("run_name_slash", "run_name: {value} names the run's folder in saves/ and cannot hold / or "
      "\\; use a plain name (e.g. dpo-qwen-1), or set output_dir",
      "run_name：{value} 是运行在 saves/ 中的文件夹名，不能含 / 或 \\；请用普通名称（如 dpo-qwen-1），"
      "或设置 output_dir"),
    P("run_name_dots", "run_name: {value} names the run's folder in saves/ and is not a folder "
      "name; use a plain name (e.g. dpo-qwen-1), or set output_dir",
      "run_name：{value} 是运行在 saves/ 中的文件夹名，但它不是合法的文件夹名；请用普通名称（如 "
      "dpo-qwen-1），或设置 output_dir"),
    P("run_name_control", "run_name: {value} holds a control character (a line break, tab, ...); "
      "use a plain name", "run_name：{value} 含有控制字符（换行、制表符等）；请用普通名称"),
    P("label_smoothing", "dpo_label_smoothing: {num} only applies to pref_loss sigmoid or robust, "
      "not {loss}; set it to 0 or change pref_loss",
      "dpo_label_smoothing：{num} 只适用于 pref_loss 为 sigmoid 或 robust，不适用于 {loss}；请设为 0 "
      "或更换 pref_loss"),
    P("robust_needs_noise", "dpo_label_smoothing: pref_loss robust needs a label-noise rate; set "
      "dpo_label_smoothing between 0 and 0.5 (e.g. 0.1), or use pref_loss sigmoid",
      "dpo_label_smoothing：pref_loss 为 robust 时需要标签噪声率；请把 dpo_label_smoothing 设在 0 到 "
      "0.5 之间（如 0.1），或改用 pref_loss sigmoid"),
    P("no_reference_loss", "{key}: {value} is set but pref_loss {loss} uses no reference model; "
      "remove it or pick a loss with a reference (sigmoid, ...)",
      "{key}：设置了 {value}，但 pref_loss {loss} 不使用参考模型；请删除它，或选一个使用参考模型的损失"
      "（sigmoid 等）"),
    P("needs_ref_model", "{key}: {value} needs ref_model to be set",
      "{key}：{value} 需要先设置 ref_model"),
    P("ld_alpha", "ld_alpha: {num} applies to losses on summed log-probs ({losses}); {loss} "
      "averages per token, so remove ld_alpha",
      "ld_alpha：{num} 只适用于对对数概率求和的损失（{losses}）；{loss} 按 Token 取平均，请删除 ld_alpha"),
    P("quantized_full", "quantization_bit: {n}-bit weights cannot be trained directly; use "
      "finetuning_type lora (QLoRA) instead of {type}",
      "quantization_bit：{n} 位权重不能直接训练；请用 finetuning_type lora（QLoRA）代替 {type}"),
    P("bf16_fp16", "fp16: bf16 and fp16 are both true; keep one", "fp16：bf16 和 fp16 都开启了；只保留一个"),
    P("pure_bf16_fp16", "fp16: pure_bf16 and fp16 are both true; keep one",
      "fp16：pure_bf16 和 fp16 都开启了；只保留一个"),
    P("pissa_dora", "pissa_init: PiSSA initialisation does not combine with DoRA; turn one off",
      "pissa_init：PiSSA 初始化不能与 DoRA 同时使用；请关闭其中一个"),
    P("val_size_share", "val_size: {num} must be a share below 1 or a whole number of records",
      "val_size：{num} 必须是小于 1 的比例或整数条记录"),
    P("no_dataset", "dataset: no dataset given; name one from dataset_info.json (`python -m core "
      "data {cmd}`)", "dataset：没有指定数据集；请填写 dataset_info.json 中的一个（`python -m core data "
      "{cmd}`）"),
    P("lora_target_empty", "lora_target: empty; give module names, comma-separated "
      "(q_proj,v_proj), or all", "lora_target：为空；请填写模块名，逗号分隔（q_proj,v_proj），或填 'all'"),
    P("lora_target_all", "lora_target: {value}: all stands for every linear layer; give it alone "
      "or list module names without it",
      "lora_target：{value}：'all' 表示全部线性层；请单独使用它，或只列出模块名"),
    P("freeze_zero", "freeze_trainable_layers: 0 trains no layer; give N to train the last N "
      "decoder layers or -N for the first N (e.g. 2)",
      "freeze_trainable_layers：0 不训练任何层；填 N 训练最后 N 个解码器层，填 -N 训练最前面 N 层（如 2）"),
    P("save_only_resume", "save_only_model: true saves no optimizer or schedule state, which "
      "resuming needs; set it to false to resume",
      "save_only_model：为 true 时不保存优化器和调度器状态，而继续训练需要它们；要继续训练请设为 false"),
    P("scheduler_kwargs", "lr_scheduler_kwargs: {value} is not a JSON object; write e.g. "
      '{{"min_lr": 1e-6}} (or a YAML mapping)',
      'lr_scheduler_kwargs：{value} 不是 JSON 对象；请写成如 {{"min_lr": 1e-6}}（或 YAML 映射）'),
    P("val_and_eval", "val_size: {num} holds out training data but eval_dataset is set too "
      "(LLaMA-Factory refuses both); keep one",
      "val_size：{num} 会从训练数据中留出评估数据，但同时也设置了 eval_dataset（LLaMA-Factory 不允许两者"
      "同时设置）；只保留一个"),
    P("probs_numbers", "interleave_probs: {value} must be numbers, comma-separated",
      "interleave_probs：{value} 必须是逗号分隔的数字"),
    P("probs_count", "interleave_probs: {n} values for {m} datasets in {key}; give one per dataset",
      "interleave_probs：{key} 中有 {m} 个数据集，却给了 {n} 个值；请每个数据集给一个"),
    P("probs_sum", "interleave_probs: {value} sum to {num}, not 1",
      "interleave_probs：{value} 之和为 {num}，不是 1"),
    P("beta_end", "pref_beta_end: pref_beta_schedule linear needs the last step's beta; set "
      "pref_beta_end (e.g. 0.5), or use pref_beta_schedule constant",
      "pref_beta_end：pref_beta_schedule 为 linear 时需要最后一步的 β；请设置 pref_beta_end（如 0.5），"
      "或改用 pref_beta_schedule constant"),
    P("kto_batch", "per_device_train_batch_size: {n} is too small for kto: its KL estimate pairs "
      "each prompt with another answer of the same batch; set 2 or more (or an even "
      "gradient_accumulation_steps)",
      "per_device_train_batch_size：{n} 对 kto 来说太小：它的 KL 估计要把每个提示与同一批中的另一个"
      "回答配对；请设为 2 或更大（或让 gradient_accumulation_steps 为偶数）"),
    P("unknown_reward", "reward_funcs: unknown reward {value}; use {listed} (your own functions go "
      "on the command line: --reward-func module:function)",
      "reward_funcs：未知的奖励 {value}；请用 {listed}（自定义函数在命令行中给出：--reward-func "
      "模块:函数）"),
    P("reward_model_missing", "reward_model: reward_funcs lists reward_model but no rm run is "
      "given; set reward_model: saves/<rm run>",
      "reward_model：reward_funcs 中列了 reward_model，但没有给出 rm 运行；请设置 reward_model："
      "saves/<rm 运行>"),
    P("reward_model_unused", "reward_model: {value} is set but reward_funcs does not list "
      "reward_model; add it", "reward_model：设置了 {value}，但 reward_funcs 中没有 reward_model；请加上"),
    P("reward_weights", "reward_weights: {value} must be numbers, comma-separated",
      "reward_weights：{value} 必须是逗号分隔的数字"),
    P("completion_room", "max_completion_length: {n} leaves no room for the prompt within "
      "cutoff_len {m}; raise cutoff_len or lower it",
      "max_completion_length：{n} 在 cutoff_len {m} 内没有给提示留下空间；请调大 cutoff_len 或调小它"),
    P("generations_divide", "num_generations: {n} must divide per_device_train_batch_size x "
      "gradient_accumulation_steps ({m}, the completions of a step); change one of them",
      "num_generations：{n} 必须能整除 per_device_train_batch_size × gradient_accumulation_steps"
      "（{m}，即每步的补全数）；请修改其中一个"),
    P("eval_batch_grpo", "per_device_eval_batch_size: {n} must be a multiple of num_generations "
      "({m}) to evaluate grpo", "per_device_eval_batch_size：评估 grpo 时必须是 num_generations（{m}）"
      "的倍数，现在是 {n}"),
    P("regex", "reward_format_regex: {value} is not a regular expression ({error}); fix it or "
      "drop format from reward_funcs",
      "reward_format_regex：{value} 不是合法的正则表达式（{error}）；请修正，或从 reward_funcs 中去掉 format"),
    # --- paths, models, the machine (webui.workspace, core.models) --------------------------
    P("give_path", "{key}: give a path inside {a}/ or {b}/", "{key}：请填写 {a}/ 或 {b}/ 内的路径"),
    P("dataset_file_outside", "{key}: dataset '{name}': file_name {file} in {registry}: {path} is "
      "outside the folders the WebUI may use ({allowed}); move the file there or give a path "
      "inside them", "{key}：数据集 '{name}' 的文件 {path}（{registry} 中的 file_name {file}）不在 "
      "WebUI 可用的文件夹（{allowed}）内；请把文件移到那里，或填写其中的路径"),
    P("outside_link", "{key}: {value} (it leads to {path}) is outside the folders the WebUI may "
      "use ({allowed}); move the file there or give a path inside them",
      "{key}：{value}（指向 {path}）不在 WebUI 可用的文件夹（{allowed}）内；请把文件移到那里，或填写其中的"
      "路径"),
    P("outside", "{key}: {value} is outside the folders the WebUI may use ({allowed}); move the "
      "file there or give a path inside them",
      "{key}：{value} 不在 WebUI 可用的文件夹（{allowed}）内；请把文件移到那里，或填写其中的路径"),
    P("not_a_run_folder", "{key}: {value} is not a folder; pick a finished run",
      "{key}：{value} 不是文件夹；请选择一个已完成的运行"),
    P("yaml_suffix", "yaml_path: {path} must end in .yaml or .yml",
      "yaml_path：{path} 必须以 .yaml 或 .yml 结尾"),
    P("cannot_write", "yaml_path: cannot write {path}: {error}", "yaml_path：无法写入 {path}：{error}"),
    P("yaml_folder", "yaml_path: {path} is a folder; give a file name ending in .yaml",
      "yaml_path：{path} 是文件夹；请给出以 .yaml 结尾的文件名"),
    P("yaml_run_config", "yaml_path: {name} is the name of a run's own config and would make its "
      "folder look like a run; choose another name",
      "yaml_path：{name} 是运行自身配置文件的名字，会让所在文件夹看起来像一个运行；请换一个名字"),
    P("yaml_in_run", "yaml_path: {path} is a run folder; save the YAML outside it, e.g. in {folder}/",
      "yaml_path：{path} 是运行文件夹；请把 YAML 保存在它之外，例如 {folder}/"),
    P("run_folder_write", "output_dir: cannot write the run folder {path}: {error}",
      "output_dir：无法写入运行文件夹 {path}：{error}"),
    P("run_folder_on_file", "output_dir: {file} is a file, so the run folder {path} cannot be "
      "made there; choose another output_dir",
      "output_dir：{file} 是一个文件，无法在那里创建运行文件夹 {path}；请换一个 output_dir"),
    P("run_folder_readonly", "output_dir: {path} is not writable for this user; choose an "
      "output_dir in a folder you can write",
      "output_dir：当前用户无法写入 {path}；请把 output_dir 设在你能写入的文件夹里"),
    P("not_model_folder", "{key}: {value} is not a model folder (no config.json in it)",
      "{key}：{value} 不是模型文件夹（其中没有 config.json）"),
    P("not_hub_id", "{key}: {value} is neither a hub id (like Qwen/Qwen2.5-0.5B-Instruct) nor a "
      "model folder on this machine", "{key}：{value} 既不是 Hub ID（如 Qwen/Qwen2.5-0.5B-Instruct），"
      "也不是本机上的模型文件夹"),
    P("give_model", "{key}: give 'demo', a hub id (like Qwen/Qwen2.5-0.5B-Instruct) or a model "
      "folder inside {allowed}", "{key}：请填写 'demo'、Hub ID（如 Qwen/Qwen2.5-0.5B-Instruct），"
      "或 {allowed} 内的模型文件夹"),
    P("model_outside_link", "{key}: {value} (it leads to {path}) is outside the folders the WebUI "
      "loads models from ({allowed}); give 'demo' or a hub id, move the model into one of them, "
      "or start the WebUI with --model-dir {folder}",
      "{key}：{value}（指向 {path}）不在 WebUI 加载模型的文件夹（{allowed}）内；请填写 'demo' 或 "
      "Hub ID，把模型移到其中之一，或用 --model-dir {folder} 启动 WebUI"),
    P("model_outside", "{key}: {value} is outside the folders the WebUI loads models from "
      "({allowed}); give 'demo' or a hub id, move the model into one of them, or start the WebUI "
      "with --model-dir {folder}",
      "{key}：{value} 不在 WebUI 加载模型的文件夹（{allowed}）内；请填写 'demo' 或 Hub ID，"
      "把模型移到其中之一，或用 --model-dir {folder} 启动 WebUI"),
    P("offline", "{key}: {value} is not a local folder and could not be loaded from the Hugging "
      "Face hub (HF_HUB_OFFLINE=1). Download it where the hub is reachable (`hf download {model}`) "
      "and copy the cache, or give a local folder.",
      "{key}：{value} 不是本地文件夹，也无法从 Hugging Face Hub 加载（HF_HUB_OFFLINE=1）。请在能访问 "
      "Hub 的机器上下载（`hf download {model}`）并复制缓存，或填写本地文件夹。"),
    P("not_loadable", "{key}: {value} is not a local folder and could not be loaded from the "
      "Hugging Face hub. Download it where the hub is reachable (`hf download {model}`) and copy "
      "the cache, or give a local folder.",
      "{key}：{value} 不是本地文件夹，也无法从 Hugging Face Hub 加载。请在能访问 Hub 的机器上下载"
      "（`hf download {model}`）并复制缓存，或填写本地文件夹。"),
    P("cannot_load", "{key}: cannot load {path}: {error}", "{key}：无法加载 {path}：{error}"),
    P("needs_cuda", "{what} " + NEEDS_CUDA, "{what} 需要装有 bitsandbytes 的 CUDA GPU，而本机没有 CUDA "
      "设备。请删除该项（用 LoRA 以 16/32 位训练），或在有 GPU 的机器上运行。"),
    P("fa2", "flash_attn: fa2 needs a CUDA GPU and the flash-attn package; use flash_attn: auto",
      "flash_attn：fa2 需要 CUDA GPU 和 flash-attn 包；请用 flash_attn: auto"),
    P("flex", "flash_attn: flex needs a CUDA GPU (PyTorch's FlexAttention has no backward pass "
      "on the CPU); use flash_attn: auto",
      "flash_attn：flex 需要 CUDA GPU（PyTorch 的 FlexAttention 在 CPU 上没有反向传播）；"
      "请用 flash_attn: auto"),
    # --- several processes (core.models.loading, core.config.validate) ---------------------
    P("deepspeed_cpu", "deepspeed: {value}: DeepSpeed needs CUDA GPUs and this machine has none; "
      "remove the key (deepspeed=null on the command line) to train here (several CPU processes "
      "with nproc_per_node work)",
      "deepspeed：{value}：DeepSpeed 需要 CUDA GPU，而本机没有。请删除该项（命令行上写 deepspeed=null）"
      "在本机训练（用 nproc_per_node 可以跑多个 CPU 进程）"),
    P("fsdp_cpu", "fsdp: {value}: FSDP needs CUDA GPUs and this machine has none; remove the key "
      "(fsdp=null) to train here", "fsdp：{value}：FSDP 需要 CUDA GPU，而本机没有。请删除该项"
      "（fsdp=null）在本机训练"),
    P("procs_cpus", "nproc_per_node: {n} processes, but this machine has no GPU and {cpus} CPUs; "
      "set {limit} or fewer", "nproc_per_node：{n} 个进程，但本机没有 GPU，只有 {cpus} 个 CPU；"
      "请设为 {limit} 或更少"),
    P("shard_both", "fsdp: {fsdp} and deepspeed {deepspeed} both shard the model; keep one",
      "fsdp：{fsdp} 与 deepspeed {deepspeed} 都会切分模型；只保留一个"),
    P("zero3_bits", "deepspeed: ZeRO-3 cannot shard {bits}-bit (bitsandbytes) weights; use "
      "deepspeed z2 or drop quantization_bit", "deepspeed：ZeRO-3 不能切分 {bits} 位（bitsandbytes）"
      "权重；请用 deepspeed z2，或去掉 quantization_bit"),
    P("fsdp_bits", "fsdp: FSDP cannot shard a {bits}-bit (quantized) base; drop quantization_bit, "
      "or use deepspeed z2 or plain DDP for QLoRA", "fsdp：FSDP 不能切分 {bits} 位（量化）的基座模型；"
      "请去掉 quantization_bit，或为 QLoRA 改用 deepspeed z2 或普通 DDP"),
    P("fsdp_config_alone", "fsdp_config: is set but fsdp is empty; set fsdp (e.g. full_shard "
      "auto_wrap)", "fsdp_config：已设置，但 fsdp 为空；请设置 fsdp（如 full_shard auto_wrap）"),
    P("node_rank", "nnodes: {n} has no node_rank {rank} (nodes count from 0); raise nnodes or "
      "lower node_rank", "nnodes：{n} 个节点中没有 node_rank {rank}（节点从 0 开始编号）；请增大 "
      "nnodes 或减小 node_rank"),
    P("reporter", "report_to: {value} needs the {package} package: pip install {package} (or set "
      "report_to: none; metrics.jsonl is always written)",
      "report_to：{value} 需要 {package} 包：`pip install {package}`（或设置 report_to: none；"
      "metrics.jsonl 总会写入）"),
    # --- data: registry, files, records (core.data) ----------------------------------------
    P("unknown_dataset_hint", "unknown dataset '{name}' in {path}. Did you mean {close}? "
      "Available: {listed}", "未知的数据集 '{name}'（{path}）。你是不是想用 {close}？可用的有：{listed}"),
    P("unknown_dataset", "unknown dataset '{name}' in {path}. Available: {listed}",
      "未知的数据集 '{name}'（{path}）。可用的有：{listed}"),
    P("no_datasets", "unknown dataset '{name}': {path} has no datasets (or does not exist); "
      "register one with `python -m core data {cmd}`",
      "未知的数据集 '{name}'：{path} 中没有数据集（或它不存在）；请用 `python -m core data {cmd}` "
      "注册一个"),
    P("file_not_found", "dataset '{name}': file not found: {path} (file_name {rest}",
      "数据集 '{name}'：找不到文件：{path}（file_name {rest}"),
    P("no_rows", "no usable training rows in {dataset} for stage {stage}; run `python -m core data "
      "{cmd}`", "{dataset} 中没有可用于 {stage} 阶段的训练行；请运行 `python -m core data {cmd}`"),
    P("bad_ratio", "{n} of {m} records are bad ({share}), above max_bad_ratio {num}:",
      "{m} 条记录中有 {n} 条坏记录（{share}），超过了 max_bad_ratio {num}："),
    P("bad_ratio_end", "run `python -m core data {cmd}` to see them all, fix the data, or raise "
      "max_bad_ratio to train on the good records",
      "运行 `python -m core data {cmd}` 查看全部，修正数据，或调高 max_bad_ratio 只用好的记录训练"),
    P("and_more", "... and {n} more", "……还有 {n} 条"),
    P("and_more_problems", "... and {n} more problems (python -m core data {cmd})",
      "……还有 {n} 个问题（`python -m core data {cmd}`）"),
    P("bad_skipped", "{n} of {m} records are bad and would be skipped",
      "{m} 条记录中有 {n} 条坏记录，训练时会被跳过"),
    P("problem_line", "{where} {field}: {reason}", "{where} {field}：{reason}", reason="say"),
    P("in_all", "{reason} (in all {n} records)", "{reason}（全部 {n} 条记录）", reason="say"),
    P("empty_text_query", "empty text (and no {name})", "文本为空（也没有 {name}）"),
    P("empty_text", "empty text", "文本为空"),
    P("empty_null", "empty (null)", "为空（null）"),
    P("expected_text", "expected text, got {type}: {value}", "应为文本，实际是 {type}：{value}"),
    P("missing_column", "column '{name}' (columns.{key}) is missing; the record has: {listed}",
      "缺少列 '{name}'（columns.{key}）；这条记录有：{listed}"),
    P("expected_bool", "expected true or false, got {value}", "应为 true 或 false，实际是 {value}"),
    P("identical", "identical to rejected: this pair trains nothing", "与劣选回答相同：这一对训练不到任何东西"),
    P("expected_pairs", "expected at least [chosen, rejected], got {n} answer(s)",
      "至少需要 [chosen, rejected]，实际只有 {n} 个回答"),
    P("expected_messages", "expected a non-empty list of messages, got {value}",
      "应为非空的消息列表，实际是 {value}"),
    P("end_assistant", "the conversation must end with an assistant turn (the answer); {rest}",
      "对话必须以助手轮次（回答）结尾；{rest}"),
    P("refused_len", "{n} tokens, longer than {limit} (truncation {mode}); raise cutoff_len or set "
      "truncation llamafactory or keep_recent to cut it",
      "{n} 个 Token，超过了 {limit}（truncation {mode}）；请调大 cutoff_len，或把 truncation 设为 "
      "llamafactory 或 keep_recent 以截断它"),
    P("no_answer_room", "no answer token would remain within cutoff_len {n} (the prompt takes it "
      "all); raise cutoff_len or shorten the prompt",
      "在 cutoff_len {n} 内不会剩下任何回答 Token（提示占满了）；请调大 cutoff_len 或缩短提示"),
    P("needs_ranking", "stage {stage} needs ranking data (a prompt with chosen and rejected "
      "answers) but dataset '{name}' is not marked \"ranking\": true in {path}; set it with "
      "chosen/rejected columns, or use stage {other}",
      "{stage} 阶段需要成对数据（一个提示配优选和劣选回答），但数据集 '{name}' 在 {path} 中没有标记 "
      "\"ranking\": true；请设置它并给出 chosen/rejected 列，或改用 {other} 阶段"),
    P("kto_needs", "stage kto needs ranking data (each pair gives a desirable and an undesirable "
      "example) or a true/false kto_tag column; dataset '{name}' has neither in {path}; set "
      "columns.kto_tag, or use stage sft",
      "kto 阶段需要成对数据（每对给出一个期望和一个不期望的样本）或 true/false 的 kto_tag 列；数据集 "
      "'{name}' 在 {path} 中两者都没有；请设置 columns.kto_tag，或改用 sft 阶段"),
    P("ranking_for_sft", "ranking data used for sft: trains on the prompt and the chosen answer; "
      "the rejected answers are unused", "成对数据用于 sft：在提示和优选回答上训练，劣选回答不使用"),
    P("kto_left_out", "{n} records with kto_tag false are left out of sft (their answers are the "
      "undesirable ones)", "{n} 条 kto_tag 为 false 的记录不参与 sft（它们的回答是不期望的）"),
    P("cut_example", "{where}: {what} tokens", "{where}：{what} 个 Token", what="what"),
    P("cut_example_turns", "{where}: {what} tokens ({n} turns dropped)",
      "{where}：{what} 个 Token（丢弃 {n} 个轮次）", what="what"),
    P("line_suffix_dropped", "{message} (dropped)", "{message}（丢弃）", message="say"),
    # --- upload and register (core.data.detect, register_upload) ---------------------------
    P("no_records", "{name}: no records to detect the layout from (expected a list of objects); "
      "give --formatting and --columns", "{name}：没有可用来检测格式的记录（应为对象列表）；请手动"
      "指定格式和列映射"),
    P("no_layout", "cannot tell the layout: no instruction/prompt/question column and no "
      "conversation column; the records have: {listed}. Give --formatting and --columns (e.g. "
      "--columns prompt=my_question)", "无法判断格式：没有 instruction/prompt/question 列，也没有对话列；"
      "记录中有：{listed}。请手动指定格式和列映射（如 prompt=my_question）"),
    P("save_as_outside", "save_as: {value} must be inside {path}/, where dataset_info.json finds "
      "its files", "save_as：{value} 必须位于 {path}/ 内，dataset_info.json 在那里查找文件"),
    P("save_as_exists", "save_as: {path} exists already; choose another file name",
      "save_as：{path} 已存在；请换一个文件名"),
    P("name_taken", "dataset '{name}' is already in {path}; pass --force to replace it",
      "数据集 '{name}' 已在 {path} 中；请换一个名称"),
    P("bad_name", "dataset name {name} must be non-empty and contain no comma (dataset lists are "
      "comma-separated)", "数据集名称 {name} 不能为空，也不能含逗号（数据集列表以逗号分隔）"),
    P("unsupported_type", "{path}: unsupported file type {value}; use {listed}",
      "{path}：不支持的文件类型 {value}；请用 {listed}"),
    P("bad_json", "{path}: not valid JSON at line {n}, column {m}: {error}",
      "{path}：第 {n} 行第 {m} 列不是合法的 JSON：{error}"),
    P("bad_jsonl", "{path}: line {n} is not valid JSON (column {m}: {error}); expected a list of "
      "records or one record per line", "{path}：第 {n} 行不是合法的 JSON（第 {m} 列：{error}）；应为"
      "记录列表，或每行一条记录"),
    # --- chat votes (core.chat.ballot, core.data.votes) ------------------------------------
    P("vote_no_answer", "side {side} has no answer to vote on; send a message with two models "
      "first", "{side} 侧没有可投票的回答；请先用两个模型发送一条消息"),
    P("vote_empty_side", "side {side}'s answer is empty, so this pair cannot be voted on (a pair "
      "needs two answers); send the message again",
      "{side} 侧的回答为空，这一对无法投票（一对需要两个回答）；请重新发送消息"),
    P("vote_pick", "pick pane A, B or tie, not {value}", "请选择 A、B 或平手，而不是 {value}"),
    P("vote_better_empty", "the better answer is empty; write one, or vote without editing",
      "更好的回答为空；请写一个，或不编辑直接投票"),
    P("vote_not_saved", "vote not saved: {problem}", "投票未保存：{problem}", problem="say"),
    P("vote_answer_empty", "the {part} answer is empty; a pair needs two answers",
      "{part}回答为空；一对需要两个回答", part="answer"),
    P("votes_name", "votes dataset name {name}: use letters, digits, '_', '-' or '.' (it names "
      "the file <name>.jsonl), e.g. {default}", "投票数据集名称 {name}：请只用字母、数字、'_'、'-' "
      "或 '.'（它是文件 <name>.jsonl 的名字），如 {default}"),
    P("votes_not_votes", "dataset '{name}' in {path} is not a chat-votes dataset; save the votes "
      "under another name (e.g. {default})",
      "{path} 中的数据集 '{name}' 不是对话投票数据集；请用另一个名称保存投票（如 {default}）"),
    P("votes_bad_json", "{path}: line {n} is not valid JSON ({error}); fix or move the file, then "
      "vote again", "{path}：第 {n} 行不是合法的 JSON（{error}）；请修正或移走该文件，然后再投票"),
    P("votes_not_vote", "{path}: line {n} is not a chat vote (no 'winner'); save the votes under "
      "another name", "{path}：第 {n} 行不是对话投票（没有 'winner'）；请用另一个名称保存投票"),
)
