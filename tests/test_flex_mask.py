"""flash_attn: flex. The layouts' attention rule (packing.mask_rule) as FlexAttention's
BlockMask: the same mask as the dense one at every (query, key), blocks skipped where packing
and prefix sharing mask them out, batches that carry segments instead of a dense mask, and on
a real model the same log-probs as sdpa. FlexAttention has no backward pass on the CPU
(torch 2.13) and its compiled CPU kernel fails to build once shapes vary, so flex is refused
without a GPU before anything loads; the forward test below compiles one shape per test on
a fresh compiler cache. The gradients are torch's own (GPU only, unrun here)."""
import pytest
import torch
from test_fast_logps import TOL, features, load

from core.config import RunConfig
from core.errors import UserError
from core.methods.packing import PairBatcher, attention_mask, block_mask, mask_rule
from core.methods.scoring import model_mask, sequence_logps, token_logps

FEATS = [{"prompt_ids": [1, 2, 3], "chosen_ids": [4, 5], "rejected_ids": [6]},
         {"prompt_ids": [7], "chosen_ids": [8], "rejected_ids": [9, 10]},
         {"prompt_ids": [11, 12], "chosen_ids": [13, 14, 15], "rejected_ids": [16, 17]}]


def segments(share: bool, packing: bool, pack_len: int = 0) -> dict:
    return PairBatcher(0, share, packing, pack_len, block_mask=True)(FEATS)


@pytest.mark.parametrize("share, packing", [(True, True), (True, False), (False, True)])
def test_the_rule_gives_the_dense_mask_flex_would(share, packing):
    """create_mask (FlexAttention's own evaluation of a mask_mod, vmap over every query and
    key) equals the dense mask the sdpa path gets, padding rows included."""
    from torch.nn.attention.flex_attention import create_mask

    batch = segments(share, packing, pack_len=12)
    owner, parts = batch["segments"], batch["parts"]
    rows, length = owner.shape
    dense = PairBatcher(0, share, packing, 12)(FEATS)["attention_mask"]
    assert "attention_mask" not in batch and batch["position_ids"].shape == (rows, length)
    assert (owner < 0).any(), "a padded row must be covered"
    flex = create_mask(mask_rule(owner, parts), rows, 1, length, length)
    assert torch.equal(flex, dense) and torch.equal(attention_mask(owner, parts), dense)


def test_block_mask_skips_what_packing_masks_out():
    """Two 256-token pairs packed in one 512-token row: the block of the second pair's
    queries over the first pair's keys is never computed."""
    prompt, answer = list(range(1, 129)), list(range(200, 264))
    feats = [{"prompt_ids": prompt, "chosen_ids": answer, "rejected_ids": answer}] * 2
    batch = PairBatcher(0, True, True, 512, block_mask=True)(feats)
    assert batch["input_ids"].shape == (1, 512)
    mask = block_mask(batch["segments"], batch["parts"])
    dense = mask.to_dense()[0, 0]  # [query blocks, key blocks] of 128: computed or not
    assert dense.tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]


def test_model_mask_builds_the_block_mask_on_the_batch():
    from torch.nn.attention.flex_attention import BlockMask

    batch = segments(True, True)
    mask = model_mask(None, batch)
    assert isinstance(mask, BlockMask) and mask.shape[-2:] == batch["input_ids"].shape[-1:] * 2


def test_flex_is_refused_without_cuda(monkeypatch, tiny_model):
    from core.models.loading import LoadOptions, check_machine, load_model

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="flash_attn: flex needs a CUDA GPU"):
        check_machine(RunConfig(flash_attn="flex"))
    with pytest.raises(UserError, match="flash_attn: flex needs a CUDA GPU"):  # chat, evaluation
        load_model(LoadOptions(model=str(tiny_model), flash_attn="flex"))


@pytest.mark.slow  # FlexAttention compiles its kernel on the first call (~20 s on 2 cores)
@pytest.mark.parametrize("share, packing", [(True, True), (False, True)])
def test_flex_log_probs_equal_sdpa(share, packing, tiny_model, tokenizer):
    """The same pairs through sdpa with the dense mask and through flex_attention with the
    BlockMask: equal per-sequence log-probs (fp32, no gradient: the reference pass and
    evaluation; pair_batcher gives a flex model this layout)."""
    from core.methods.pairwise import pair_batcher

    torch._dynamo.reset()  # one shape per compiled kernel: see the module docstring
    feats = features(tokenizer)
    sdpa, flex = load(tiny_model), load(tiny_model, attn="flex_attention")
    collate = pair_batcher(RunConfig(prefix_sharing=share, packing=packing, cutoff_len=48), flex, 0)
    assert collate.block_mask and (collate.prefix_sharing, collate.packing) == (share, packing)
    with torch.no_grad():
        dense = PairBatcher(0, share, packing, 96)(feats)
        want = sequence_logps(token_logps(sdpa, dense), dense)
        blocks = collate(feats)
        got = sequence_logps(token_logps(flex, blocks), blocks)
    for w, g in zip(want, got):
        torch.testing.assert_close(g, w, **TOL)
