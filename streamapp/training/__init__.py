"""Training and export of model versions (demo models and the reference retrainer)."""
