"""The monitor's data plane: consume logged predictions and labels, join, fold, checkpoint."""
