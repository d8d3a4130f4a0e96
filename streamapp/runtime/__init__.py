"""Model runtimes behind one :class:`ScoringModel` contract (ONNX Runtime, TorchScript).

This package is the only place that imports torch or onnxruntime; the Kafka
layer never imports it directly.
"""
