"""streamapp: a stream-processing model scoring engine.

Kafka-consuming workers score events with ONNX Runtime or PyTorch models in
adaptive micro-batches; a faust-streaming monitor joins logged predictions with
delayed labels, tracks rolling accuracy and drift, and emits retraining events.
"""

__version__ = "0.1.0"
