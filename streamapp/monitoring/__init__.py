"""The MONITORING role: label join, rolling accuracy, drift and retraining policy (faust)."""
