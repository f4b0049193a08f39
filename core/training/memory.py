"""Peak memory of a pairwise (dpo) run, estimated from config.json and the tokenized data
before any weight is read, for the CPU and for a GPU (and whether it fits a given size).

    report = estimate_memory(cfg, data.train_features, gpu_gib=24)
    report.gpu.total, report.cpu.parts, report.fit.largest_batch

The parts, in bytes:
  weights      the policy: every parameter in the compute dtype (bf16/fp16: 2 bytes, else 4;
               the CPU computes in fp32), or 4-bit (4.5 bits with nf4's absmax per 64 weights,
               4.127 with double quantization) / 8-bit for the decoder's Linear weights
  reference    a separate ref_model (its own config, resident through training: pairwise.py
               keeps it referenced after the reference pass) or, for full/freeze without one,
               a frozen copy of the policy; LoRA's reference is the policy with its adapter off
               (nothing), and orpo/simpo have none. The reference log-probs themselves are
               cached (8 bytes per pair, on the CPU).
  gradients    one per trainable parameter, in its dtype (LoRA adapters are fp32: PEFT upcasts
               them next to a 16-bit base)
  optimizer    AdamW: 2 states per trainable parameter in its dtype (torch keeps them in the
               parameter's dtype), 8-bit variants 2 bytes, lion/adagrad/rmsprop 1 state,
               adafactor (rows + columns) x 4 bytes per matrix, sgd none
  activations  what autograd keeps for the backward pass at the longest batch (layer_activations):
               per decoder layer on the gradient's path and token of a row of width T,
                 2 x (4h + 4) + s x (4q + 3i + T) + 4 x heads      always
                 + 2s x h + s x (2h + i)     where the layer's own weights train (full, freeze)
                 + LoRA per target: 4r, and its input (fp32 without dropout: shared with the
                   layer's; 16-bit: a cast copy; dropout: its output and mask)
               (h hidden, q the query width, i the MLP width, s the compute bytes): the
               RMSNorms' fp32 inputs, sdpa's q, k, v (repeated per head: a padded batch has a
               mask), output and mask copy, the MLP's gate, up and activation. Eager attention
               keeps heads x T probabilities instead. freeze's layers before the first trainable
               one keep nothing. Gradient checkpointing keeps each layer's input (s x h) and
               recomputes one layer at a time. The LM head (memory_layout.head_bytes): the
               plain one (chunked_logps off) computes logits for every row from the batch's
               first scored position and keeps each row's fp32 log-softmax: rows x kept
               positions x vocab x 4 bytes; the chunked one (core.methods.head) keeps, per
               scored answer token, d log p / d hidden in fp32 (hidden x 4), or with a head
               that trains its input and log-sum-exp, and nothing of size vocab.
               These are autograd's saved tensors of Qwen2's decoder layer in fp32, measured
               within a few percent (tests/test_doctor_memory.py); 16-bit and GPU kernels are
               counted by the same rules, unmeasured here.
  workspace    transient peaks: the plain head's logits in the compute dtype (and their
               gradient), or the chunked head's gathered hidden states and one [chunk, vocab]
               fp32 block (and a training head's fp32 weight gradient); the batch's 4D bool
               attention mask; with checkpointing the layer being recomputed
The batch is the run's longest, laid out as its trainer lays it out (memory_layout): two
padded rows per pair, or with prefix_sharing one sequence per pair, and with packing the
pairs' sequences packed into rows of up to 2 x cutoff_len tokens; every per-token rule above
counts the rows' tokens, padding included.
GPU totals add the CUDA context (0.75 GiB) and 10% for the caching allocator's fragmentation;
CPU totals add about 1 GiB for Python, torch and the libraries.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .memory_layout import Batch, Shapes, full_size, head_bytes, longest_pairs, run_layout

GIB = 1024 ** 3
CUDA_CONTEXT = int(0.75 * GIB)  # context, cuBLAS workspace, kernels: 0.5-1 GiB by GPU
FRAGMENTATION = 1.10
CPU_RUNTIME = 1 * GIB
MAX_BATCH = 256  # the largest batch searched for


@dataclass(frozen=True)
class Shape:
    """A model's dimensions and parameter counts, from its config alone."""

    params: int  # every parameter (tied embeddings once)
    quantizable: int  # Linear weights of the decoder (what bitsandbytes converts)
    layers: int
    hidden: int
    intermediate: int
    heads: int
    q_dim: int
    kv_dim: int
    vocab: int
    layer_params: tuple[int, ...]  # per decoder layer (freeze)
    linears: tuple[tuple[str, int, int], ...]  # (name, in, out) of every Linear but the head


@dataclass
class Estimate:
    device: str  # "cpu" or "gpu"
    dtype: str
    parts: dict[str, int]
    overhead: int  # the CUDA context or the CPU runtime

    @property
    def total(self) -> int:
        gpu = self.device == "gpu"
        return int(sum(self.parts.values()) * (FRAGMENTATION if gpu else 1)) + self.overhead

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total": self.total}


@dataclass
class Fit:
    """Whether the run fits a GPU of `gib` GiB, and what would."""

    gib: float
    fits: bool
    largest_batch: int  # pairs per device at this cutoff (0: not even one)
    largest_cutoff: int | None  # at this batch size (None: not even 16 tokens)
    with_checkpointing: bool | None  # gradient checkpointing would make it fit (None: on)


@dataclass
class MemoryReport:
    params: int
    trainable: int
    batch: Batch
    cpu: Estimate
    gpu: Estimate
    fit: Fit | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"params": self.params, "trainable": self.trainable, "batch": asdict(self.batch),
                "cpu": self.cpu.to_dict(), "gpu": self.gpu.to_dict(),
                "fit": asdict(self.fit) if self.fit else None}


# --- the model's shape -------------------------------------------------------------------
def model_shape(model: str, trust_remote_code: bool = False) -> Shape:
    """Dimensions and parameter counts of `model` (hub id, folder or 'demo') from its
    config.json: the model is built on the meta device, so no weight is read or allocated."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from core.models.loading import resolve_model_path

    config = AutoConfig.from_pretrained(resolve_model_path(model), trust_remote_code=trust_remote_code)
    # The meta device allocates nothing and, unlike accelerate's init_empty_weights, keeps
    # tied embeddings tied (counted once, as they are stored).
    with torch.device("meta"):
        net = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    head = net.get_output_embeddings()
    linears = tuple((name, m.in_features, m.out_features) for name, m in net.named_modules()
                    if isinstance(m, torch.nn.Linear) and m is not head)
    layers = net.get_decoder().layers
    text = getattr(config, "text_config", None) or config
    heads = text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    kv = getattr(text, "num_key_value_heads", None) or heads
    return Shape(params=sum(p.numel() for p in net.parameters()),
                 quantizable=sum(i * o for _, i, o in linears), layers=len(layers),
                 hidden=text.hidden_size, intermediate=text.intermediate_size, heads=heads,
                 q_dim=heads * head_dim, kv_dim=kv * head_dim, vocab=text.vocab_size,
                 layer_params=tuple(sum(p.numel() for p in layer.parameters()) for layer in layers),
                 linears=linears)


def lora_targets(shape: Shape, target: str) -> list[tuple[str, int, int]]:
    """The Linear modules LoRA wraps, matched as PEFT matches them: 'all' is every Linear but
    the output head; names match a module's full name or its last parts."""
    if target.strip() in ("all", "all-linear"):
        return list(shape.linears)
    names = [t.strip() for t in target.split(",") if t.strip()]
    return [m for m in shape.linears if any(m[0] == n or m[0].endswith("." + n) for n in names)]


def lora_setup(cfg: Any) -> tuple[int, str, bool]:
    """(rank, targets, dora) LoRA trains with: a continued start adapter keeps its own."""
    if cfg.adapters:
        path = Path(cfg.adapters[-1]) / "adapter_config.json"
        if path.is_file():
            saved = json.loads(path.read_text())
            targets = saved.get("target_modules") or cfg.lora_target
            if isinstance(targets, list):
                targets = ",".join(targets)
            return int(saved.get("r", cfg.lora_rank)), str(targets), bool(saved.get("use_dora"))
    return cfg.lora_rank, cfg.lora_target, cfg.use_dora


def trainable_shapes(cfg: Any, shape: Shape) -> tuple[list[tuple[int, ...]], int]:
    """(shapes of the trainable tensors, bytes per value): LoRA's adapters are fp32 (4) next
    to any base; 0 means the compute dtype (full, freeze)."""
    if cfg.finetuning_type == "lora":
        rank, targets, dora = lora_setup(cfg)
        out: list[tuple[int, ...]] = []
        for _, i, o in lora_targets(shape, targets):
            out += [(rank, i), (o, rank)] + ([(o,)] if dora else [])
        return out, 4
    if cfg.finetuning_type == "freeze":
        n = cfg.freeze_trainable_layers
        chosen = shape.layer_params[-n:] if n > 0 else shape.layer_params[:-n]
        return [(p,) for p in chosen], 0  # layer totals: counts only (adafactor: upper bound)
    return [(shape.params,)], 0


# --- bytes -------------------------------------------------------------------------------
def optimizer_bytes(optim: str, shapes: list[tuple[int, ...]], value_bytes: int) -> int:
    """State bytes of transformers' optimizer `optim` for tensors of `shapes`."""
    n = sum(_numel(s) for s in shapes)
    if optim == "sgd":
        return 0
    if "8bit" in optim:
        return 2 * n if "adam" in optim else n
    if optim == "adafactor":
        return sum((s[0] + s[1]) * 4 if len(s) == 2 else _numel(s) * 4 for s in shapes)
    if optim in ("adagrad", "rmsprop") or "lion" in optim:
        return n * value_bytes
    return 2 * n * value_bytes  # adamw_torch, adamw_torch_fused, paged_adamw_32bit


def _numel(s: tuple[int, ...]) -> int:
    out = 1
    for d in s:
        out *= d
    return out


def weight_bytes(shape: Shape, value_bytes: int, bits: int | None, double_quant: bool) -> int:
    if bits is None:
        return shape.params * value_bytes
    per = (4.127 if double_quant else 4.5) / 8 if bits == 4 else 1.0
    return int(shape.quantizable * per) + (shape.params - shape.quantizable) * value_bytes


# A LoRA target's input, by module name: q/k/v share the attention's normed input, gate/up
# the MLP's, o_proj reads the attention output (kept anyway), down_proj the MLP product.
INPUTS = {"q_proj": "attn", "k_proj": "attn", "v_proj": "attn", "o_proj": "out",
          "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "down"}


@dataclass(frozen=True)
class Training:
    """What trains in a decoder layer, which decides what autograd keeps."""

    base: bool  # its Linear weights (full, freeze)
    lora: tuple[tuple[str, int], ...] = ()  # LoRA targets in the layer: (name, in_features)


def layer_activations(cfg: Any, shape: Shape, s: int, width: int, trains: Training) -> int:
    """Bytes autograd keeps per padded token in one decoder layer on the gradient's path
    (Qwen2/Qwen3 decoder layer; see the module docstring). `s`: compute bytes."""
    h, q, i, n = shape.hidden, shape.q_dim, shape.intermediate, shape.heads
    # needed for the input gradient whatever trains: each RMSNorm's fp32 input and 1/rms;
    # sdpa's q, k and v (repeated to every head: a padded batch passes a mask, and with a mask
    # transformers repeats the kv heads), output, log-sum-exp and its own copy of the mask;
    # the MLP's gate, activation and up
    out = 2 * (4 * h + 4) + s * (4 * q + 3 * i + width) + 4 * n
    if cfg.flash_attn == "disabled":  # eager: softmax probabilities instead of out, lse, mask
        out += n * width * (s + (4 if s < 4 else 0)) - s * (q + width) - 4 * n
    inputs = {"attn": h, "mlp": h, "down": i, "out": 0}  # "out": the attention output, kept
    needed = set(inputs) if trains.base else set()
    if trains.base:
        out += 2 * s * h  # the norm weights' inputs
    cast = 4 if cfg.pure_bf16 else s  # lora_A's input in the adapter's dtype (autocast: s)
    rank = lora_setup(cfg)[0] if trains.lora else 0
    for name, width_in in trains.lora:
        out += rank * 4  # A's output, B's input
        if cfg.lora_dropout:  # its output and mask (float on the CPU, bool on a GPU)
            out += width_in * (s + (4 if s == 4 else 1)) + (width_in * cast if s < 4 else 0)
        elif s < 4:
            out += width_in * cast
        else:  # fp32, no dropout: the same tensor the base layer reads
            needed.add(INPUTS.get(name.rsplit(".", 1)[-1], name))
            inputs.setdefault(name, width_in)
    return out + s * sum(inputs[g] for g in needed)


def layer_plan(cfg: Any, shape: Shape) -> list[Training | None]:
    """Per decoder layer: what trains in it, or None when the gradient never reaches it
    (freeze: layers before the first trainable one)."""
    if cfg.finetuning_type == "full":
        return [Training(True)] * shape.layers
    if cfg.finetuning_type == "freeze":
        n, total = cfg.freeze_trainable_layers, shape.layers
        if n > 0:
            return [None] * max(total - n, 0) + [Training(True)] * min(n, total)
        return [Training(True)] * min(-n, total) + [Training(False)] * max(total + n, 0)
    targets = lora_targets(shape, lora_setup(cfg)[1])
    first = [(name, i) for name, i, _ in targets if ".0." in f".{name}."] or \
        [(name, i) for name, i, _ in targets[:max(len(targets) // max(shape.layers, 1), 1)]]
    return [Training(False, tuple(first))] * shape.layers


def activation_bytes(cfg: Any, shape: Shape, batch: Batch, s: int,
                     checkpointing: bool) -> tuple[int, int]:
    """(kept for the backward pass, transient workspace) at `batch`, in bytes."""
    tokens, h = batch.sequences * batch.width, shape.hidden
    plan = [t for t in layer_plan(cfg, shape) if t is not None]
    layers = [layer_activations(cfg, shape, s, batch.width, t) * tokens for t in plan]
    full = cfg.finetuning_type == "full"
    kept, workspace = head_bytes(shape, batch, s, head_trains=full)
    # the final norm's fp32 input; for full training its weight's input and the plain head's
    # (the chunked head keeps only what head_bytes counts)
    kept += (4 * h + 4 + (s * h * (1 if batch.scored else 2) if full else 0)) * tokens
    if batch.masked:  # the batch's 4D bool mask; eager attention gets it as an additive copy
        workspace += batch.sequences * batch.width ** 2 * (1 + (s if cfg.flash_attn == "disabled"
                                                                else 0))
    if checkpointing:  # each layer keeps its input and is recomputed in the backward pass
        kept += len(layers) * s * h * tokens
        workspace += max(layers, default=0)
    else:
        kept += sum(layers)
    return kept, workspace


# --- the estimate ------------------------------------------------------------------------
def compute_bytes(cfg: Any, device: str) -> int:
    """2 for bf16/fp16 on a GPU; the CPU computes in fp32 (core.models.loading)."""
    return 2 if device == "gpu" and (cfg.bf16 or cfg.pure_bf16 or cfg.fp16) else 4


def estimate(cfg: Any, shape: Shape, batch: Batch, device: str,
             ref_shape: Shape | None = None, checkpointing: bool | None = None) -> Estimate:
    """Peak bytes of a dpo run of `cfg` on `device` ("cpu" or "gpu") at `batch`."""
    from core.methods.losses import LOSSES

    s = compute_bytes(cfg, device)
    bits = cfg.quantization_bit if device == "gpu" else None
    shapes, adapter_bytes = trainable_shapes(cfg, shape)
    value = adapter_bytes or s
    trainable = sum(_numel(t) for t in shapes)
    reference = 0
    if LOSSES[cfg.pref_loss].reference:
        if cfg.ref_model:
            ref_bits = cfg.ref_model_quantization_bit if device == "gpu" else None
            reference = weight_bytes(ref_shape or shape, s, ref_bits, True)
        elif cfg.finetuning_type != "lora":
            reference = weight_bytes(shape, s, None, False)  # a frozen copy of the policy
    gc = cfg.gradient_checkpointing if checkpointing is None else checkpointing
    kept, workspace = activation_bytes(cfg, shape, batch, s, gc)
    weights = weight_bytes(shape, s, bits, cfg.double_quantization)
    if cfg.finetuning_type == "lora":
        weights += trainable * 4  # the adapters themselves
    parts = {"weights": weights, "reference": reference, "gradients": trainable * value,
             "optimizer": optimizer_bytes(cfg.optim, shapes, value), "activations": kept,
             "workspace": workspace}
    dtype = {2: "bfloat16" if cfg.bf16 or cfg.pure_bf16 else "float16", 4: "float32"}[s]
    if bits:
        dtype += f", {bits}-bit weights"
    return Estimate(device, dtype, parts, CUDA_CONTEXT if device == "gpu" else CPU_RUNTIME)


def fits(e: Estimate, gib: float) -> bool:
    return e.total <= gib * GIB


def gpu_fit(cfg: Any, shape: Shape, features: list[dict], gib: float,
            ref_shape: Shape | None = None) -> Fit:
    """Whether the run fits `gib` GiB, the largest batch that fits at this cutoff_len, the
    largest cutoff_len at this batch, and whether gradient checkpointing would make it fit.
    Batches are laid out as the run lays them out (memory_layout)."""
    pairs = cfg.per_device_train_batch_size
    # Longest first, once: a smaller cutoff caps lengths but keeps their order.
    ordered = sorted(features, key=full_size, reverse=True)
    shapes = Shapes(run_layout(cfg))

    def at(b: int, cutoff: int | None = None, gc: bool | None = None) -> bool:
        # more pairs than the data holds: the data again, longest first
        chosen = [ordered[i % len(ordered)] for i in range(b)]
        batch = shapes.batch(chosen, cutoff)
        return fits(estimate(cfg, shape, batch, "gpu", ref_shape, gc), gib)

    largest = 0
    while largest < MAX_BATCH and at(largest + 1):
        largest += 1
    longest = full_size(ordered[0])
    low, high = 16, min(cfg.cutoff_len, longest)
    best = None
    while low <= high:  # memory grows with the cutoff: bisect
        mid = (low + high) // 2
        if at(pairs, mid):
            best, low = mid, mid + 1
        else:
            high = mid - 1
    if best == min(cfg.cutoff_len, longest):
        best = cfg.cutoff_len  # everything fits at the configured cutoff
    helps = None if cfg.gradient_checkpointing else at(pairs, gc=True)
    return Fit(gib, at(pairs), largest, best, helps)


def estimate_memory(cfg: Any, features: list[dict], gpu_gib: float | None = None) -> MemoryReport:
    """The memory report of a dpo run of `cfg` on its tokenized training features, at its
    longest batch as its layout (prefix sharing, packing, the chunked head) lays it out."""
    shape = model_shape(cfg.model_name_or_path, cfg.trust_remote_code)
    ref_shape = model_shape(cfg.ref_model, cfg.trust_remote_code) if cfg.ref_model else None
    pairs = min(cfg.per_device_train_batch_size, len(features))
    batch = Shapes(run_layout(cfg)).batch(longest_pairs(features, pairs))
    shapes, _ = trainable_shapes(cfg, shape)
    report = MemoryReport(shape.params, sum(_numel(t) for t in shapes), batch,
                          estimate(cfg, shape, batch, "cpu", ref_shape),
                          estimate(cfg, shape, batch, "gpu", ref_shape))
    if gpu_gib:
        report.fit = gpu_fit(cfg, shape, features, gpu_gib, ref_shape)
    return report
