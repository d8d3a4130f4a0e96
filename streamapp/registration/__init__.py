"""Register any model in one call: ``register(model, X_ref, y_ref, name=...)``.

Converters (skl2onnx, onnxmltools) are imported only here, on demand: this is
CLI / notebook code, never imported by a scoring worker.
"""

from streamapp.registration.api import Registered, register
from streamapp.registration.frame import RegistrationError

__all__ = ["Registered", "RegistrationError", "register"]
