"""Exporting bundles for serving outside PyTorch: ONNX graphs with a manifest (`export_onnx`), and
`OnnxModel`, which runs such an export with ONNX Runtime (`pip install 'siamkit[onnx]'`)."""

from siamkit.export.onnx_export import ExportError, OnnxExport, export_onnx
from siamkit.export.onnx_model import OnnxModel

__all__ = ["ExportError", "OnnxExport", "OnnxModel", "export_onnx"]
