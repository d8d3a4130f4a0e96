"""The monitor's control plane (faust): merge summaries, windows, policies, verdicts, incidents."""
