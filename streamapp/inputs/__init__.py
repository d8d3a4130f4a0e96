"""Features beyond scalars: tensors, text and bytes, decoded into named columns per batch.

- :mod:`.batch`: :class:`FeatureBatch`, a batch's features as the scalar matrix plus one
  column per tensor, text or bytes feature, and the model inputs built from it;
- :mod:`.tensors`: the JSON decoder of such features (nested arrays or base64), with a
  dead-letter reason for every bad value;
- :mod:`.sketch`: the scalar summaries of those features that the monitor profiles for
  drift (random projections, lengths, a processor's own summaries);
- :mod:`.reference`: reference data of a tensor model on disk (``reference.npz``).
"""

from streamapp.inputs.batch import FeatureBatch, direct_inputs, processor_columns

__all__ = ["FeatureBatch", "direct_inputs", "processor_columns"]
