"""The benchmarks' CPU/RSS sampler reads short runs as NaN cells, never an IndexError
(Crayfish's 2,000-event smoke runs ended before two samples were taken)."""

from __future__ import annotations

import math
import os

from benchmarks.scoring.run import Sampler


def test_no_samples_is_nan_not_an_index_error() -> None:
    cores, rss = Sampler(pid=os.getpid()).between(0.0, 1.0)
    assert math.isnan(cores) and math.isnan(rss)


def test_one_sample_gives_the_peak_but_no_rate() -> None:
    sampler = Sampler(pid=os.getpid(), samples=[(10.0, 1.0, 2.0 * 2**20)])
    cores, rss = sampler.between(10.0, 10.0)
    assert math.isnan(cores) and rss == 2.0


def test_a_window_averages_cores_between_its_first_and_last_samples() -> None:
    samples = [(0.0, 0.0, 2**20), (1.0, 0.5, 3 * 2**20), (2.0, 1.5, 2**20), (9.0, 5.0, 2**20)]
    cores, rss = Sampler(pid=os.getpid(), samples=samples).between(0.0, 2.0)
    assert cores == 0.75 and rss == 3.0
