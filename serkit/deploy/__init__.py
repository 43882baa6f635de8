"""Deployment: the runner protocol (PyTorch :class:`~serkit.deploy.recognizer.Recognizer` and
ONNX :class:`~serkit.deploy.runtime.OnnxRecognizer`), pretrained bundles with model cards, ONNX
export / metadata / check, the HTTP service, the latency benchmark and the demo.

Importing this package imports nothing heavy: the ONNX runner needs numpy, soundfile, soxr and
onnxruntime only."""
