"""DreamerV2 model pieces against hand computations, gradients and shapes."""

import math

import pytest
import torch

from agent.dreamerv2.behavior import lambda_return
from agent.config import resolve_config
from agent.dreamerv2.distributions import categorical_kl, straight_through_onehot
from agent.dreamerv2.dreamer import DreamerV2
from agent.dreamerv2.rssm import RSSM


def test_lambda_return_matches_hand_computation():
    # H = 3, one sequence: V_t = r_t + d_t * ((1 - lam) * v_{t+1} + lam * V_{t+1}), V_3 = v_3 = bootstrap.
    reward = torch.tensor([1.0, 2.0, 3.0])
    value = torch.tensor([10.0, 20.0, 30.0])
    discount = torch.tensor([0.9, 0.8, 0.5])
    bootstrap = torch.tensor(40.0)
    lam = 0.5
    v3 = 40.0
    v2 = 3.0 + 0.5 * (0.5 * 40.0 + 0.5 * v3)
    v1 = 2.0 + 0.8 * (0.5 * 30.0 + 0.5 * v2)
    v0 = 1.0 + 0.9 * (0.5 * 20.0 + 0.5 * v1)
    out = lambda_return(reward, value, discount, bootstrap, lam)
    assert out.shape == (3,)
    assert torch.allclose(out, torch.tensor([v0, v1, v2]))


def test_lambda_return_limits_and_batch_shape():
    torch.manual_seed(0)
    reward, value, discount = torch.rand(4, 2, 3), torch.rand(4, 2, 3), torch.rand(4, 2, 3)
    bootstrap = torch.rand(2, 3)
    one_step = lambda_return(reward, value, discount, bootstrap, 0.0)
    next_values = torch.cat([value[1:], bootstrap[None]])
    assert torch.allclose(one_step, reward + discount * next_values)
    monte_carlo = lambda_return(reward, value, discount, bootstrap, 1.0)
    expected, running = [], bootstrap
    for t in reversed(range(4)):
        running = reward[t] + discount[t] * running
        expected.append(running)
    assert torch.allclose(monte_carlo, torch.stack(expected[::-1]))


def test_categorical_kl_matches_hand_computation():
    p = torch.tensor([0.7, 0.2, 0.1])
    q = torch.tensor([0.4, 0.4, 0.2])
    expected = sum(pi * math.log(pi / qi) for pi, qi in zip(p.tolist(), q.tolist()))
    kl = categorical_kl(p.log()[None, None], q.log()[None, None])  # [1 batch, 1 latent, 3 classes]
    assert kl.shape == (1,)
    assert kl.item() == pytest.approx(expected, rel=1e-5)


def test_kl_balancing_weights_the_two_gradients_08_02():
    config = resolve_config(["debug"]).model
    post_logits = torch.randn(5, config.stoch, config.classes, requires_grad=True)
    prior_logits = torch.randn(5, config.stoch, config.classes, requires_grad=True)
    loss, value = RSSM.kl_loss(post_logits, prior_logits, balance=0.8, free=0.0)
    kl = categorical_kl(post_logits, prior_logits)
    # Forward value: the plain KL (both terms are the same number), also the logged value.
    assert loss.item() == pytest.approx(kl.mean().item(), rel=1e-5)
    assert value.item() == pytest.approx(kl.mean().item(), rel=1e-6) and not value.requires_grad
    loss.backward()
    post_ref = post_logits.detach().clone().requires_grad_(True)
    prior_ref = prior_logits.detach().clone().requires_grad_(True)
    categorical_kl(post_ref, prior_ref).mean().backward()
    # The prior is trained with 0.8 of the KL gradient, the posterior with 0.2.
    assert torch.allclose(prior_logits.grad, 0.8 * prior_ref.grad, atol=1e-6)
    assert torch.allclose(post_logits.grad, 0.2 * post_ref.grad, atol=1e-6)


def test_straight_through_sample_is_onehot_with_probability_gradient():
    torch.manual_seed(0)
    logits = torch.randn(6, 4, requires_grad=True)
    sample = straight_through_onehot(logits)
    assert torch.equal(sample.detach().sum(-1), torch.ones(6))
    assert set(sample.detach().unique().tolist()) <= {0.0, 1.0}
    weights = torch.randn(4)
    (sample * weights).sum().backward()
    probs = torch.softmax(logits.detach(), -1)
    # d/dlogits of sum(probs * w) = probs * (w - sum(probs * w)).
    expected = probs * (weights - (probs * weights).sum(-1, keepdim=True))
    assert torch.allclose(logits.grad, expected, atol=1e-6)


def test_straight_through_samples_follow_the_categorical():
    # Frequencies of 100k samples per row match softmax(logits) within 5 standard errors,
    # including a near-impossible class that must (almost) never be drawn.
    torch.manual_seed(0)
    logits = torch.tensor([[0.0, 1.0, 2.0, -1.0, -30.0], [3.0, 0.0, 0.0, 0.0, 0.0]])
    draws = 100_000
    samples = straight_through_onehot(logits.unsqueeze(0).expand(draws, -1, -1)).detach()
    freq = samples.mean(0)
    probs = torch.softmax(logits, -1)
    stderr = (probs * (1 - probs) / draws).sqrt()
    assert torch.all((freq - probs).abs() <= 5 * stderr + 1e-5), (freq, probs)
    assert samples[:, 0, 4].sum() <= 1


def _batch(config, steps, size, actions):
    batch = {
        "obs": torch.randint(0, 255, (steps, size, 1, 64, 64), dtype=torch.uint8),
        "action": torch.nn.functional.one_hot(torch.randint(0, actions, (steps, size)), actions).float(),
        "reward": torch.randn(steps, size),
        "is_first": torch.zeros(steps, size, dtype=torch.bool),
        "is_terminal": torch.zeros(steps, size, dtype=torch.bool),
    }
    batch["is_first"][0] = True
    batch["is_terminal"][-1, 0] = True
    return batch


def test_module_shapes_at_paper_sizes():
    config = resolve_config(["paper"])
    model = DreamerV2(config, (1, 64, 64), 6, torch.device("cpu"))
    counts = model.parameter_counts()
    # DreamerV2 paper: world model ~20M, actor ~1M, critic ~1M parameters.
    assert 19e6 < counts["world_model"] < 21e6
    assert 1.0e6 < counts["actor"] < 1.3e6 and 1.0e6 < counts["critic"] < 1.3e6
    wm = model.world_model
    images = torch.zeros(3, 1, 64, 64, dtype=torch.uint8)
    embed = wm.encoder(images)
    assert embed.shape == (3, 1536)
    state = wm.rssm.initial(3, torch.device("cpu"))
    post = wm.rssm.obs_step(state, torch.zeros(3, 6), wm.rssm.project_embed(embed), torch.ones(3, dtype=torch.bool))
    assert post["stoch"].shape == (3, 32, 32) and post["deter"].shape == (3, 600)
    feat = wm.rssm.features(post)
    assert feat.shape == (3, 32 * 32 + 600)
    assert wm.decoder(feat).shape == (3, 1, 64, 64)
    assert wm.reward(feat).shape == (3,) and wm.discount(feat).shape == (3,)
    # The reward head starts at exactly zero (zero-initialised output layer).
    assert torch.equal(wm.reward(feat), torch.zeros(3))


def test_train_step_updates_every_part_and_observe_shapes():
    torch.manual_seed(0)
    # No weight decay: it moves every parameter on every step, gradient or not.
    config = resolve_config(["debug"], {"model.weight_decay": 0.0})
    model = DreamerV2(config, (1, 64, 64), 3, torch.device("cpu"))
    batch = _batch(config, 6, 2, 3)
    post, prior_logits = model.world_model.rssm.observe(
        model.world_model.encoder(batch["obs"].flatten(0, 1)).reshape(6, 2, -1), batch["action"], batch["is_first"]
    )
    assert post["stoch"].shape == (6, 2, config.model.stoch, config.model.classes)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    metrics = model.train_step(batch)
    assert all(math.isfinite(v) for v in metrics.values())
    changed = {name.split(".")[0] + "." + name.split(".")[1] for name, p in model.named_parameters() if not torch.equal(before[name], p)}
    for part in ("world_model.encoder", "world_model.rssm", "world_model.decoder", "world_model.reward_head",
                 "world_model.discount_head", "behavior.actor", "behavior.critic"):
        assert part in changed, part
    assert model.updates == 1
    assert int(model.behavior.updates) == 1  # the checkpointed mirror of the counter


def test_slow_critic_is_copied_on_schedule():
    torch.manual_seed(0)
    config = resolve_config(["debug"], {"behavior.slow_critic_update": 2})
    model = DreamerV2(config, (1, 64, 64), 3, torch.device("cpu"))
    batch = _batch(config, 6, 2, 3)
    behavior = model.behavior
    model.train_step(batch)  # update 0: copied after the critic step
    assert all(torch.equal(a, b) for a, b in zip(behavior.critic.parameters(), behavior.slow_critic.parameters()))
    model.train_step(batch)  # update 1: critic moved, slow critic kept
    assert not all(torch.equal(a, b) for a, b in zip(behavior.critic.parameters(), behavior.slow_critic.parameters()))


def test_act_resets_state_on_is_first_and_the_greedy_actor_is_deterministic():
    torch.manual_seed(0)
    config = resolve_config(["debug"])
    model = DreamerV2(config, (1, 64, 64), 4, torch.device("cpu"))
    obs = torch.randint(0, 255, (2, 1, 64, 64), dtype=torch.uint8)
    state = model.initial_state(2)
    actions, state = model.act(obs, torch.ones(2, dtype=torch.bool), state, "mode")
    assert actions.shape == (2,) and actions.dtype == torch.int64
    # A state carried over is ignored where is_first is set.
    fresh = model.initial_state(2)
    torch.manual_seed(1)
    _, from_old = model.act(obs, torch.ones(2, dtype=torch.bool), state, "mode")
    torch.manual_seed(1)
    _, from_fresh = model.act(obs, torch.ones(2, dtype=torch.bool), fresh, "mode")
    assert torch.equal(from_old[0]["deter"], from_fresh[0]["deter"])
    # The greedy actor ('mode') does not depend on the random state, the sampling one does. (The
    # latent itself is sampled from the posterior in both modes, as the reference's policy does
    # with its default eval_state_mean=False.)
    feat = torch.randn(64, model.world_model.rssm.features(model.initial_state(1)[0]).shape[-1])
    torch.manual_seed(2)
    greedy_a, sampled_a = model.behavior.act(feat, "mode"), model.behavior.act(feat, "sample")
    torch.manual_seed(3)
    greedy_b, sampled_b = model.behavior.act(feat, "mode"), model.behavior.act(feat, "sample")
    assert torch.equal(greedy_a, greedy_b)
    assert torch.equal(greedy_a.argmax(-1), model.behavior.actor(feat).argmax(-1))
    assert not torch.equal(sampled_a, sampled_b)


def test_dynamics_backprop_reaches_the_actor_through_the_model():
    torch.manual_seed(0)
    config = resolve_config(["debug"], {"behavior.actor_grad_mix": 0.0, "behavior.actor_entropy": 0.0,
                                        "model.weight_decay": 0.0})  # decay would move the actor without gradients
    model = DreamerV2(config, (1, 64, 64), 3, torch.device("cpu"))
    batch = _batch(config, 6, 2, 3)
    before = [p.detach().clone() for p in model.behavior.actor.parameters()]
    wm_before = [p.detach().clone() for p in model.world_model.parameters()]
    post, _ = model.world_model.train_step({k: v for k, v in batch.items()})
    wm_after_model_step = [p.detach().clone() for p in model.world_model.parameters()]
    model.behavior.train_step(model.world_model, post, batch["is_terminal"])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.behavior.actor.parameters()))
    # The actor's loss must not move the world model.
    assert all(torch.equal(a, b) for a, b in zip(wm_after_model_step, model.world_model.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(wm_before, wm_after_model_step))


def test_bf16_autocast_update_is_finite_and_returns_float_actions():
    torch.manual_seed(0)
    config = resolve_config(["debug"], {"train.precision": "bf16"})
    model = DreamerV2(config, (1, 64, 64), 3, torch.device("cpu"))
    metrics = model.train_step(_batch(config, 6, 2, 3))
    assert all(math.isfinite(v) for v in metrics.values())
    actions, (latent, prev_action) = model.act(
        torch.zeros(2, 1, 64, 64, dtype=torch.uint8), torch.ones(2, dtype=torch.bool), model.initial_state(2), "mode"
    )
    assert actions.dtype == torch.int64 and prev_action.dtype == torch.float32


def test_decoder_first_layer_as_matmul_equals_the_transposed_conv():
    from agent.dreamerv2.networks import ConvDecoder

    torch.manual_seed(0)
    decoder = ConvDecoder(20, 1, 4)
    feat = torch.randn(3, 20)
    x = decoder.dense(feat).reshape(3, -1, 1, 1)
    reference = decoder.net(x)  # every layer as nn.ConvTranspose2d
    assert torch.allclose(decoder(feat), reference, atol=1e-5)
    assert decoder(feat).shape == (3, 1, 64, 64)


def test_channels_last_conv_stacks_compute_the_reference_functions():
    import torch.nn.functional as F

    from agent.dreamerv2.networks import ConvEncoder

    torch.manual_seed(0)
    encoder = ConvEncoder(1, 64, 4)
    images = torch.randint(0, 255, (3, 1, 64, 64), dtype=torch.uint8)
    x = images.float() / 255.0 - 0.5
    for conv in encoder.net[::2]:  # contiguous NCHW weights, plain conv2d + ELU
        x = F.elu(F.conv2d(x, conv.weight.contiguous(), conv.bias, stride=2))
    assert torch.allclose(encoder(images), x.flatten(1), atol=1e-5)
    assert encoder.net[2].weight.is_contiguous(memory_format=torch.channels_last)


def test_imagination_logits_are_the_actor_on_detached_features_with_a_graph():
    torch.manual_seed(0)
    config = resolve_config(["debug"])
    model = DreamerV2(config, (1, 64, 64), 3, torch.device("cpu"))
    post, _ = model.world_model.train_step(_batch(config, 6, 2, 3))
    start = {k: v.flatten(0, 1) for k, v in post.items()}
    with torch.no_grad():
        seq = model.behavior.imagine(model.world_model, start, torch.zeros(12, dtype=torch.bool))
    horizon = config.behavior.horizon
    assert seq["logits"].shape == (horizon, 12, 3) and seq["feat"].shape[0] == horizon + 1
    assert torch.allclose(seq["logits"], model.behavior.actor(seq["feat"][:-1]), atol=1e-6)
    # The actor loss backpropagates through these logits into the actor only.
    model.zero_grad(set_to_none=True)
    seq["logits"].sum().backward()
    assert all(p.grad is not None for p in model.behavior.actor.parameters())
    assert all(p.grad is None for p in model.world_model.rssm.parameters())


def test_actor_and_critic_losses_by_hand():
    """H = 2 imagined steps, one trajectory, two actions: the alignment of targets, baselines and
    weights (the reference's: the policy at z_0 is scored on a_1 with advantage t_1 - v_0, weight w_0)."""
    from agent.dreamerv2.behavior import actor_objective, critic_regression

    logits = torch.tensor([[[0.0, math.log(3.0)]], [[5.0, -5.0]]])  # z_0: p = (1/4, 3/4); z_1: unused
    action = torch.tensor([[[0.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]]])  # a_0 (start), a_1 = 1, a_2 = 0
    target = torch.tensor([[2.0], [5.0]])  # t_0, t_1
    value = torch.tensor([[1.5], [4.0], [9.0]])  # v_0, v_1, v_2
    weight = torch.tensor([[1.0], [0.5], [0.25]])  # w_0, w_1, w_2
    entropy_z0 = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))

    loss, entropy = actor_objective(logits, action, target, value, weight, rho=1.0, entropy_scale=0.1)
    # REINFORCE: -(w_0 * (log p(a_1 | z_0) * (t_1 - v_0) + 0.1 * H(z_0))), one term.
    assert float(loss) == pytest.approx(-(1.0 * (math.log(0.75) * (5.0 - 1.5) + 0.1 * entropy_z0)), rel=1e-6)
    assert entropy.shape == (1, 1) and float(entropy) == pytest.approx(entropy_z0, rel=1e-6)
    # Dynamics backprop (rho = 0): the objective is the target t_1 itself (plus the entropy bonus).
    loss, _ = actor_objective(logits, action, target, value, weight, rho=0.0, entropy_scale=0.0)
    assert float(loss) == pytest.approx(-5.0)

    critic_value = torch.tensor([[1.0], [6.0]])  # v(z_0), v(z_1) of the trained critic
    # mean over t = 0, 1 of 0.5 (v_t - t_t)^2 w_t = (0.5 * 1 * 1 + 0.5 * 1 * 0.5) / 2
    assert float(critic_regression(critic_value, target, weight)) == pytest.approx((0.5 + 0.25) / 2)


def test_world_model_loss_by_hand():
    """T = 2 replayed steps, one sequence, 1 x 1 x 2 images, one latent of two classes: each head
    is scored on the same step's image, tanh(reward) and gamma * (1 - terminal); KL balanced."""
    from agent.dreamerv2.world_model import model_objective

    config = resolve_config(["atari100k"], {"model.free_nats": 0.05})
    model, gamma = config.model, config.behavior.discount
    batch = {
        "obs": torch.tensor([[0, 255], [51, 102]], dtype=torch.uint8).reshape(2, 1, 1, 1, 2),
        "reward": torch.tensor([[0.0], [1.0]]),
        "is_terminal": torch.tensor([[False], [True]]),
    }
    image_mean = torch.tensor([[0.0, 0.0], [0.1, -0.1]]).reshape(2, 1, 1, 1, 2)
    reward_mean = torch.tensor([[0.5], [0.2]])
    discount_logit = torch.tensor([[0.0], [2.0]])
    post = torch.tensor([[0.0, 0.0], [math.log(0.25), math.log(0.75)]]).reshape(2, 1, 1, 2)
    prior = torch.zeros(2, 1, 1, 2)
    loss, losses, kl_value = model_objective(config, image_mean, reward_mean, discount_logit, post, prior, batch)

    half_log_2pi = 0.5 * math.log(2 * math.pi)
    targets = [(-0.5, 0.5), (51 / 255 - 0.5, 102 / 255 - 0.5)]
    image = [sum(0.5 * (x - m) ** 2 + half_log_2pi for x, m in zip(t, means))
             for t, means in zip(targets, [(0.0, 0.0), (0.1, -0.1)])]
    reward = [0.5 * (math.tanh(0.0) - 0.5) ** 2 + half_log_2pi, 0.5 * (math.tanh(1.0) - 0.2) ** 2 + half_log_2pi]
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    bce = lambda y, logit: -(y * math.log(sigmoid(logit)) + (1 - y) * math.log(1 - sigmoid(logit)))  # noqa: E731
    discount = [bce(gamma, 0.0), bce(0.0, 2.0)]  # step 1 is terminal: target 0
    kl = [0.0, 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)]  # mean 0.0654 > free 0.05
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    assert float(losses["image"]) == pytest.approx(mean(image), rel=1e-5)
    assert float(losses["reward"]) == pytest.approx(mean(reward), rel=1e-5)
    assert float(losses["discount"]) == pytest.approx(mean(discount), rel=1e-5)
    assert float(losses["kl"]) == pytest.approx(mean(kl), rel=1e-5) and float(kl_value) == pytest.approx(mean(kl))
    expected = (model.image_scale * mean(image) + model.reward_scale * mean(reward)
                + model.discount_scale * mean(discount) + model.kl_scale * mean(kl))
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # Below the free nats each KL term is the constant `free` (no gradient).
    _, losses, _ = model_objective(resolve_config(["atari100k"], {"model.free_nats": 1.0}), image_mean,
                                   reward_mean, discount_logit, post, prior, batch)
    assert float(losses["kl"]) == pytest.approx(1.0)
