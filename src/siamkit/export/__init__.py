"""Exporting bundles for serving outside PyTorch: ONNX graphs with a manifest (`export_onnx`), optionally with
8-bit encoders (`QuantizationConfig`), and `OnnxModel`, which runs such an export with ONNX Runtime
(`pip install 'siamkit[onnx]'`)."""

from siamkit.export.onnx_export import ExportError, OnnxExport, export_onnx
from siamkit.export.onnx_model import OnnxModel
from siamkit.export.quantization import QuantizationCheck, QuantizationConfig, QuantizationError

__all__ = [
    "ExportError",
    "OnnxExport",
    "OnnxModel",
    "QuantizationCheck",
    "QuantizationConfig",
    "QuantizationError",
    "export_onnx",
]
