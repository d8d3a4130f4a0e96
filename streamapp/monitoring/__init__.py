"""The MONITORING role: label join, rolling accuracy, drift and retraining policy.

Two planes in one process, meeting only on the summaries topic:

- :mod:`.dataplane`: consume logged predictions and labels, join them in
  partition stores, fold outcomes into mergeable summaries, checkpoint
  (:mod:`.dataplane.checkpoint`); runs on the scoring ports, so
  ``streamapp.testing``'s in-memory cluster runs it too;
- :mod:`.control`: the faust agent that merges summaries into windows and
  applies the retraining policy and the canary / shadow verdicts.

:mod:`.role` hosts both (``streamapp monitor``); :mod:`.spec_cache` is what both
planes read of a model version. The maths lives in :mod:`streamapp.statistics`.
"""
