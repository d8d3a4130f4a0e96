"""The tensor workloads on the torch runtime: CUDA checks, batch sweeps, length buckets."""
