"""A loaded artifact wrapped with the version's pre / post processors."""

from __future__ import annotations

import numpy as np

from streamapp.inputs.batch import FeatureBatch, direct_inputs, processor_columns
from streamapp.processing import Bucket, Processors, as_matrix, columns
from streamapp.runtime.base import FloatMatrix, ModelRows, ScoringModel


class ProcessedModel(ScoringModel):
    """``post(artifact(pre(columns(rows))))``; any raise propagates, so the scorer bisects
    (a pre processor's :class:`~streamapp.processing.RowErrors` dead-letters its rows)."""

    def __init__(self, inner: ScoringModel, processors: Processors) -> None:
        super().__init__(inner.manifest)
        self.inner = inner
        self.processors = processors
        self.runtime = inner.runtime
        self.device = inner.device

    def predict(self, features: FloatMatrix) -> FloatMatrix:
        manifest, pre = self.manifest, self.processors.pre
        matrix = features
        if pre is not None:
            matrix = as_matrix(
                pre(columns(manifest.features, features)), len(features),
                manifest.model_input_width, "pre",
            )
        return self._post(self.inner.predict(matrix), len(features))

    def score(self, rows: ModelRows) -> FloatMatrix:
        if not isinstance(rows, FeatureBatch):
            return self.predict(rows)
        manifest, pre = self.manifest, self.processors.pre
        if pre is None:
            return self._post(self.inner.predict_inputs(direct_inputs(manifest, rows)), len(rows))
        made = pre(processor_columns(manifest, rows))
        if isinstance(made, list):
            return self._post(self._buckets(made, len(rows)), len(rows))
        if not isinstance(made, dict):
            raise TypeError(f"pre returned {type(made).__name__}; a tensor model's pre returns "
                            "{input name: array} or a list of Bucket")
        return self._post(self.inner.predict_inputs(made), len(rows))

    def _buckets(self, buckets: list[Bucket], rows: int) -> FloatMatrix:
        """One model call per bucket, outputs scattered back to the batch's row order.
        Raises ``ValueError`` unless the buckets cover every row exactly once."""
        width = self.manifest.model_output_width
        out = np.empty((rows, width), dtype=np.float32)
        seen = np.zeros(rows, dtype=np.int64)
        for bucket in buckets:
            index = np.asarray(bucket.rows, dtype=np.intp)
            if len(index):
                out[index] = self.inner.predict_inputs(bucket.inputs).reshape(len(index), width)
                np.add.at(seen, index, 1)
        if not (seen == 1).all():
            raise ValueError("pre's buckets must hold every row of the batch exactly once")
        return out

    def _post(self, out: FloatMatrix, rows: int) -> FloatMatrix:
        post = self.processors.post
        if post is None:
            return out
        return as_matrix(post(out), rows, self.manifest.output.width, "post")

    def close(self) -> None:
        self.inner.close()
