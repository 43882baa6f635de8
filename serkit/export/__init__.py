"""Export of trained models (ONNX)."""
