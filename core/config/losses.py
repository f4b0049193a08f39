"""What each pairwise loss needs from the log-probs: the traits validation, RunConfig and the
trainer read. The loss functions themselves (torch) are in core.methods.losses, keyed by the
same names; this table stays importable without torch.

    LOSS_TRAITS["ipo"].average      # True: scored on per-token average log-probs
    LOSS_TRAITS["orpo"].reference   # False: no reference model
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LossTraits:
    average: bool  # per-token average log-probs instead of sums (ld_alpha does not apply)
    reference: bool  # needs the reference model's log-probs


LOSS_TRAITS: dict[str, LossTraits] = {
    "sigmoid": LossTraits(average=False, reference=True),
    "hinge": LossTraits(average=False, reference=True),
    "ipo": LossTraits(average=True, reference=True),
    "kto_pair": LossTraits(average=False, reference=True),
    "robust": LossTraits(average=False, reference=True),
    "orpo": LossTraits(average=True, reference=False),
    "simpo": LossTraits(average=True, reference=False),
}
PAIRWISE_LOSSES = tuple(LOSS_TRAITS)
REFERENCE_FREE_LOSSES = tuple(name for name, tr in LOSS_TRAITS.items() if not tr.reference)
SUMMED_LOSSES = tuple(name for name, tr in LOSS_TRAITS.items() if not tr.average)


def needs_reference(loss: str) -> bool:
    """Whether `loss` trains against reference log-probs (an unknown name counts as needing
    one: validation reports the name, and no reference setting is dropped meanwhile)."""
    traits = LOSS_TRAITS.get(loss)
    return traits is None or traits.reference
