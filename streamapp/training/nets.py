"""Small torch networks used by the demo models and the reference retrainer."""

from __future__ import annotations

import torch
from torch import nn


class TabularMLP(nn.Module):
    """Standardise → MLP → softmax (classification) or identity (regression).

    The standardisation statistics are buffers, so the exported ONNX and
    TorchScript artifacts take raw encoded features, exactly what the scorer builds.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        mean: torch.Tensor,
        std: torch.Tensor,
        n_out: int,
        classification: bool,
        hidden: tuple[int, ...] = (64, 32),
    ) -> None:
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float().clamp_min(1e-6))
        layers: list[nn.Module] = []
        width = int(mean.numel())
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_out))
        self.body = nn.Sequential(*layers)
        self.classification = classification

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body((x - self.mean) / self.std)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.logits(x)
        if self.classification:
            return torch.softmax(out, dim=1)
        return out
