"""Pairwise preference losses: small pure functions in one registry.

Every function takes the log-probabilities of the chosen (w) and rejected (l) answers under the
policy (`pc`, `pr`) and the reference (`rc`, `rr`, None for reference-free losses), one value
per pair, and returns (per-pair losses, chosen rewards, rejected rewards, extra metrics).
What each loss needs (per-token averages or sums, a reference or not) is core.config's
LOSS_TRAITS; `Loss.average` and `Loss.reference` read it.

Notation: h = (pc - rc) - (pr - rr), the difference of the policy/reference log-ratios;
beta the pref_beta; eps the dpo_label_smoothing; gamma the simpo_gamma.
At initialisation (policy == reference, h = 0): sigmoid = ln 2, hinge = 1, ipo = 1/(4 beta^2),
kto_pair = 0.5, robust = ln 2.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from core.config import LOSS_TRAITS, LossTraits

Tensor = torch.Tensor
Result = tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]


def _ref_rewards(pc, pr, rc, rr, beta) -> tuple[Tensor, Tensor]:
    return beta * (pc - rc).detach(), beta * (pr - rr).detach()


def sigmoid(pc, pr, rc, rr, beta: float, eps: float = 0.0, **_) -> Result:
    """DPO (Rafailov et al., 2023) with cDPO label smoothing:
    L = -(1 - eps) * log sigmoid(beta * h) - eps * log sigmoid(-beta * h)."""
    h = (pc - rc) - (pr - rr)
    losses = -(1 - eps) * F.logsigmoid(beta * h) - eps * F.logsigmoid(-beta * h)
    return (losses, *_ref_rewards(pc, pr, rc, rr, beta), {})


def hinge(pc, pr, rc, rr, beta: float, **_) -> Result:
    """SLiC-HF hinge (Zhao et al., 2023): L = max(0, 1 - beta * h)."""
    h = (pc - rc) - (pr - rr)
    return (torch.relu(1 - beta * h), *_ref_rewards(pc, pr, rc, rr, beta), {})


def ipo(pc, pr, rc, rr, beta: float, **_) -> Result:
    """IPO (Azar et al., 2023), eq. 17, on per-token average log-probs:
    L = (h - 1 / (2 * beta))^2."""
    h = (pc - rc) - (pr - rr)
    return ((h - 1 / (2 * beta)) ** 2, *_ref_rewards(pc, pr, rc, rr, beta), {})


def kto_pair(pc, pr, rc, rr, beta: float, **_) -> Result:
    """Paired KTO (Ethayarajh et al., 2024) with batch KL estimates z_w, z_l:
    z_w = max(0, mean(pc - rc)), z_l = max(0, mean(pr - rr))  (no gradient)
    L = [(1 - sigmoid(beta * ((pc - rc) - z_l))) + (1 - sigmoid(beta * (z_w - (pr - rr))))] / 2."""
    chosen_ratio, rejected_ratio = pc - rc, pr - rr
    z_chosen = chosen_ratio.mean().clamp(min=0).detach()
    z_rejected = rejected_ratio.mean().clamp(min=0).detach()
    losses = ((1 - torch.sigmoid(beta * (chosen_ratio - z_rejected)))
              + (1 - torch.sigmoid(beta * (z_chosen - rejected_ratio)))) / 2
    return (losses, *_ref_rewards(pc, pr, rc, rr, beta), {})


def robust(pc, pr, rc, rr, beta: float, eps: float = 0.0, **_) -> Result:
    """Robust DPO (Chowdhury et al., 2024), unbiased under a label-flip rate eps < 0.5:
    L = [-(1 - eps) * log sigmoid(beta * h) + eps * log sigmoid(-beta * h)] / (1 - 2 * eps)."""
    h = (pc - rc) - (pr - rr)
    losses = (-(1 - eps) * F.logsigmoid(beta * h) + eps * F.logsigmoid(-beta * h)) / (1 - 2 * eps)
    return (losses, *_ref_rewards(pc, pr, rc, rr, beta), {})


def orpo(pc, pr, rc, rr, beta: float, **_) -> Result:
    """ORPO (Hong et al., 2024), reference-free, on per-token average log-probs:
    log_odds = (pc - pr) - (log(1 - exp(pc)) - log(1 - exp(pr)))
    L = -pc + beta * -log sigmoid(log_odds)   (the NLL of the chosen answer plus the odds term);
    rewards = beta * average log-prob."""
    log_odds = (pc - pr) - (torch.log1p(-torch.exp(pc)) - torch.log1p(-torch.exp(pr)))
    odds_loss = -F.logsigmoid(log_odds)
    losses = -pc + beta * odds_loss
    extra = {"odds_ratio": log_odds.detach(), "sft_loss": -pc.detach()}
    return losses, beta * pc.detach(), beta * pr.detach(), extra


def simpo(pc, pr, rc, rr, beta: float, gamma: float = 0.5, **_) -> Result:
    """SimPO (Meng et al., 2024), reference-free, on per-token average log-probs:
    L = -log sigmoid(beta * (pc - pr) - gamma); rewards = beta * average log-prob."""
    losses = -F.logsigmoid(beta * (pc - pr) - gamma)
    return losses, beta * pc.detach(), beta * pr.detach(), {}


@dataclass(frozen=True)
class Loss:
    fn: Callable[..., Result]
    traits: LossTraits  # from core.config, where validation reads them too

    @property
    def average(self) -> bool:
        """Scored on per-token average log-probs instead of sums."""
        return self.traits.average

    @property
    def reference(self) -> bool:
        """Needs reference log-probs."""
        return self.traits.reference


FUNCTIONS = {"sigmoid": sigmoid, "hinge": hinge, "ipo": ipo, "kto_pair": kto_pair,
              "robust": robust, "orpo": orpo, "simpo": simpo}
LOSSES: dict[str, Loss] = {name: Loss(FUNCTIONS[name], traits)
                           for name, traits in LOSS_TRAITS.items()}


def preference_loss(name: str, pc: Tensor, pr: Tensor, rc: Tensor | None, rr: Tensor | None, *,
                    beta: float, eps: float = 0.0, gamma: float = 0.5,
                    ftx: float = 0.0, chosen_nll: Tensor | None = None) -> Result:
    """The named loss plus the optional SFT term: L + ftx * chosen_nll (pref_ftx), where
    chosen_nll is the per-token average negative log-likelihood of the chosen answer."""
    losses, chosen_rewards, rejected_rewards, extra = LOSSES[name].fn(
        pc, pr, rc, rr, beta=beta, eps=eps, gamma=gamma)
    if ftx > 0:
        losses = losses + ftx * chosen_nll
        extra = {**extra, "sft_loss": chosen_nll.detach()}
    return losses, chosen_rewards, rejected_rewards, extra
