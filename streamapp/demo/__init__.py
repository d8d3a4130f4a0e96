"""``streamapp demo``: the whole loop — traffic, scoring, labels, drift, retraining, recovery."""
