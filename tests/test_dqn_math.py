"""DER/IQN building blocks against values worked by hand: n-step returns and frame stacks,
the C51 projection, the quantile Huber loss, the sum tree and prioritised sampling, noisy
layers, the epsilon schedule, the network shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agent.config import resolve_config
from agent.dqn.learner import DERLearner, IQNLearner, push_frames
from agent.dqn.losses import project_distribution, quantile_huber_loss
from agent.dqn.networks import ImplicitQuantileNetwork, NoisyLinear, RainbowNetwork, same_padding
from agent.dqn.replay import TransitionReplay
from agent.dqn.sum_tree import SumTree
from atari100k.errors import UsageError


def _replay(prioritized: bool = True) -> TransitionReplay:
    """21 rows, n=3, gamma=0.5: a life-loss terminal at row 5, a truncation at row 9.

    Row t has frame value t+1 and reward t.
    """
    replay = TransitionReplay(100, (1, 1), stack=4, n_step=3, gamma=0.5, prioritized=prioritized, seed=0)
    for t in range(21):
        replay.add(np.full((1, 1), t + 1, np.uint8), t, float(t), terminal=(t == 5), end=t in (5, 9))
    return replay


def test_frame_stacks_are_zero_before_the_episode_start() -> None:
    replay = _replay()
    stacks = replay.states(np.array([0, 1, 5, 6, 7, 12]))[:, :, 0, 0]
    assert stacks.tolist() == [[0, 0, 0, 1], [0, 0, 1, 2], [3, 4, 5, 6], [0, 0, 0, 7], [0, 0, 7, 8],
                               [0, 11, 12, 13]]  # episode C starts at row 10, after the truncation at 9


def test_n_step_returns_truncate_at_terminals_and_skip_truncations() -> None:
    replay = _replay()
    valid, length, terminal = replay._windows(np.arange(21))
    # rows 7, 8, 9 reach the truncation at 9 within n=3 steps; rows 18..20 have no row t+3 yet
    assert np.flatnonzero(~valid).tolist() == [7, 8, 9, 18, 19, 20]
    assert length[[2, 3, 4, 5, 6]].tolist() == [3, 3, 2, 1, 3]
    assert terminal[[2, 3, 4, 5, 6]].tolist() == [False, True, True, True, False]
    # R_t = sum_k .5^k r_{t+k} (r_t = t) up to the terminal at 5: R_1 = 1 + 1 + .75, R_3 = 3 + 2 + 1.25
    expected = {0: 1.0, 1: 2.75, 2: 4.5, 3: 6.25, 4: 6.5, 5: 5.0, 6: 11.5, 10: 10 + 5.5 + 3.0}
    seen = set()
    for _ in range(30):
        sample = replay.sample(32)
        for row, ret, nxt in zip(sample["indices"], sample["reward"], sample["next_state"][:, :, 0, 0]):
            if row in expected:
                assert ret == pytest.approx(expected[row]), row
                seen.add(int(row))
            if row in (1, 6):  # next state = the stack at row t + 3 (frames t+1..t+4 are values t+2..t+5)
                assert nxt.tolist() == {1: [2, 3, 4, 5], 6: [7, 8, 9, 10]}[row]
    assert seen == set(expected)


def test_sampled_batches_only_hold_valid_rows_and_carry_their_terminals() -> None:
    for prioritized in (True, False):
        replay = _replay(prioritized)
        for _ in range(20):
            sample = replay.sample(16)
            assert replay.is_valid(sample["indices"]).all()
            assert (sample["terminal"] == np.isin(sample["indices"], [3, 4, 5])).all()


def test_c51_projection_by_hand() -> None:
    support = torch.tensor([-1.0, 0.0, 1.0])
    # r = 0.5, gamma = 1: atoms at -0.5, 0.5, 1.5 (clipped to 1) with masses .2, .3, .5
    target = project_distribution(torch.tensor([[-0.5, 0.5, 1.5]]), torch.tensor([[0.2, 0.3, 0.5]]), support)
    assert target[0].tolist() == pytest.approx([0.1, 0.25, 0.65])
    # an atom exactly on the support keeps all its mass; a terminal (gamma 0) puts r on the support
    exact = project_distribution(torch.tensor([[1.0, 1.0, 1.0]]), torch.tensor([[0.2, 0.3, 0.5]]), support)
    assert exact[0].tolist() == pytest.approx([0.0, 0.0, 1.0])


def test_quantile_huber_loss_by_hand() -> None:
    # target 1.0; quantiles 0.0 (tau .25) and 2.5 (tau .75); kappa 1:
    # delta = 1 -> huber .5, weight |.25 - 0|; delta = -1.5 -> huber 1.0, weight |.75 - 1|
    loss = quantile_huber_loss(torch.tensor([[1.0]]), torch.tensor([[0.0, 2.5]]), torch.tensor([[0.25, 0.75]]), 1.0)
    assert loss.tolist() == pytest.approx([0.25 * 0.5 + 0.25 * 1.0])
    # kappa 2: both in the quadratic zone, divided by kappa; the mean over two equal target samples
    loss2 = quantile_huber_loss(torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0, 2.5]]),
                                torch.tensor([[0.25, 0.75]]), 2.0)
    assert loss2.tolist() == pytest.approx([(0.25 * 0.5 + 0.25 * 1.125) / 2.0])


def test_sum_tree_sets_totals_and_samples_in_proportion() -> None:
    tree = SumTree(5)
    tree.set(np.array([0, 1, 1, 3]), np.array([1.0, 9.0, 3.0, 4.0]))  # the last value of leaf 1 wins
    assert tree.total == pytest.approx(8.0) and tree.get(np.array([0, 1, 2, 3])).tolist() == [1, 3, 0, 4]
    assert tree.max_recorded_priority == 9.0  # every value ever set counts
    assert tree.find(np.array([0.0, 0.99, 1.0, 3.99, 4.0, 7.99])).tolist() == [0, 0, 1, 1, 3, 3]
    rng = np.random.default_rng(0)
    draws = np.concatenate([tree.stratified_sample(8, rng) for _ in range(4000)])
    freq = np.bincount(draws, minlength=5) / draws.size
    assert freq.tolist() == pytest.approx([1 / 8, 3 / 8, 0, 4 / 8, 0], abs=0.01)
    with pytest.raises(ValueError):
        tree.set(np.array([0]), np.array([-1.0]))


def test_new_rows_get_the_max_recorded_priority() -> None:
    replay = _replay()
    replay.update_priorities(np.array([2]), np.array([5.0]))
    replay.add(np.zeros((1, 1), np.uint8), 0, 0.0, False, False)
    assert replay.tree.get(np.array([0, 2, 21])).tolist() == [1.0, 5.0, 5.0]


def test_noisy_linear_is_mu_plus_sigma_times_factorised_noise() -> None:
    torch.manual_seed(0)
    layer = NoisyLinear(6, 4)
    with torch.no_grad():
        layer.weight_sigma.uniform_(0.1, 0.5)
    layer.resample()
    f = lambda v: v.sign() * v.abs().sqrt()  # noqa: E731
    assert (layer.eps_in.abs() > 0).all()
    x = torch.randn(3, 6)
    weight = layer.weight_mu + layer.weight_sigma * torch.outer(layer.eps_out, layer.eps_in)
    bias = layer.bias_mu + layer.bias_sigma * layer.eps_out
    assert torch.allclose(layer(x), x @ weight.T + bias, atol=1e-6)
    assert torch.allclose(layer(x, noise=False), x @ layer.weight_mu.T + layer.bias_mu)
    before = layer.eps_in.clone()
    layer.resample()
    assert not torch.equal(before, layer.eps_in)
    torch.manual_seed(1)
    p, q = torch.randn(6), torch.randn(4)
    torch.manual_seed(1)
    layer.resample()
    assert torch.allclose(layer.eps_in, f(p)) and torch.allclose(layer.eps_out, f(q))
    # Dopamine's initialisation: mu ~ U(+-1/sqrt(fan_in)), sigma = 0.1/sqrt(fan_in)
    fresh = NoisyLinear(100, 50)
    assert fresh.weight_mu.abs().max() <= 0.1 and torch.allclose(fresh.weight_sigma, torch.tensor(0.01))


def test_rainbow_network_shapes_dueling_and_shared_head_noise() -> None:
    assert [same_padding(84, 8, 4), same_padding(21, 4, 2), same_padding(11, 3, 1)] == [(2, 2), (1, 2), (1, 1)]
    net = RainbowNetwork(num_actions=5, num_atoms=51, noisy=True, dueling=True)
    assert net.torso.out_features == 11 * 11 * 64
    net.resample()
    assert torch.equal(net.value.layer.eps_in, net.advantage.layer.eps_in)  # one key for both heads
    frames = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8)
    features = net.torso(frames)
    logits = net.head(features, noise=True)
    assert logits.shape == (2, 5, 51)
    hidden = torch.relu(net.hidden(features, True))
    value = net.value(hidden, True).view(-1, 1, 51)
    assert torch.allclose((logits - value).mean(1), torch.zeros(2, 51), atol=1e-5)  # mean advantage is 0
    target = RainbowNetwork(5, 51, True, True)
    target.copy_noise_from(net)
    assert all(torch.equal(a.eps_out, b.eps_out) for a, b in zip(target.noisy_layers(), net.noisy_layers()))
    conv = net.torso.convs[0]
    bound = (6.0 / (conv.weight[0].numel() + conv.weight.shape[0] * 64)) ** 0.5  # xavier_uniform
    assert conv.weight.abs().max() <= bound and torch.count_nonzero(conv.bias) == 0


def test_iqn_network_cosine_embedding_starts_at_one() -> None:
    net = ImplicitQuantileNetwork(num_actions=3, embedding_dim=4, size=32)
    assert torch.allclose(net.frequencies, torch.pi * torch.tensor([1.0, 2.0, 3.0, 4.0]))
    out = net(torch.zeros(2, 4, 32, 32, dtype=torch.uint8), torch.rand(2, 7))
    assert out.shape == (2, 7, 3)


def test_epsilon_schedules() -> None:
    iqn = IQNLearner(resolve_config(None, ["env.image_size=32"], None, "iqn"), (1, 32, 32), 3, 1,
                     torch.device("cpu"), 0)
    # 1 until min_replay (1600), then linear to 0.01 over 2000 steps (Dopamine linearly_decaying_epsilon)
    assert [iqn.epsilon(s) for s in (0, 1600, 2600, 3600, 50_000)] == pytest.approx([1.0, 1.0, 0.505, 0.01, 0.01])
    der = DERLearner(resolve_config(None, ["env.image_size=32"], None, "der"), (1, 32, 32), 3, 1,
                     torch.device("cpu"), 0)
    # Noisy nets with a constant epsilon_train from the first step (the 2021 code's `identity_epsilon`).
    assert [der.epsilon(s) for s in (0, 1600, 5000)] == [0.01, 0.01, 0.01]
    # epsilon0: Dopamine since Nov 2022 (`zero_epsilon`).
    config_0 = resolve_config(("atari100k", "epsilon0"), ["env.image_size=32"], None, "der")
    der_0 = DERLearner(config_0, (1, 32, 32), 3, 1, torch.device("cpu"), 0)
    assert [der_0.epsilon(s) for s in (0, 1600, 5000)] == [0.0, 0.0, 0.0]
    assert config_0.der.target_update_period == 2_000
    # dopamine2021: the 2021 code's target period as well.
    config_2021 = resolve_config(("atari100k", "dopamine2021"), ["env.image_size=32"], None, "der")
    der_2021 = DERLearner(config_2021, (1, 32, 32), 3, 1, torch.device("cpu"), 0)
    assert [der_2021.epsilon(s) for s in (0, 1600, 5000)] == [0.01, 0.01, 0.01]
    assert config_2021.der.target_update_period == 8_000 and config_2021.eval.every == 10_000


def test_noisy_epsilon_rejects_unknown_values() -> None:
    with pytest.raises(UsageError, match="der.noisy_epsilon must be one of zero, constant"):
        resolve_config(None, ["der.noisy_epsilon=linear"], None, "der")


def test_push_frames_restarts_stacks() -> None:
    stack = torch.arange(1, 9, dtype=torch.uint8).view(2, 4, 1, 1)
    obs = torch.tensor([9, 10], dtype=torch.uint8).view(2, 1, 1, 1)
    out = push_frames(stack, obs, torch.tensor([False, True]))
    assert out[:, :, 0, 0].tolist() == [[2, 3, 4, 9], [0, 0, 0, 10]]
