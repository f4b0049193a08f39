"""The table of LLaMA-Factory keys: for each, honoured, ignored (with why) or refused (with what
to use instead). core/config/llamafactory.py applies it; docs/llamafactory.md is generated
from it. A refused key passes silently with a value in `off` (LLaMA-Factory's default)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_OFF = (None, False, "", 0)


@dataclass(frozen=True)
class Treatment:
    kind: str  # honoured | ignored | refused
    note: str
    off: tuple = DEFAULT_OFF  # refused: values that do not ask for the feature
    alias: str | None = None  # honoured: the field that holds it here, when named differently


def _ignored(note: str) -> Treatment:
    return Treatment("ignored", note)


def _refused(note: str, *off: Any) -> Treatment:
    return Treatment("refused", note, off) if off else Treatment("refused", note)


def _each(names: str, treatment: Treatment) -> dict[str, Treatment]:
    return {name: treatment for name in names.split()}


# LLaMA-Factory keys that are RunConfig fields of the same name and meaning.
HONOURED = """
model_name_or_path adapter_name_or_path trust_remote_code flash_attn quantization_bit
quantization_type double_quantization template dataset eval_dataset dataset_dir cutoff_len
train_on_prompt max_samples val_size packing mix_strategy interleave_probs enable_thinking stage
finetuning_type
freeze_trainable_layers lora_rank lora_alpha lora_dropout lora_target use_rslora use_dora
pissa_init pref_beta pref_ftx pref_loss dpo_label_smoothing simpo_gamma ld_alpha
kto_chosen_weight kto_rejected_weight ref_model ref_model_adapters ref_model_quantization_bit
reward_model temperature pure_bf16 learning_rate num_train_epochs max_steps
per_device_train_batch_size per_device_eval_batch_size gradient_accumulation_steps
lr_scheduler_type lr_scheduler_kwargs warmup_ratio warmup_steps weight_decay max_grad_norm optim
adam_beta1 adam_beta2 adam_epsilon seed bf16 fp16 gradient_checkpointing dataloader_num_workers
ddp_timeout output_dir run_name logging_steps save_strategy save_steps save_only_model
save_total_limit eval_strategy eval_steps plot_loss report_to resume_from_checkpoint
overwrite_output_dir deepspeed fsdp fsdp_config ddp_find_unused_parameters master_addr master_port
""".split()

# Notes for honoured keys whose meaning here needs a word more than the field's help.
HONOURED_NOTES = {
    "packing": "packed conversations never attend to each other here (LLaMA-Factory's "
               "neat_packing); `packing: null` means per stage: off for sft, as in "
               "LLaMA-Factory, and on for dpo and rm, where packing is exact",
    "reward_model": "the reward model of a grpo run (an rm run's folder); LLaMA-Factory uses it "
                    "for PPO",
    "temperature": "the sampling temperature of grpo's generations; chat and evaluation take "
                   "theirs from the Chat tab and `core chat`",
    "template": "LLaMA-Factory's qwen, qwen3, qwen3_nothink, default and empty render as it "
                "renders them; empty means the tokenizer's own template (LLaMA-Factory parses "
                "it into one); other families and multimodal templates are refused",
    "overwrite_output_dir": "never deletes a run: true or false, a new run may reuse output_dir "
                            "only when it holds no checkpoints (nor a final model or a completed "
                            "run); LLaMA-Factory's true would train over them",
    "eval_strategy": "the default is steps, so a run evaluates whenever it has val_size or "
                     "eval_dataset; LLaMA-Factory's default is no",
    "report_to": "one of none, tensorboard, wandb, swanlab, mlflow (a list of one is accepted)",
    "lr_scheduler_kwargs": "a YAML mapping or a JSON string",
    "deepspeed": "a DeepSpeed JSON file as in LLaMA-Factory's examples/deepspeed, or a preset "
                 "z0, z2, z2_offload, z3, z3_offload; the run launches itself through torchrun "
                 "(docs/distributed.md), where LLaMA-Factory needs FORCE_TORCHRUN=1",
    "fsdp_config": "a YAML mapping, a JSON string or a JSON file",
    **{k: "read by `python -m core train`, which launches torchrun itself "
          "(docs/distributed.md); LLaMA-Factory reads them from the environment"
       for k in ("master_addr", "master_port")},
    "plot_loss": "writes training_loss.svg (LLaMA-Factory writes training_loss.png with "
                 "matplotlib); the WebUI's Runs tab draws the same curves live",
    "flash_attn": "auto, disabled, sdpa or fa2; also flex (PyTorch's FlexAttention, ours)",
    "gradient_checkpointing": "off unless set; LLaMA-Factory turns it on unless "
                              "disable_gradient_checkpointing: true",
}

MULTIMODAL = ("image, video and audio inputs are not supported: PrefStudio trains Qwen text "
              "models on text data; use the Qwen text template and text-only data")
NO_SECRETS = ("keep secrets out of YAML files (a run's config.yaml is saved and shown): log in "
              "with `hf auth login` or set the token in the environment")
GENERATION = ("chat and evaluation take their generation settings from the Chat tab, "
              "`python -m core chat` and `python -m core eval`")
PREDICT = "prediction is not a training option here; use `python -m core eval` or `core chat`"
SINGLE = ("the multi-process launch is set by nproc_per_node, nnodes, deepspeed and fsdp "
          "(docs/distributed.md); this setting keeps transformers' default")
NO_EFFECT_HERE = "no effect on a single-process run"

TABLE: dict[str, Treatment] = {
    # --- ModelArguments -------------------------------------------------------------------
    "adapter_folder": _refused("list the adapters in adapter_name_or_path, comma-separated"),
    "cache_dir": _refused("set HF_HUB_CACHE (or HF_HOME) in the environment to choose where "
                          "models are cached"),
    "use_fast_tokenizer": _ignored("the fast tokenizer is always used (every Qwen model has one)"),
    "resize_vocab": _refused("the vocabulary is never resized; Qwen's tokenizer already holds "
                             "the tokens its templates use"),
    "split_special_tokens": _refused("special tokens are never split; remove the key"),
    **_each("add_tokens add_special_tokens new_special_tokens_config",
            _refused("adding tokens is not supported; Qwen's tokenizer already holds the "
                     "tokens its templates use")),
    "init_special_tokens": _ignored("only used when tokens are added, which is refused"),
    "model_revision": _refused("download that revision (`hf download MODEL --revision REV`) "
                               "and give its folder as model_name_or_path", "main", None),
    "low_cpu_mem_usage": _ignored("transformers always loads weights lazily"),
    "rope_scaling": _refused("RoPE scaling is not supported; keep cutoff_len within the "
                             "model's context"),
    "shift_attn": _refused("LongLoRA's shift attention is not supported; use flash_attn: auto"),
    "mixture_of_depths": _refused("mixture-of-depths is not supported"),
    "use_unsloth": _refused("unsloth is not used; LoRA with gradient_checkpointing: true saves "
                            "memory instead"),
    "use_unsloth_gc": _refused("use gradient_checkpointing: true"),
    "enable_liger_kernel": _refused("liger kernels are not used; remove the key"),
    "moe_aux_loss_coef": _refused("the MoE router loss is not configured here; remove the key"),
    "disable_gradient_checkpointing": _ignored(
        "gradient checkpointing is off here unless gradient_checkpointing: true"),
    "use_reentrant_gc": _ignored("gradient checkpointing uses PyTorch's non-reentrant variant"),
    **_each("upcast_layernorm upcast_lmhead_output",
            _refused("weights train in the dtype bf16/fp16/pure_bf16 give; remove the key")),
    "train_from_scratch": _refused("training always starts from the model's weights"),
    "infer_backend": _refused("chat and evaluation use transformers; vLLM and SGLang are not "
                              "supported", "huggingface", None),
    "offload_folder": _ignored("weights are never offloaded to disk"),
    "use_kv_cache": _ignored("generation always uses the KV cache; training never does"),
    "use_v1_kernels": _refused("LLaMA-Factory's v1 kernels are not used; remove the key"),
    "infer_dtype": _ignored("chat and evaluation pick the dtype the machine runs best"),
    "hf_hub_token": _refused(NO_SECRETS),
    **_each("ms_hub_token om_hub_token", _refused("only the Hugging Face hub is supported; "
                                                  + NO_SECRETS)),
    "print_param_status": _ignored("train.log lists the trainable parameter count"),
    "quantization_method": _refused("only bitsandbytes quantization (quantization_bit) is "
                                    "supported", "bnb", None),
    "quantization_device_map": _ignored("quantized models load onto the one GPU"),
    # multimodal inputs: LLaMA-Factory's defaults pass, anything else asks for them
    "image_max_pixels": _refused(MULTIMODAL, 768 * 768),
    "image_min_pixels": _refused(MULTIMODAL, 32 * 32),
    "image_do_pan_and_scan": _refused(MULTIMODAL, False),
    "crop_to_patches": _refused(MULTIMODAL, False),
    "video_max_pixels": _refused(MULTIMODAL, 256 * 256),
    "video_min_pixels": _refused(MULTIMODAL, 16 * 16),
    "video_fps": _refused(MULTIMODAL, 2.0),
    "video_maxlen": _refused(MULTIMODAL, 128),
    "use_audio_in_video": _refused(MULTIMODAL, False),
    "audio_sampling_rate": _refused(MULTIMODAL, 16000),
    "media_dir": _refused(MULTIMODAL, None),
    "freeze_vision_tower": _refused(MULTIMODAL, True),
    "freeze_multi_modal_projector": _refused(MULTIMODAL, True),
    "freeze_language_model": _refused(MULTIMODAL, False),
    # export and inference engines
    **_each("export_dir export_quantization_bit export_quantization_dataset export_hub_model_id",
            _refused("export with `python -m core export --run RUN --out DIR` (then "
                     "`hf upload` to publish)")),
    "export_size": _refused("use `python -m core export --max-shard-size`", 5, None),
    "export_device": _refused("export runs on the CPU", "cpu", None),
    "export_quantization_nsamples": _ignored("only used with export_quantization_bit (refused)"),
    "export_quantization_maxlen": _ignored("only used with export_quantization_bit (refused)"),
    "export_legacy_format": _refused("exports are always safetensors"),
    "use_kt": _refused("KTransformers is not supported"),
    **_each("kt_weight_path kt_expert_checkpoint_path kt_use_lora_experts kt_lora_expert_num "
            "kt_lora_expert_intermediate_size", _ignored("only used with use_kt (refused)")),
    **_each("vllm_maxlen vllm_gpu_util vllm_enforce_eager vllm_max_lora_rank vllm_config",
            _ignored("only used with infer_backend: vllm (refused)")),
    **_each("sglang_maxlen sglang_mem_fraction sglang_tp_size sglang_config sglang_lora_backend",
            _ignored("only used with infer_backend: sglang (refused)")),
    # --- DataArguments --------------------------------------------------------------------
    "mask_history": _refused("training on the last turn only is not supported; every "
                             "assistant turn is trained (split the conversations to change that)"),
    "streaming": _refused("datasets are read whole; use max_samples for a part"),
    "buffer_size": _ignored("only used with streaming (refused)"),
    "overwrite_cache": _ignored("tokenised data is rebuilt for every run, never cached"),
    "preprocessing_batch_size": _ignored("tokenisation runs record by record"),
    "preprocessing_num_workers": _ignored("tokenisation runs in the training process"),
    "eval_num_beams": _ignored(GENERATION),
    "ignore_pad_token_for_loss": _ignored("padding is never scored (masks come from positions)"),
    "eval_on_each_dataset": _refused("evaluation reports the eval datasets together; run "
                                     "`python -m core eval` per dataset"),
    "neat_packing": Treatment("honoured", "means packing: true here (packing never attends "
                              "across conversations)", alias="packing"),
    "tool_format": _refused("tool definitions are not rendered by the templates here"),
    "default_system": _refused("put the system prompt in the data (a system column or turn) so "
                               "training, chat and evaluation render the same"),
    "preserve_thinking": _refused("qwen3 drops the thinking of earlier turns, as LLaMA-Factory "
                                  "does by default"),
    "tokenized_path": _refused("datasets are tokenised for every run from dataset and "
                               "dataset_dir; remove the key"),
    "data_shared_file_system": _ignored(SINGLE),
    # --- FinetuningArguments --------------------------------------------------------------
    "freeze_trainable_modules": _refused("freeze trains whole decoder layers "
                                         "(freeze_trainable_layers)", "all", None),
    "freeze_extra_modules": _refused("freeze trains decoder layers only"),
    "additional_target": _refused("only LoRA weights are trained and saved; use "
                                  "finetuning_type full or freeze for other modules"),
    **_each("module_dropout oft_rank oft_block_size oft_target",
            _ignored("only used with finetuning_type oft (refused: use lora)")),
    "create_new_adapter": _ignored("a run always trains a new adapter on top of "
                                   "adapter_name_or_path, merged (LLaMA-Factory's true)"),
    "loraplus_lr_ratio": _refused("LoRA+ is not supported; remove the key"),
    "loraplus_lr_embedding": _ignored("only used with loraplus_lr_ratio (refused)"),
    "pissa_iter": _ignored("PiSSA initialises with peft's own SVD"),
    "pissa_convert": _refused("PiSSA adapters are saved as they trained; remove the key"),
    "pref_bco_weight": _refused("the BCO term is not supported; remove the key"),
    **_each("ppo_buffer_size ppo_epochs ppo_score_norm ppo_target ppo_whiten_rewards "
            "reward_model_adapters reward_model_quantization_bit reward_model_type",
            _ignored("only used by stage ppo (refused: use grpo)")),
    "use_galore": _refused("GaLore is not supported; use finetuning_type lora"),
    **_each("galore_target galore_rank galore_update_interval galore_scale galore_proj_type "
            "galore_layerwise", _ignored("only used with use_galore (refused)")),
    "use_apollo": _refused("APOLLO is not supported; use finetuning_type lora"),
    **_each("apollo_target apollo_rank apollo_update_interval apollo_scale apollo_proj "
            "apollo_proj_type apollo_scale_type apollo_layerwise apollo_scale_front",
            _ignored("only used with use_apollo (refused)")),
    "use_badam": _refused("BAdam is not supported; use finetuning_type lora or freeze"),
    **_each("badam_mode badam_start_block badam_switch_mode badam_switch_interval "
            "badam_update_ratio badam_mask_mode badam_verbose",
            _ignored("only used with use_badam (refused)")),
    "use_swanlab": _refused("use report_to: swanlab"),
    **_each("swanlab_project swanlab_workspace swanlab_run_name swanlab_mode swanlab_logdir",
            _ignored("with report_to: swanlab, SwanLab reads SWANLAB_PROJECT, "
                     "SWANLAB_WORKSPACE, SWANLAB_MODE, ... from the environment")),
    **_each("swanlab_api_key swanlab_lark_webhook_url swanlab_lark_secret",
            _refused("keep secrets out of YAML files: set SWANLAB_API_KEY in the environment "
                     "or run `swanlab login`")),
    "use_llama_pro": _refused("LLaMA-Pro block expansion is not supported; use "
                              "finetuning_type freeze or lora"),
    "use_adam_mini": _refused("Adam-mini is not supported; pick optim (e.g. adamw_torch)"),
    "use_muon": _refused("Muon is not supported; pick optim (e.g. adamw_torch)"),
    "use_mca": _refused("Megatron-Core training is not supported"),
    "use_hyper_parallel": _refused("HyperParallel training is not supported"),
    "hyper_parallel_args": _ignored("only used with use_hyper_parallel (refused)"),
    **_each("use_dft_loss use_asft_loss use_eaft_loss",
            _refused("only the standard SFT loss is supported; remove the key")),
    "asft_alpha": _ignored("only used with use_asft_loss (refused)"),
    "eaft_alpha": _ignored("only used with use_eaft_loss (refused)"),
    "compute_accuracy": _ignored("preference stages log rewards/accuracies in metrics.jsonl"),
    "disable_shuffling": _refused("training data is always shuffled (by seed)"),
    "early_stopping_steps": _refused("early stopping is not supported; set max_steps or "
                                     "num_train_epochs"),
    "include_effective_tokens_per_second": _ignored("metrics.jsonl logs samples_per_s"),
    # --- GeneratingArguments (temperature: honoured) --------------------------------------
    **_each("do_sample top_p top_k num_beams max_length max_new_tokens repetition_penalty "
            "length_penalty skip_special_tokens", _ignored(GENERATION)),
    # --- TrainingArguments: LLaMA-Factory's own -------------------------------------------
    "ray_num_workers": _refused("Ray training is not supported", 1, None),
    "ray_init_kwargs": _ignored("Ray training is not supported"),
    "fp8": _refused("FP8 training is not supported; use bf16: true"),
    **_each("fp8_backend fp8_enable_fsdp_float8_all_gather",
            _ignored("only used with fp8 (refused)")),
    "enable_torch_profiler": _refused("profile with `python -m core bench`"),
    **_each("profiler_output_dir profiler_wait_steps profiler_warmup_steps "
            "profiler_active_steps profiler_repeat profiler_record_shapes "
            "profiler_profile_memory profiler_with_stack profile_modules",
            _ignored("only used with enable_torch_profiler (refused)")),
    # --- TrainingArguments: transformers' -------------------------------------------------
    "do_train": _ignored("`python -m core train` always trains"),
    "do_eval": _ignored("a run evaluates when it has val_size or eval_dataset"),
    "do_predict": _refused(PREDICT),
    "predict_with_generate": _refused(PREDICT),
    **_each("generation_config generation_max_length generation_num_beams", _ignored(PREDICT)),
    **_each("accelerator_config parallelism_config", _refused(SINGLE + "; remove the key")),
    **_each("ddp_backend ddp_broadcast_buffers ddp_bucket_cap_mb "
            "ddp_static_graph local_rank average_tokens_across_devices save_on_each_node "
            "log_on_each_node log_level_replica eval_use_gather_object", _ignored(SINGLE)),
    "auto_find_batch_size": _refused("set per_device_train_batch_size"),
    "batch_eval_metrics": _ignored("evaluation computes its metrics itself"),
    **_each("bf16_full_eval fp16_full_eval", _ignored("evaluation runs in the training dtype")),
    "data_seed": _ignored("the data order follows seed"),
    **_each("dataloader_drop_last dataloader_persistent_workers dataloader_pin_memory "
            "dataloader_prefetch_factor", _ignored("data loading is set by "
                                                   "dataloader_num_workers alone")),
    "debug": _ignored("train.log holds the run's log"),
    "disable_tqdm": _ignored("progress bars are always off (they garble train.log); "
                             "metrics.jsonl has the progress"),
    "enable_jit_checkpoint": _ignored(NO_EFFECT_HERE),
    **_each("eval_accumulation_steps eval_delay eval_do_concat_batches eval_on_start "
            "include_for_metrics prediction_loss_only",
            _ignored("evaluation runs every eval_steps (eval_strategy) with its own metrics")),
    "full_determinism": _refused("set seed; full determinism is not switched on here"),
    "gradient_checkpointing_kwargs": _ignored("gradient checkpointing uses PyTorch's "
                                              "non-reentrant variant"),
    **_each("greater_is_better metric_for_best_model",
            _ignored("only used with load_best_model_at_end (refused)")),
    "load_best_model_at_end": _refused("the final model is the last step's; chat with or "
                                       "export a checkpoint-N folder instead"),
    "push_to_hub": _refused("export with `python -m core export`, then `hf upload`"),
    **_each("hub_always_push hub_model_id hub_private_repo hub_revision hub_strategy",
            _ignored("only used with push_to_hub (refused)")),
    "hub_token": _refused(NO_SECRETS),
    "ignore_data_skip": _ignored("a resumed run skips the batches it has seen"),
    "include_num_input_tokens_seen": _ignored("metrics.jsonl logs num_tokens where the "
                                              "trainer counts them"),
    "label_names": _ignored("set by each stage"),
    "label_smoothing_factor": _refused("label smoothing of the token loss is not applied; "
                                       "for DPO see dpo_label_smoothing", 0, 0.0, None),
    "length_column_name": _ignored("batches are not grouped by length"),
    "liger_kernel_config": _ignored("only used with use_liger_kernel (refused)"),
    "use_liger_kernel": _refused("liger kernels are not used; remove the key"),
    **_each("log_level logging_dir logging_first_step logging_nan_inf_filter",
            _ignored("logs go to train.log and metrics.jsonl in the run folder")),
    "logging_strategy": _ignored("metrics are written every logging_steps steps"),
    "neftune_noise_alpha": _refused("NEFTune noise is not supported; remove the key"),
    "optim_args": _refused("optimizer arguments other than adam_beta1/adam_beta2/adam_epsilon "
                           "and weight_decay are not supported"),
    "optim_target_modules": _ignored("only used by GaLore/APOLLO optimizers (refused)"),
    "project": _ignored("only used by trackio, which report_to does not offer"),
    **_each("trackio_bucket_id trackio_space_id trackio_static_space_id",
            _ignored("only used by trackio, which report_to does not offer")),
    "remove_unused_columns": _ignored("set by each stage"),
    "restore_callback_states_from_checkpoint": _ignored("resume restores what each run needs"),
    "skip_memory_metrics": _ignored("memory metrics are not logged"),
    "sortish_sampler": _ignored("batches are sampled at random (by seed)"),
    "tf32": _ignored("PyTorch's default matmul precision is used"),
    "torch_compile": _refused("torch.compile is not used; remove the key"),
    **_each("torch_compile_backend torch_compile_mode",
            _ignored("only used with torch_compile (refused)")),
    "torch_empty_cache_steps": _ignored("the CUDA cache is managed by PyTorch"),
    "train_sampling_strategy": _ignored("batches are sampled at random (by seed)"),
    "use_cache": _ignored("the KV cache is off while training and on for generation"),
    "use_cpu": _ignored("the device is chosen from the machine (CUDA when present)"),
}

# A value of an honoured key that LLaMA-Factory allows and we do not: what to do instead.
VALUE_HINTS = {
    ("stage", "pt"): "pre-training is not supported; use stage sft",
    ("stage", "ppo"): "PPO is not supported; use stage grpo (reward functions, or reward_model: "
                      "an rm run's folder)",
    ("finetuning_type", "oft"): "OFT is not supported; use finetuning_type lora",
    ("flash_attn", "fa3"): "FlashAttention-3 is not supported; use flash_attn auto or fa2",
}
MULTIMODAL_TEMPLATES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_nothink", "qwen3_5",
                        "qwen3_5_nothink", "qwen3_6", "qwen2_audio", "qwen2_omni", "qwen3_omni",
                        "qwen3_omni_nothink", "qvq")
