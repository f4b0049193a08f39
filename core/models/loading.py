"""Loading models and tokenizers: LoadOptions says what to load (model, adapters to merge,
dtype, quantization, attention kernel, remote code), the functions here do it, and machine
checks say before any weight is read what this machine cannot do.

    opts = LoadOptions("Qwen/Qwen2.5-0.5B-Instruct", dtype="auto")
    tokenizer, model = load_tokenizer(opts), load_model(opts)
    opts = LoadOptions.of_run(cfg)            # a run's base in its dtype and quantization

`model` is a hub id (read from the local Hugging Face cache when offline), a local folder, or
`demo`. Adapters in `adapters` are merged into the weights in order (base + A1 + A2 ...).
The model to train (LoRA/full/freeze, start adapters, reference) is built in policy.py.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import DEMO_MODEL, RunConfig
from core.config.choices import BNB_OPTIMIZERS
from core.errors import UserError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
ATTENTION = {"auto": None, "disabled": "eager", "sdpa": "sdpa", "fa2": "flash_attention_2",
             "flex": "flex_attention"}
DTYPES = ("auto", "float32", "bfloat16", "float16")  # auto: the best this machine runs


@dataclass(frozen=True)
class LoadOptions:
    """What loading a model needs, and nothing about training."""

    model: str
    adapters: tuple[str, ...] = ()
    dtype: str = "auto"
    quantization_bit: int | None = None
    quantization_type: str = "nf4"
    double_quantization: bool = True
    flash_attn: str = "auto"
    trust_remote_code: bool = False
    key: str = "model_name_or_path"  # the config key errors name

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise UserError(f"dtype: {self.dtype!r} is not one of {', '.join(DTYPES)}")

    @classmethod
    def of_run(cls, cfg: RunConfig, **changes: Any) -> "LoadOptions":
        """A run's base model as it trains: its dtype (bf16/fp16 flags), quantization,
        attention kernel and remote-code setting; `changes` replace any of them."""
        dtype = "bfloat16" if cfg.bf16 or cfg.pure_bf16 else "float16" if cfg.fp16 else "float32"
        opts = cls(cfg.model_name_or_path, dtype=dtype, quantization_bit=cfg.quantization_bit,
                   quantization_type=cfg.quantization_type,
                   double_quantization=cfg.double_quantization, flash_attn=cfg.flash_attn,
                   trust_remote_code=cfg.trust_remote_code)
        return replace(opts, **changes)

    def replace(self, **changes: Any) -> "LoadOptions":
        return replace(self, **changes)

    @property
    def torch_dtype(self) -> torch.dtype:
        return resolve_dtype(self.dtype)


def resolve_model_path(name: str) -> str:
    """'demo' -> the bundled demo model's folder; anything else (hub id, folder) unchanged."""
    if name != DEMO_MODEL:
        return name
    try:
        from .demo import demo_model_path
    except ImportError:  # a trimmed install without the demo recipe
        raise UserError("the demo model is not available (core.models.demo is missing); give "
                        "a local model folder or a hub id instead of 'demo'") from None

    return str(demo_model_path())


def resolve_dtype(name: str) -> torch.dtype:
    """A DTYPES name as a torch dtype this machine runs: "auto" is bf16 on a bf16-capable GPU,
    fp16 on other GPUs, fp32 on the CPU; bf16/fp16 where the machine cannot fall back to fp32
    with a warning."""
    import torch

    cuda = torch.cuda.is_available()
    bf16_ok = cuda and torch.cuda.is_bf16_supported()
    if name == "auto":
        return torch.bfloat16 if bf16_ok else torch.float16 if cuda else torch.float32
    if name == "bfloat16" and not bf16_ok:
        log.warning("bf16: true but this machine has no bf16-capable GPU; training in fp32 "
                    "instead (set bf16: false to silence this).")
        return torch.float32
    if name == "float16" and not cuda:
        log.warning("fp16: true needs a CUDA GPU; training in fp32 instead (set fp16: false).")
        return torch.float32
    return getattr(torch, name)


def compute_dtype(cfg: RunConfig) -> torch.dtype:
    """The dtype a run trains in: what its bf16/fp16 flags ask for, where the machine can."""
    return LoadOptions.of_run(cfg).torch_dtype


def check_machine(cfg: RunConfig) -> None:
    """Fail before loading anything when the config needs hardware or packages we lack."""
    import torch

    bits = {"quantization_bit": cfg.quantization_bit,
            "ref_model_quantization_bit": cfg.ref_model_quantization_bit}
    for key, value in bits.items():
        if value is not None:
            _require_bitsandbytes(f"{key}: {value}")
    if cfg.optim in BNB_OPTIMIZERS:
        _require_bitsandbytes(f"optim: {cfg.optim}")
    _require_reporter(cfg.report_to)
    _check_devices(cfg)
    if cfg.flash_attn == "fa2":
        import importlib.util
        if not torch.cuda.is_available() or importlib.util.find_spec("flash_attn") is None:
            raise UserError("flash_attn: fa2 needs a CUDA GPU and the flash-attn package; use "
                            "flash_attn: auto")
    check_attention(cfg.flash_attn)


def check_attention(flash_attn: str) -> None:
    """FlexAttention on the CPU (torch 2.13) has no backward pass, and its compiled CPU kernel
    fails to build once shapes vary: flex is refused without a CUDA GPU, before loading."""
    import torch

    if flash_attn == "flex" and not torch.cuda.is_available():
        raise UserError("flash_attn: flex needs a CUDA GPU (PyTorch's FlexAttention has no "
                        "backward pass on the CPU); use flash_attn: auto")


def _check_devices(cfg: RunConfig) -> None:
    """What the launch keys need from this machine: GPUs for DeepSpeed and FSDP, the deepspeed
    package, no more processes than GPUs (than CPUs without a GPU, where they run on gloo)."""
    import importlib.util

    import torch

    from core.config.choices import CPUS

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if cfg.deepspeed and not gpus:
        raise UserError(f"deepspeed: {cfg.deepspeed!r}: DeepSpeed needs CUDA GPUs and this "
                        "machine has none; remove the key (deepspeed=null on the command line) "
                        "to train here (several CPU processes with nproc_per_node work)")
    if cfg.deepspeed and importlib.util.find_spec("deepspeed") is None:
        raise UserError("deepspeed: the deepspeed package is not installed; pip install -r "
                        "requirements-distributed.txt, or remove the key for plain DDP")
    if cfg.fsdp and not gpus:
        raise UserError(f"fsdp: {cfg.fsdp!r}: FSDP needs CUDA GPUs and this machine has none; "
                        "remove the key (fsdp=null) to train here")
    n = cfg.nproc_per_node
    if n and gpus and n > gpus:
        raise UserError(f"nproc_per_node: {n} processes, but this machine has {gpus} GPU"
                        f"{'s' if gpus > 1 else ''}; one process per GPU: set {gpus} or fewer "
                        "(empty: all of them)")
    if n and not gpus and n > CPUS:
        raise UserError(f"nproc_per_node: {n} processes, but this machine has no GPU and "
                        f"{CPUS} CPUs; set {CPUS} or fewer")


def _require_bitsandbytes(what: str) -> None:
    import torch

    if not torch.cuda.is_available():
        raise UserError(f"{what} needs a CUDA GPU with bitsandbytes, and this machine has no "
                        "CUDA device. Remove the key (train in 16/32 bits with LoRA) or run on "
                        "a GPU machine.")
    try:
        from bitsandbytes import cextension
    except Exception as e:  # broken installs raise more than ImportError
        raise UserError(f"{what} needs bitsandbytes, which failed to import ({e}); "
                        "pip install bitsandbytes") from e
    # Without a native library for this CUDA version bitsandbytes imports fine and fails at
    # the first quantized matmul; its stand-in library class says so up front.
    if type(cextension.lib).__name__ == "ErrorHandlerMockBNBNativeLibrary":
        raise UserError(f"{what}: bitsandbytes found no CUDA kernels for this machine (torch "
                        f"CUDA {torch.version.cuda}); install a bitsandbytes build for it "
                        "(`python -m bitsandbytes` shows the details) or remove the key.")


def _require_reporter(report_to: str) -> None:
    import importlib.util

    packages = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",),
                "swanlab": ("swanlab",), "mlflow": ("mlflow",)}
    needs = packages.get(report_to, ())
    if needs and not any(importlib.util.find_spec(name) for name in needs):
        raise UserError(f"report_to: {report_to} needs the {needs[0]} package: pip install "
                        f"{needs[0]} (or set report_to: none; metrics.jsonl is always written)")


def load_tokenizer(opts: LoadOptions) -> Any:
    """The model's tokenizer, with a pad token (the eos when the tokenizer has none)."""
    from transformers import AutoTokenizer

    source = resolve_model_path(opts.model)
    try:
        tok = AutoTokenizer.from_pretrained(source, trust_remote_code=opts.trust_remote_code)
    except (OSError, ValueError) as e:
        raise UserError(load_hint(opts.key, source, e)) from e
    if tok.pad_token is None:  # Qwen ships one; other tokenizers may not
        tok.pad_token = tok.eos_token
    return tok


def load_hint(key: str, source: str, error: Exception) -> str:
    if Path(source).exists():
        return f"{key}: cannot load {source}: {error}"
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    return (f"{key}: {source!r} is not a local folder and could not be loaded from the Hugging "
            f"Face hub{' (HF_HUB_OFFLINE=1)' if offline else ''}. Download it where the hub is "
            f"reachable (`hf download {source}`) and copy the cache, or give a local folder.")


def load_model(opts: LoadOptions, head: str = "causal") -> Any:
    """A causal LM (head "causal") or a one-score sequence classifier (head "reward") with
    opts.adapters merged, in opts' dtype, optionally quantized (on the GPU), use_cache off."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        BitsAndBytesConfig,
    )

    check_attention(opts.flash_attn)
    source = resolve_model_path(opts.model)
    dtype = opts.torch_dtype
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": opts.trust_remote_code}
    if ATTENTION[opts.flash_attn]:
        kwargs["attn_implementation"] = ATTENTION[opts.flash_attn]
    bits = opts.quantization_bit
    if bits is not None:
        if opts.adapters:
            raise UserError(f"{opts.key}: adapters cannot be merged into a {bits}-bit model; "
                            "merge them first with `python -m core export`")
        # QLoRA: nf4/fp4 (+ double quantization) storage, matmuls in the compute dtype.
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=bits == 4, load_in_8bit=bits == 8,
            bnb_4bit_quant_type=opts.quantization_type,
            bnb_4bit_use_double_quant=opts.double_quantization, bnb_4bit_compute_dtype=dtype)
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    auto = AutoModelForCausalLM
    if head == "reward":
        auto, kwargs["num_labels"] = AutoModelForSequenceClassification, 1
    try:
        model = auto.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as e:
        raise UserError(load_hint(opts.key, source, e)) from e
    model.config.use_cache = False
    return merge_adapters(model, list(opts.adapters))


def merge_adapters(model: Any, adapters: list[str], key: str = "adapter_name_or_path") -> Any:
    """Load each adapter and fold it into the weights (base + A1 + A2 ...)."""
    from peft import PeftConfig, PeftModel

    for path in adapters:
        require_adapter(path, key)
        config = PeftConfig.from_pretrained(path)
        # No task wrapper: a CAUSAL_LM adapter (e.g. from SFT) also merges into a reward model.
        config.task_type = None
        model = PeftModel.from_pretrained(model, path, config=config).merge_and_unload()
        log.info("Merged adapter %s into the base weights.", path)
    return model


def require_adapter(path: str, key: str) -> None:
    if not (Path(path) / "adapter_config.json").is_file():
        raise UserError(f"{key}: {path} is not a PEFT adapter folder (no adapter_config.json); "
                        "give a run's folder or one of its checkpoint-N folders")


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
