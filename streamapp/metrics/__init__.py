"""Every Prometheus metric streamapp exports, defined in this package and nowhere else.

One module per role (``scoring``, ``monitoring``) plus ``common`` for both.
Each metrics class takes a ``prometheus=`` registry so tests use a fresh
``CollectorRegistry``. Label values are bounded (model name/version, variant,
reason codes, configured feature names) — never raw user input.
"""
