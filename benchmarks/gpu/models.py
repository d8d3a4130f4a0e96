"""Benchmark models with random weights: a ResNet-50 and a small transformer classifier.

Weights do not change the cost of a forward pass, so nothing is trained or downloaded.
The ResNet-50 is the standard bottleneck network (blocks 3, 4, 6, 3; 25.6M parameters
at ``width`` 64), written out here so the benchmark needs no torchvision.
"""

from __future__ import annotations

import torch
from torch import nn


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        out = planes * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(True),
            nn.Conv2d(planes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes),
            nn.ReLU(True), nn.Conv2d(planes, out, 1, bias=False), nn.BatchNorm2d(out),
        )
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or inplanes != out:
            self.skip = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False),
                                      nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


def resnet50(num_classes: int = 1000, width: int = 64) -> nn.Module:
    """ResNet-50 (``width`` 64) or a narrower one of the same depth; softmax output."""
    layers: list[nn.Module] = [nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width),
                               nn.ReLU(True), nn.MaxPool2d(3, 2, 1)]
    inplanes = width
    for i, blocks in enumerate((3, 4, 6, 3)):
        planes = width * 2**i
        for b in range(blocks):
            layers.append(Bottleneck(inplanes, planes, 2 if b == 0 and i > 0 else 1))
            inplanes = planes * Bottleneck.expansion
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inplanes, num_classes),
               nn.Softmax(dim=1)]
    return nn.Sequential(*layers).eval()


class TextClassifier(nn.Module):
    """Token embedding + positions → a transformer encoder → masked mean pool → softmax."""

    def __init__(self, vocab: int, d_model: int = 256, layers: int = 4, heads: int = 4,
                 classes: int = 2, max_len: int = 512) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.position = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.embed(input_ids) + self.position(positions)[None]
        x = self.encoder(x, src_key_padding_mask=attention_mask == 0)
        mask = attention_mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return torch.softmax(self.head(pooled), dim=1)
