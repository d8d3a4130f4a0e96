"""Built-in pre processors for tensor models, named by import path in a manifest's
``processing.pre`` and built ``from_context`` (see :mod:`streamapp.processing`):

- ``streamapp.preprocess.text:Tokenize``: a ``text`` feature → ``input_ids`` and
  ``attention_mask``, rows grouped into length buckets (:mod:`.text`).
- ``streamapp.preprocess.image:DecodeImages``: a ``bytes`` image feature → a normalised
  float32 ``(n, C, H, W)`` input; undecodable rows raise ``RowErrors`` (:mod:`.image`).

Options are documented in docs/preprocessing.md.
"""
