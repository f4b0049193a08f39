"""Every pairwise loss against values computed by hand (math on scalars, not torch)."""
import math

import pytest
import torch

from core.methods.losses import LOSSES, preference_loss

PC, PR, RC, RR = -1.0, -2.0, -1.5, -1.5  # h = (pc - rc) - (pr - rr) = 0.5 - (-0.5) = 1.0
BETA = 0.5


def t(*xs):
    return torch.tensor(xs, dtype=torch.float64)


def run(name, pc=PC, pr=PR, rc=RC, rr=RR, **kw):
    losses, cr, rr_, extra = LOSSES[name].fn(t(pc), t(pr), t(rc), t(rr), beta=kw.pop("beta", BETA), **kw)
    return losses.item(), cr.item(), rr_.item(), extra


def softplus(x):
    return math.log1p(math.exp(x))


def test_sigmoid():
    loss, cr, rr, _ = run("sigmoid")
    assert loss == pytest.approx(softplus(-0.5))  # -log sigmoid(0.5)
    assert cr == pytest.approx(0.25) and rr == pytest.approx(-0.25)


def test_sigmoid_label_smoothing():
    loss, *_ = run("sigmoid", eps=0.1)
    assert loss == pytest.approx(0.9 * softplus(-0.5) + 0.1 * softplus(0.5))


def test_hinge():
    assert run("hinge")[0] == pytest.approx(0.5)  # max(0, 1 - 0.5 * 1)
    assert run("hinge", pc=0.0)[0] == pytest.approx(0.0)  # h = 2 -> 1 - 1 = 0


def test_ipo():
    assert run("ipo")[0] == pytest.approx((1.0 - 1 / (2 * BETA)) ** 2)  # = 0
    assert run("ipo", beta=0.1)[0] == pytest.approx((1.0 - 5.0) ** 2)


def test_kto_pair():
    # one pair: z_w = max(0, 0.5) = 0.5, z_l = max(0, -0.5) = 0
    loss, *_ = run("kto_pair")
    expected = ((1 - 1 / (1 + math.exp(-0.5 * (0.5 - 0.0)))) + (1 - 1 / (1 + math.exp(-0.5 * (0.5 + 0.5))))) / 2
    assert loss == pytest.approx(expected)


def test_robust():
    loss, *_ = run("robust", eps=0.2)
    assert loss == pytest.approx((0.8 * softplus(-0.5) - 0.2 * softplus(0.5)) / 0.6)


def test_orpo():
    pc, pr = -0.5, -1.5  # per-token averages
    loss, cr, rr, extra = run("orpo", pc=pc, pr=pr, rc=0.0, rr=0.0)
    log_odds = (pc - pr) - (math.log(1 - math.exp(pc)) - math.log(1 - math.exp(pr)))
    assert extra["odds_ratio"].item() == pytest.approx(log_odds)
    assert loss == pytest.approx(-pc + BETA * softplus(-log_odds))
    assert cr == pytest.approx(BETA * pc) and rr == pytest.approx(BETA * pr)


def test_simpo():
    loss, *_ = run("simpo", pc=-0.5, pr=-1.5, gamma=0.3)
    assert loss == pytest.approx(softplus(-(BETA * 1.0 - 0.3)))


@pytest.mark.parametrize("name, beta, expected", [
    ("sigmoid", 0.1, math.log(2)), ("hinge", 0.1, 1.0), ("ipo", 0.1, 1 / (4 * 0.1 ** 2)),
    ("ipo", 0.5, 1.0), ("kto_pair", 0.1, 0.5), ("robust", 0.1, math.log(2)),
])
def test_known_values_at_initialisation(name, beta, expected):
    x = t(-3.0, -7.0)
    losses, cr, rr, _ = LOSSES[name].fn(x, x - 1, x, x - 1, beta=beta, eps=0.1)
    assert losses.mean().item() == pytest.approx(expected)
    assert torch.all(cr == 0) and torch.all(rr == 0)


def test_pref_ftx_adds_sft_term():
    nll = t(0.7)
    losses, _, _, extra = preference_loss("sigmoid", t(PC), t(PR), t(RC), t(RR), beta=BETA,
                                          ftx=2.0, chosen_nll=nll)
    assert losses.item() == pytest.approx(softplus(-0.5) + 2.0 * 0.7)
    assert extra["sft_loss"].item() == pytest.approx(0.7)


def test_gradients_push_chosen_up():
    pc = t(-1.0).requires_grad_()
    pr = t(-1.0).requires_grad_()
    for name, spec in LOSSES.items():
        pc.grad = pr.grad = None
        ref = (t(-1.0), t(-1.0)) if spec.reference else (None, None)
        losses, *_ = LOSSES[name].fn(pc - 0.1 if name == "orpo" else pc, pr - 0.1 if name == "orpo" else pr,
                                     *ref, beta=0.5, eps=0.1)
        losses.sum().backward()
        assert pc.grad.item() < 0 < pr.grad.item(), name


def test_registry_has_a_function_for_every_loss_and_reads_config_traits():
    from core.config import LOSS_TRAITS
    from core.methods.losses import FUNCTIONS

    assert set(FUNCTIONS) == set(LOSS_TRAITS) == set(LOSSES)
    for name, loss in LOSSES.items():
        assert loss.fn is FUNCTIONS[name] and loss.fn.__name__ == name
        assert (loss.average, loss.reference) == (LOSS_TRAITS[name].average,
                                                  LOSS_TRAITS[name].reference)


def test_ld_alpha_weights_tokens_beyond_the_shorter_answer():
    from core.methods.logps import sequence_logps

    # rows: chosen 1, chosen 2, rejected 1, rejected 2 (pairs are rows i and i + 2); per-token
    # log-probs are zero outside the answer, as token_logps returns them.
    per_token = t([0, -1, -2, -3, 0], [-1, -1, 0, 0, 0], [0, 0, -4, -5, 0], [-2, -3, -4, -5, -6])
    mask = t([0, 1, 1, 1, 0], [1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [1, 1, 1, 1, 1])
    # pair 1: lengths 3 and 2 -> chosen's third token counts alpha times;
    # pair 2: lengths 2 and 5 -> rejected's last three tokens count alpha times.
    sums, counts = sequence_logps(per_token, mask, 0.5)
    assert sums.tolist() == pytest.approx([-1 - 2 - 0.5 * 3, -2, -9, -2 - 3 - 0.5 * (4 + 5 + 6)])
    assert counts.tolist() == [3, 2, 2, 5]
    assert sequence_logps(per_token, mask, 0.0)[0].tolist() == pytest.approx([-3, -2, -9, -5])
    plain = [-6, -2, -9, -20]
    assert sequence_logps(per_token, mask, 1.0)[0].tolist() == pytest.approx(plain)
    assert sequence_logps(per_token, mask)[0].tolist() == pytest.approx(plain)
