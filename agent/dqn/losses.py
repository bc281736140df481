"""The distributional losses of DER (C51) and IQN (quantile Huber), as Dopamine computes them."""

from __future__ import annotations

import torch


def project_distribution(target_support: torch.Tensor, probabilities: torch.Tensor,
                         support: torch.Tensor) -> torch.Tensor:
    """C51 projection of a distribution on `target_support` onto the fixed `support`.

    Dopamine `rainbow_agent.project_distribution`: each target atom is clipped to
    [v_min, v_max] and its mass split between the two nearest support atoms by the
    triangular kernel clip(1 - |z_j - s_i| / dz, 0, 1).
    target_support, probabilities: [B, K]; support: [K] (evenly spaced). Returns [B, K].
    """
    v_min, v_max = support[0], support[-1]
    delta = (v_max - v_min) / (support.numel() - 1)
    clipped = target_support.clamp(v_min, v_max)
    weight = (1.0 - (clipped[:, None, :] - support[None, :, None]).abs() / delta).clamp(0.0, 1.0)  # [B, K_i, K_j]
    return (weight * probabilities[:, None, :]).sum(-1)


def quantile_huber_loss(targets: torch.Tensor, quantile_values: torch.Tensor, taus: torch.Tensor,
                        kappa: float) -> torch.Tensor:
    """IQN's loss per transition (Dopamine `implicit_quantile_agent.train`).

    targets [B, N'] (no gradient), quantile_values [B, N] at taus [B, N]. With
    delta_ij = target_i - value_j: rho = |tau_j - 1{delta_ij < 0}| * Huber_kappa(delta_ij) / kappa,
    summed over j (N) and averaged over i (N'). Returns [B].
    """
    delta = targets[:, :, None] - quantile_values[:, None, :]  # [B, N', N]
    abs_delta = delta.abs()
    huber = torch.where(abs_delta <= kappa, 0.5 * delta.square(), kappa * (abs_delta - 0.5 * kappa))
    weight = (taus[:, None, :] - (delta.detach() < 0).to(delta.dtype)).abs()
    return (weight * huber / kappa).sum(2).mean(1)
