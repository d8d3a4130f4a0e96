"""Mapping: decoded records → what the planes consume.

:mod:`.fields` reads the model's features, the event id and time from a record (dotted
paths, ``formats.features``); :mod:`.topic` is one input topic's format (the events
topic: envelopes and feature columns for the scoring decoder); :mod:`.labels` reads label
records for the monitor's join.
"""
