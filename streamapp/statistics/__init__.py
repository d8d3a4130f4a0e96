"""Profile and statistics maths shared by registration, training and the monitor.

Pure functions and mergeable summaries over numpy/scipy: binning in the model's numeric
representation, drift distances, quality metrics, label-free estimation, trigger
calibration and the verdict tests. Nothing here talks to Kafka or faust.
"""
