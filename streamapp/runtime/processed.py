"""A loaded artifact wrapped with the version's pre / post processors."""

from __future__ import annotations

from streamapp.processing import Processors, as_matrix, columns
from streamapp.runtime.base import FloatMatrix, ScoringModel


class ProcessedModel(ScoringModel):
    """``post(artifact(pre(columns(rows))))``; any raise propagates, so the scorer bisects."""

    def __init__(self, inner: ScoringModel, processors: Processors) -> None:
        super().__init__(inner.manifest)
        self.inner = inner
        self.processors = processors
        self.runtime = inner.runtime
        self.device = inner.device

    def predict(self, features: FloatMatrix) -> FloatMatrix:
        manifest, pre, post = self.manifest, self.processors.pre, self.processors.post
        rows = len(features)
        matrix = features
        if pre is not None:
            matrix = as_matrix(
                pre(columns(manifest.features, features)), rows, manifest.model_input_width, "pre"
            )
        out = self.inner.predict(matrix)
        if post is not None:
            out = as_matrix(post(out), rows, manifest.output.width, "post")
        return out

    def close(self) -> None:
        self.inner.close()
