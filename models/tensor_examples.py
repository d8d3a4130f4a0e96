"""Small, seeded tensor, image and text models and their data: docs/models.md and benchmarks.

Nothing is downloaded: the digits are scikit-learn's bundled 8 x 8 images (1,797 of them)
upsampled to 28 x 28, the texts are generated from templates. Every function is
deterministic for a given seed (single-threaded CPU training, fixed orders), and each
trains in a few seconds on two CPU cores.

- :func:`train_ffn`: Crayfish's feed-forward network (784 → 32 → 10, 25,450 parameters)
  on the ``pixels`` tensor ``float32 [28, 28]``;
- :func:`train_cnn`: a small CNN on images sent as PNG bytes and decoded by
  :class:`~streamapp.preprocess.image.DecodeImages` (grayscale, 28 x 28, ``(v/255 - 0.5) /
  0.5``), input ``input``;
- :func:`train_text_classifier`: a one-layer transformer encoder (d_model 32) on token ids
  from :class:`~streamapp.preprocess.text.Tokenize` (inputs ``input_ids``,
  ``attention_mask``).

Each model returns class probabilities (softmax), as streamapp serves classifiers.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

DIGIT_CLASSES = list(range(10))
TEXT_CLASSES = ["complaint", "praise"]


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seeded, single-threaded torch (restores the thread count after)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# -- data --------------------------------------------------------------------------------


def digits_28x28() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """scikit-learn's digits upsampled (bilinear) to ``(1797, 28, 28)`` float32 in [0, 1],
    and their labels 0-9."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    big = nn.functional.interpolate(small, size=(28, 28), mode="bilinear", align_corners=False)
    pixels = big.squeeze(1).clamp(0.0, 1.0).numpy().astype(np.float32)
    return np.ascontiguousarray(pixels), digits.target.astype(np.int64)


def png_bytes(pixels: npt.NDArray[np.floating]) -> list[bytes]:
    """Each ``(28, 28)`` image in [0, 1] as a grayscale PNG file's bytes."""
    from PIL import Image

    out = []
    for image in np.asarray(pixels):
        buffer = io.BytesIO()
        Image.fromarray(np.round(image * 255).astype(np.uint8), mode="L").save(buffer, "PNG")
        out.append(buffer.getvalue())
    return out


SUBJECTS = ["the delivery", "the app", "the support team", "the invoice", "my order",
            "the update", "the checkout", "the driver", "the refund", "the package"]
GOOD = ["fast", "helpful", "friendly", "great", "excellent", "smooth", "reliable", "perfect",
        "quick", "clear"]
BAD = ["slow", "broken", "rude", "late", "wrong", "confusing", "damaged", "useless", "missing",
       "terrible"]
OPENERS = ["honestly", "today", "again", "this time", "as usual", "once more", ""]
PRAISE = ["{o} {s} was {g} and {g2}", "{s} was {g}, thank you", "really {g} service, {s} was {g2}",
          "{o} i loved how {g} {s} was", "{s} is {g} {o}"]
COMPLAINT = ["{o} {s} was {b} and {b2}", "{s} was {b}, not happy", "really {b} service, {s} was "
             "{b2}", "{o} i hated how {b} {s} was", "{s} is {b} {o}"]


def generated_texts(n: int, seed: int = 0) -> tuple[list[str], npt.NDArray[np.str_]]:
    """``n`` customer messages from templates and their classes (``praise`` /
    ``complaint``, balanced); 1 in 10 has a word of the other class mixed in."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        praise = i % 2 == 0
        words = GOOD if praise else BAD
        template = rng.choice(PRAISE if praise else COMPLAINT)
        a, b = rng.sample(words, 2)
        text = template.format(o=rng.choice(OPENERS), s=rng.choice(SUBJECTS), g=a, g2=b, b=a,
                               b2=b)
        if rng.random() < 0.1:
            text += " but " + rng.choice(BAD if praise else GOOD)
        texts.append(" ".join(text.split()).capitalize())
        labels.append("praise" if praise else "complaint")
    return texts, np.array(labels)


# -- models ------------------------------------------------------------------------------


class FeedForward(nn.Module):
    """Crayfish's FFN: ``pixels (n, 28, 28)`` → 32 ReLU units → 10 class probabilities."""

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.hidden = nn.Linear(28 * 28, hidden)
        self.out = nn.Linear(hidden, 10)

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(pixels.flatten(1))))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(pixels), dim=1)


class SmallCNN(nn.Module):
    """``input (n, 1, 28, 28)`` → two 3x3 conv + pool blocks → 10 class probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Linear(16 * 7 * 7, 10)

    def logits(self, input: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(input).flatten(1))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(input), dim=1)


class TextClassifier(nn.Module):
    """Token ids → embeddings + learned positions → a transformer encoder → masked mean
    pooling → class probabilities. Inputs as :class:`~streamapp.preprocess.text.Tokenize`
    makes them: ``input_ids`` and ``attention_mask``, int64 ``(n, L)``, ``L <= max_len``."""

    def __init__(self, vocab: int, classes: int = 2, d_model: int = 32, heads: int = 2,
                 layers: int = 1, max_len: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.position = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=2 * d_model,
                                           dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, classes)

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.embed(input_ids) + self.position(positions).unsqueeze(0)
        x = self.encoder(x, src_key_padding_mask=attention_mask == 0)
        mask = attention_mask.unsqueeze(2).to(x.dtype)
        pooled = (x * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.head(pooled)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(input_ids, attention_mask), dim=1)


def _fit(model: nn.Module, batches: Sequence[tuple[tuple[torch.Tensor, ...], torch.Tensor]],
         epochs: int, lr: float, seed: int) -> None:
    """Adam on cross-entropy over ``batches`` (in a seeded order per epoch)."""
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    order = random.Random(seed)
    model.train()
    for _ in range(epochs):
        for i in order.sample(range(len(batches)), len(batches)):
            inputs, target = batches[i]
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(model.logits(*inputs), target)  # type: ignore[operator]
            loss.backward()
            optimiser.step()
    model.eval()


def _batches(arrays: Sequence[torch.Tensor], target: torch.Tensor, size: int
             ) -> list[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
    return [(tuple(a[i:i + size] for a in arrays), target[i:i + size])
            for i in range(0, len(target), size)]


def train_ffn(seed: int = 0, pixels: npt.NDArray[np.float32] | None = None,
              labels: npt.NDArray[np.int64] | None = None, epochs: int = 20) -> FeedForward:
    """Crayfish's FFN trained on ``pixels`` / ``labels`` (default: all of
    :func:`digits_28x28`), in eval mode."""
    if pixels is None or labels is None:
        pixels, labels = digits_28x28()
    with _seeded(seed):
        model = FeedForward()
        batches = _batches([torch.from_numpy(pixels)], torch.from_numpy(labels), 128)
        _fit(model, batches, epochs, 0.01, seed)
    return model


def train_cnn(images: npt.NDArray[np.float32], labels: npt.NDArray[np.int64], seed: int = 0,
              epochs: int = 8) -> SmallCNN:
    """The CNN trained on ``images`` ``(n, 1, 28, 28)``, normalised as the pre processor
    will feed them (``DecodeImages(...)(columns)["input"]``), in eval mode."""
    with _seeded(seed):
        model = SmallCNN()
        batches = _batches([torch.from_numpy(images)], torch.from_numpy(labels), 64)
        _fit(model, batches, epochs, 0.005, seed)
    return model


def train_text_classifier(buckets: Sequence[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64],
                                                 npt.NDArray[np.int64]]],
                          vocab: int, seed: int = 0, epochs: int = 6, max_len: int = 64
                          ) -> TextClassifier:
    """The transformer classifier trained on ``(input_ids, attention_mask, labels)``
    buckets (e.g. ``Tokenize``'s buckets and the labels of their rows), in eval mode."""
    with _seeded(seed):
        model = TextClassifier(vocab, len(TEXT_CLASSES), max_len=max_len)
        batches = []
        for ids, mask, y in buckets:
            batches += _batches([torch.from_numpy(ids), torch.from_numpy(mask)],
                                torch.from_numpy(y), 32)
        _fit(model, batches, epochs, 0.003, seed)
    return model
