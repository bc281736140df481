"""A sum tree over leaf priorities: O(log n) vectorised updates and proportional sampling.

As Dopamine's `replay_memory/sum_tree.py` (the buffer of the published DER runs): new items
get `max_recorded_priority` (starts at 1.0, the max of every value ever set, never decays);
`stratified_sample` splits [0, total) into `batch_size` equal segments and draws one
point in each. Parents are recomputed from their children on every update (no drift).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class SumTree:
    """Priorities of `capacity` leaves (float64), all zero at first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self.leaves = 1 << max(0, (self.capacity - 1).bit_length())
        self.tree = np.zeros(2 * self.leaves, np.float64)  # heap layout: root at 1, leaf i at leaves + i
        self.max_recorded_priority = 1.0

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def get(self, indices: np.ndarray) -> np.ndarray:
        """Priorities of leaves `indices` (int [B]) -> float64 [B]."""
        return self.tree[self.leaves + np.asarray(indices)]

    def set(self, indices: np.ndarray, values: np.ndarray) -> None:
        """Set leaves `indices` to `values` (>= 0); with repeated indices the last value wins."""
        indices = np.asarray(indices, np.int64).ravel()
        values = np.asarray(values, np.float64).ravel()
        if values.size and (not np.all(np.isfinite(values)) or values.min() < 0):
            raise ValueError("priorities must be finite and >= 0")
        if not indices.size:
            return
        self.max_recorded_priority = max(self.max_recorded_priority, float(values.max()))
        # Last occurrence of each index (as sequential sets would leave it).
        reverse_unique = np.unique(indices[::-1], return_index=True)[1]
        keep = indices.size - 1 - reverse_unique
        nodes = self.leaves + indices[keep]
        self.tree[nodes] = values[keep]
        nodes = np.unique(nodes >> 1)
        while nodes[0] >= 1:
            self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]
            if nodes[0] == 1:
                break
            nodes = np.unique(nodes >> 1)

    def find(self, targets: np.ndarray) -> np.ndarray:
        """Leaf index of each target mass in [0, total) (float [B]) -> int64 [B]."""
        targets = np.array(targets, np.float64)
        nodes = np.ones(targets.shape, np.int64)
        while nodes[0] < self.leaves:
            left = self.tree[2 * nodes]
            go_right = targets >= left
            targets = np.where(go_right, targets - left, targets)
            nodes = 2 * nodes + go_right
        return nodes - self.leaves

    def stratified_sample(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """One leaf per equal segment of the total mass -> int64 [batch_size]."""
        bounds = np.linspace(0.0, 1.0, batch_size + 1)
        points = rng.uniform(bounds[:-1], bounds[1:]) * self.total
        return np.minimum(self.find(points), self.capacity - 1)

    def sample(self, rng: np.random.Generator) -> int:
        """One leaf drawn proportionally to its priority."""
        return int(min(self.find(np.array([rng.uniform(0.0, self.total)]))[0], self.capacity - 1))

    def state_dict(self) -> dict[str, Any]:
        return {"tree": self.tree, "max_recorded_priority": self.max_recorded_priority}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tree = np.array(state["tree"], np.float64)
        self.max_recorded_priority = float(state["max_recorded_priority"])
