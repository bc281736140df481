"""Dopamine's value networks for Atari, in PyTorch: the Nature CNN torso, noisy linear
layers, the dueling C51 head (DER) and the implicit quantile head (IQN).

Sources (google/dopamine, `dopamine/jax/networks.py`): `FullRainbowNetwork` (DER),
`NoisyNetwork`, `ImplicitQuantileNetwork`, `preprocess_atari_inputs` (x / 255).
Flax convolutions pad 'SAME': 84 -> 21 (k8 s4, pad 2|2) -> 11 (k4 s2, pad 1|2, asymmetric)
-> 11 (k3 s1, pad 1|1), so the torso gives 11 * 11 * 64 = 7,744 features (not the
Nature DQN's 3,136 with 'VALID' padding).

Inputs are uint8 [B, 4, 84, 84] frame stacks (channels = the 4 most recent frames).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow/Flax 'SAME' padding (before, after) for one spatial dimension."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class NatureTorso(nn.Module):
    """Conv 32x8x8/4, 64x4x4/2, 64x3x3/1 with ReLU, 'SAME' padding; [B, 4, H, W] uint8 -> [B, F].

    Kernels xavier_uniform, biases zero (Dopamine's `nn.initializers.xavier_uniform()` and
    Flax's default zero bias for FullRainbowNetwork); `init='iqn'` gives IQN's
    variance_scaling(1/sqrt(3), fan_in, uniform) kernels instead.
    """

    def __init__(self, in_channels: int = 4, size: int = 84, init: str = "xavier") -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        self.pads: list[tuple[int, int, int, int]] = []
        channels = in_channels
        for features, kernel, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
            before, after = same_padding(size, kernel, stride)
            self.pads.append((before, after, before, after))
            conv = nn.Conv2d(channels, features, kernel, stride)
            if init == "xavier":
                nn.init.xavier_uniform_(conv.weight)
            else:
                variance_scaling_uniform_(conv.weight, 1.0 / math.sqrt(3.0))
            nn.init.zeros_(conv.bias)
            self.convs.append(conv)
            channels, size = features, math.ceil(size / stride)
        self.out_features = channels * size * size
        self.to(memory_format=torch.channels_last)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.float().div_(255.0).contiguous(memory_format=torch.channels_last)
        for conv, pad in zip(self.convs, self.pads):
            x = F.relu_(conv(F.pad(x, pad)))
        return x.flatten(1)


def variance_scaling_uniform_(weight: torch.Tensor, scale: float) -> None:
    """Keras/Flax variance_scaling(scale, 'fan_in', 'uniform'): U(+-sqrt(3 * scale / fan_in))."""
    fan_in = weight[0].numel()
    bound = math.sqrt(3.0 * scale / fan_in)
    with torch.no_grad():
        weight.uniform_(-bound, bound)


class NoisyLinear(nn.Module):
    """Factorised-Gaussian noisy linear layer (Fortunato et al. 2018, eqs. 10-11), as Dopamine's NoisyNetwork.

    mu ~ U(+-1/sqrt(fan_in)) for weights and biases, sigma = 0.1/sqrt(fan_in) (Dopamine's
    sigma_init; the paper's 0.5 is not used). Noise is drawn from torch's global generator by
    `resample()`: eps_w = f(p) f(q)^T, eps_b = f(q), f(x) = sign(x) sqrt|x|; with
    `noise=False` the layer is its mean (Dopamine turns noise off in eval mode).
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        sigma = 0.1 / math.sqrt(in_features)
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.weight_sigma = nn.Parameter(torch.full((out_features, in_features), sigma))
        self.bias_mu = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        self.bias_sigma = nn.Parameter(torch.full((out_features,), sigma))
        self.register_buffer("eps_in", torch.zeros(in_features), persistent=False)
        self.register_buffer("eps_out", torch.zeros(out_features), persistent=False)

    @staticmethod
    def _f(x: torch.Tensor) -> torch.Tensor:
        return x.sign() * x.abs().sqrt()

    def resample(self) -> None:
        """Draw new factorised noise (shared by every row of the next batches)."""
        self.eps_in.copy_(self._f(torch.randn(self.in_features, device=self.eps_in.device)))
        self.eps_out.copy_(self._f(torch.randn(self.out_features, device=self.eps_out.device)))

    def forward(self, x: torch.Tensor, noise: bool = True) -> torch.Tensor:
        if not noise:
            return F.linear(x, self.weight_mu, self.bias_mu)
        # x W^T with W = mu + sigma * (eps_out eps_in^T), without forming the noise matrix:
        # x (sigma * eps_out eps_in^T)^T = ((x * eps_in) sigma^T) * eps_out.
        mean = F.linear(x, self.weight_mu, self.bias_mu + self.bias_sigma * self.eps_out)
        return mean + F.linear(x * self.eps_in, self.weight_sigma) * self.eps_out


class DenseOrNoisy(nn.Module):
    """Dopamine's `feature_layer`: a NoisyLinear when `noisy`, else a Dense with xavier_uniform kernel and zero bias."""

    def __init__(self, in_features: int, out_features: int, noisy: bool) -> None:
        super().__init__()
        self.noisy = noisy
        if noisy:
            self.layer: nn.Module = NoisyLinear(in_features, out_features)
        else:
            self.layer = nn.Linear(in_features, out_features)
            nn.init.xavier_uniform_(self.layer.weight)
            nn.init.zeros_(self.layer.bias)

    def forward(self, x: torch.Tensor, noise: bool) -> torch.Tensor:
        return self.layer(x, noise) if self.noisy else self.layer(x)


class RainbowNetwork(nn.Module):
    """DER's network (Dopamine FullRainbowNetwork): torso -> 512 (ReLU) -> dueling C51 logits.

    The 512-unit layer is shared by the value and advantage streams:
    logits[a] = value + adv[a] - mean_a(adv). Returns logits [B, A, atoms].
    """

    def __init__(self, num_actions: int, num_atoms: int, noisy: bool, dueling: bool, size: int = 84) -> None:
        super().__init__()
        self.num_actions, self.num_atoms, self.dueling = num_actions, num_atoms, dueling
        self.torso = NatureTorso(4, size)
        self.hidden = DenseOrNoisy(self.torso.out_features, 512, noisy)
        self.advantage = DenseOrNoisy(512, num_actions * num_atoms, noisy)
        self.value = DenseOrNoisy(512, num_atoms, noisy) if dueling else None

    def head(self, features: torch.Tensor, noise: bool) -> torch.Tensor:
        """Torso features [B, F] -> logits [B, A, atoms]."""
        x = F.relu(self.hidden(features, noise))
        adv = self.advantage(x, noise).view(-1, self.num_actions, self.num_atoms)
        if self.value is None:
            return adv
        value = self.value(x, noise).view(-1, 1, self.num_atoms)
        return value + adv - adv.mean(dim=1, keepdim=True)

    def forward(self, frames: torch.Tensor, noise: bool = True) -> torch.Tensor:
        return self.head(self.torso(frames), noise)

    def noisy_layers(self) -> list[NoisyLinear]:
        return [m for m in self.modules() if isinstance(m, NoisyLinear)]

    def resample(self) -> None:
        """New noise for every noisy layer. As in Dopamine, where all three layers split one key,
        the two heads (same fan-in, 512) share their input-side noise."""
        for layer in self.noisy_layers():
            layer.resample()
        if self.value is not None and self.value.noisy:
            self.value.layer.eps_in.copy_(self.advantage.layer.eps_in)

    def copy_noise_from(self, other: "RainbowNetwork") -> None:
        """Use `other`'s current noise (Dopamine's target computation gives both nets one key)."""
        for mine, theirs in zip(self.noisy_layers(), other.noisy_layers()):
            mine.eps_in.copy_(theirs.eps_in)
            mine.eps_out.copy_(theirs.eps_out)


class ImplicitQuantileNetwork(nn.Module):
    """IQN's network (Dopamine ImplicitQuantileNetwork): torso features psi(s) [B, 7744] times
    a cosine embedding of tau, then Dense 512 (ReLU) -> Dense A.

    phi(tau) = ReLU(Dense(cos(pi * i * tau), i = 1..embedding_dim)) (i starts at 1 in Dopamine).
    Every kernel is variance_scaling(1/sqrt(3), fan_in, uniform), every bias zero.
    """

    def __init__(self, num_actions: int, embedding_dim: int = 64, size: int = 84) -> None:
        super().__init__()
        self.num_actions, self.embedding_dim = num_actions, embedding_dim
        self.torso = NatureTorso(4, size, init="iqn")
        features = self.torso.out_features
        self.embed = nn.Linear(embedding_dim, features)
        self.hidden = nn.Linear(features, 512)
        self.out = nn.Linear(512, num_actions)
        for layer in (self.embed, self.hidden, self.out):
            variance_scaling_uniform_(layer.weight, 1.0 / math.sqrt(3.0))
            nn.init.zeros_(layer.bias)
        self.register_buffer("frequencies", torch.arange(1, embedding_dim + 1, dtype=torch.float32) * math.pi,
                             persistent=False)

    def quantiles(self, features: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
        """Torso features [B, F], taus [B, N] -> quantile values [B, N, A]."""
        phi = F.relu(self.embed(torch.cos(taus.unsqueeze(-1) * self.frequencies)))  # [B, N, F]
        x = F.relu(self.hidden(features.unsqueeze(1) * phi))
        return self.out(x)

    def forward(self, frames: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
        return self.quantiles(self.torso(frames), taus)
