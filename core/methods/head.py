"""Log-probabilities of scored tokens: the LM head applied only where a token is scored, one
chunk of positions at a time.

    logps = head_logps(model.get_output_embeddings(), hidden, targets)   # [N] fp32

`hidden` holds the final hidden states of the N scored positions (gathered from every row of
a batch), `targets` the token each one predicts. For a chunk of positions the logits are
z = sum_k x_k W_k^T + b (one term for a plain head; a LoRA head adds x_2 = s * A(x) with
W_2 = B) and

    log p(t) = z_t - logsumexp(z),        d log p(t) / d z = e_t - softmax(z).

Only one [chunk, vocab] fp32 block exists at a time, never [rows, length, vocab]. When only
the inputs need gradients (LoRA, frozen head) the forward also stores each position's
d log p / d x_k = (e_t - softmax(z)) W_k ([N, hidden], small) and the backward just scales it
by the incoming gradient: two head matmuls per position, as many as keeping the logits. When a
head weight trains (LoRA on lm_head, full fine-tuning, tied embeddings that train) the
backward recomputes each chunk's logits instead of keeping them. A head this file cannot
decompose (DoRA, LoRA with bias, quantized) runs through torch's activation checkpointing per
chunk: same numbers, same memory bound, one more matmul.

`stats` (a dict, optional) receives each position's entropy and mean logit ([N] fp32, no
gradient) from the same chunks of logits: the metrics KTO logs, at no extra head matmul.
"""
from __future__ import annotations

import logging

import torch
from torch.utils.checkpoint import checkpoint

log = logging.getLogger(__name__)
Tensor = torch.Tensor
CHUNK_BYTES = 2**27  # 128 MiB of fp32 logits per chunk: ~220 positions at Qwen's 152k vocab


def chunk_rows(vocab: int, budget: int = CHUNK_BYTES) -> int:
    """Positions per chunk so that one fp32 [chunk, vocab] block stays within `budget` bytes."""
    return max(16, budget // (4 * vocab))


def head_logps(head, hidden: Tensor, targets: Tensor, chunk: int | None = None,
               stats: dict[str, Tensor] | None = None) -> Tensor:
    """log p(target) at each of the N positions of `hidden` [N, H] under `head`, in fp32; with
    `stats`, also stats["entropy"] and stats["mean_logits"] ([N] fp32, detached)."""
    if hidden.shape[0] == 0:
        if stats is not None:
            stats.update(entropy=hidden.new_zeros(0, dtype=torch.float32),
                         mean_logits=hidden.new_zeros(0, dtype=torch.float32))
        return hidden.new_zeros(0, dtype=torch.float32)
    sharded = [p for p in head.parameters() if hasattr(p, "ds_id")]  # DeepSpeed ZeRO-3
    if sharded:
        return _zero3_logps(head, hidden, targets, chunk, sharded, stats)
    return _logps(head, hidden, targets, chunk, stats)


def _zero3_logps(head, hidden: Tensor, targets: Tensor, chunk: int | None, params,
                 stats: dict | None) -> Tensor:
    """Under ZeRO-3 a rank holds only a shard of each head weight, and this file reads the
    weight outside the module's forward, where DeepSpeed's hooks would gather it. A frozen head
    is gathered once for the forward (the backward needs only what the forward stored); a head
    that trains (LoRA on lm_head, full fine-tuning) is called as a module per chunk, so the
    hooks gather it and send its gradient back to the shards."""
    import deepspeed

    if any(p.requires_grad for p in params):
        vocab = max(p.ds_shape[0] for p in params)  # the full weight's rows, not the shard's
        return _checkpointed(head, hidden, targets, chunk or chunk_rows(vocab), stats)
    with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
        return _logps(head, hidden, targets, chunk, stats)


def _logps(head, hidden: Tensor, targets: Tensor, chunk: int | None, stats: dict | None) -> Tensor:
    terms = linear_terms(head, hidden)
    weight = head.weight if terms is None else terms[0][0][1]
    chunk = chunk or chunk_rows(weight.shape[0])
    if terms is None:
        return _checkpointed(head, hidden, targets, chunk, stats)
    pairs, bias = terms
    flat = [t for pair in pairs for t in pair]
    return _ScoredLogps.apply(targets, (chunk, stats), bias, *flat)


def linear_terms(head, hidden: Tensor) -> tuple[list[tuple[Tensor, Tensor]], Tensor | None] | None:
    """The head as sum_k x_k W_k^T + b over `hidden`, or None when it is not a plain Linear or
    a vanilla (non-DoRA, bias-free) peft LoRA Linear."""
    if type(head) is torch.nn.Linear:
        return [(hidden, head.weight)], head.bias
    try:
        from peft.tuners.lora import Linear as LoraLinear
    except ImportError:  # pragma: no cover - peft is a requirement
        return None
    if not isinstance(head, LoraLinear) or type(head.base_layer) is not torch.nn.Linear:
        return None
    base = head.base_layer
    if head.disable_adapters or head.merged:
        return [(hidden, base.weight)], base.bias
    pairs = [(hidden, base.weight)]
    for name in head.active_adapters:
        if name not in head.lora_A:
            continue
        lora_a, lora_b = head.lora_A[name], head.lora_B[name]
        if name in getattr(head, "lora_variant", {}) or lora_b.bias is not None:
            return None
        x = lora_a(head.lora_dropout[name](hidden.to(lora_a.weight.dtype))) * head.scaling[name]
        pairs.append((x, lora_b.weight))
    return pairs, base.bias


def _chunk_logits(xs, ws, bias, start: int, end: int) -> Tensor:
    z = torch.nn.functional.linear(xs[0][start:end], ws[0], bias)
    for x, w in zip(xs[1:], ws[1:]):
        z = z + x[start:end].to(w.dtype) @ w.t()
    return z.float()


def _new_stats(stats: dict | None, n: int, device) -> dict | None:
    if stats is None:
        return None
    stats.update(entropy=torch.empty(n, dtype=torch.float32, device=device),
                 mean_logits=torch.empty(n, dtype=torch.float32, device=device))
    return stats


class _ScoredLogps(torch.autograd.Function):
    """apply(targets, (chunk, stats), bias, x_1, W_1, x_2, W_2, ...) -> log p(targets) [N]
    (fp32); `stats` None or a dict to fill (head_logps)."""

    @staticmethod
    def forward(ctx, targets, options, bias, *terms):
        chunk, stats = options
        stats = _new_stats(stats, targets.shape[0], targets.device)
        xs, ws = terms[0::2], terms[1::2]
        need = ctx.needs_input_grad
        need_x, need_w = need[3::2], need[4::2]
        store = any(need_x) and not any(need_w) and not need[2]  # gradients known in forward
        out = torch.empty(targets.shape[0], dtype=torch.float32, device=targets.device)
        lse = torch.empty_like(out)
        dx = [torch.empty(x.shape, dtype=torch.float32, device=x.device) if store and n else None
              for x, n in zip(xs, need_x)]
        for s in range(0, targets.shape[0], chunk):
            e = min(s + chunk, targets.shape[0])
            z = _chunk_logits(xs, ws, bias, s, e)
            t = targets[s:e].unsqueeze(1)
            picked = z.gather(1, t).squeeze(1)
            if stats is not None:
                stats["mean_logits"][s:e] = z.mean(dim=1)
            top = z.amax(dim=1, keepdim=True)
            z.sub_(top).exp_()  # in place: one [chunk, vocab] block
            total = z.sum(dim=1, keepdim=True)
            lse[s:e] = (top + total.log()).squeeze(1)
            out[s:e] = picked - lse[s:e]
            if stats is not None:  # H = log S - sum e log e / S with e = exp(z - max), S = sum e
                stats["entropy"][s:e] = (total.log() - torch.special.xlogy(z, z).sum(
                    dim=1, keepdim=True) / total).squeeze(1)
            if store:
                z.div_(total).scatter_add_(1, t, torch.full_like(picked, -1.0).unsqueeze(1))
                for k, w in enumerate(ws):  # d log p / d x_k = (e_t - p) W_k
                    if dx[k] is not None:
                        dx[k][s:e] = -(z.to(w.dtype) @ w).float()
        ctx.store, ctx.chunk = store, chunk
        device = targets.device.type  # the recomputed logits must round as the forward's did
        ctx.autocast = (device, torch.get_autocast_dtype(device), torch.is_autocast_enabled(device))
        if store:
            ctx.save_for_backward(*(d if d is not None else torch.empty(0) for d in dx))
        else:
            ctx.save_for_backward(targets, lse, bias if bias is not None else torch.empty(0), *terms)
            ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx, grad):
        grad = grad.float()
        if ctx.store:
            dx = ctx.saved_tensors
            grads = []
            for d in dx:
                grads += [(d * grad.unsqueeze(1)) if d.numel() else None, None]
            return (None, None, None, *grads)
        device, dtype, enabled = ctx.autocast
        with torch.autocast(device, dtype=dtype, enabled=enabled):
            return _recompute_backward(ctx, grad)


def _recompute_backward(ctx, grad: Tensor):
    targets, lse, bias, *terms = ctx.saved_tensors
    bias = bias if ctx.has_bias else None
    xs, ws = terms[0::2], terms[1::2]
    need = ctx.needs_input_grad
    need_x, need_w = need[3::2], need[4::2]
    gx = [torch.zeros(x.shape, dtype=torch.float32, device=x.device) if n else None
          for x, n in zip(xs, need_x)]
    gw = [torch.zeros(w.shape, dtype=torch.float32, device=w.device) if n else None
          for w, n in zip(ws, need_w)]
    gb = torch.zeros(bias.shape, dtype=torch.float32, device=bias.device) if need[2] else None
    for s in range(0, targets.shape[0], ctx.chunk):
        e = min(s + ctx.chunk, targets.shape[0])
        z = _chunk_logits(xs, ws, bias, s, e)
        t = targets[s:e].unsqueeze(1)
        z.sub_(lse[s:e].unsqueeze(1)).exp_()  # softmax
        z.scatter_add_(1, t, torch.full((e - s, 1), -1.0, device=z.device))
        z.mul_(-grad[s:e].unsqueeze(1))  # g * (e_t - p): the gradient of the chunk's logits
        for k in range(len(xs)):
            if gx[k] is not None:
                gx[k][s:e] = (z.to(ws[k].dtype) @ ws[k]).float()
            if gw[k] is not None:
                gw[k].addmm_(z.t(), xs[k][s:e].float())
        if gb is not None:
            gb += z.sum(dim=0)
    grads = []
    for k in range(len(xs)):
        grads += [None if gx[k] is None else gx[k].to(xs[k].dtype),
                  None if gw[k] is None else gw[k].to(ws[k].dtype)]
    return (None, None, None if gb is None else gb.to(bias.dtype), *grads)


def _chunk_logps(head, x: Tensor, t: Tensor, stats: dict | None = None, at: int = 0) -> Tensor:
    logits = head(x).float()
    lse = torch.logsumexp(logits, dim=-1)
    if stats is not None:  # keyed by the chunk's start: checkpoint's recompute rewrites the same
        with torch.no_grad():
            p = (logits - lse.unsqueeze(-1)).exp()
            stats[at] = (lse - (p * logits).sum(dim=-1), logits.mean(dim=-1))
    return logits.gather(-1, t.unsqueeze(-1)).squeeze(-1) - lse


def _checkpointed(head, hidden: Tensor, targets: Tensor, chunk: int,
                  stats: dict | None = None) -> Tensor:
    """Any head module: each chunk's logits are recomputed in backward (torch checkpoint)."""
    log.debug("head_logps: %s is not a plain or LoRA Linear; checkpointing each chunk",
              type(head).__name__)
    parts, found = [], {} if stats is not None else None
    for s in range(0, hidden.shape[0], chunk):
        x, t = hidden[s:s + chunk], targets[s:s + chunk]
        if torch.is_grad_enabled():
            parts.append(checkpoint(_chunk_logps, head, x, t, found, s, use_reentrant=False))
        else:
            parts.append(_chunk_logps(head, x, t, found, s))
    if stats is not None:
        stats.update(entropy=torch.cat([found[s][0] for s in sorted(found)]),
                     mean_logits=torch.cat([found[s][1] for s in sorted(found)]))
    return torch.cat(parts)
