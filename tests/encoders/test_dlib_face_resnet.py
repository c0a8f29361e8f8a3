"""dlib's face network in PyTorch: the reader of dlib's file format, the architecture's dlib-specific parts,
and equality with dlib's own descriptors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import siamkit
from siamkit.encoders.dlib_face_resnet import DlibFaceResNet, _padded_add
from siamkit.encoders.dlib_weights import _Reader, default_weights_file, read_dlib_face_weights


def dlib_integer(value: int) -> bytes:
    """dlib's encoding, written by hand: a byte count (high bit for negatives), then little-endian bytes."""
    magnitude = abs(value)
    payload = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "little") if magnitude else b""
    return bytes([len(payload) | (0x80 if value < 0 else 0)]) + payload


@pytest.mark.parametrize("value", [0, 2, 255, 300, 590080, -7])
def test_reader_decodes_dlib_integers(value: int) -> None:
    encoded = dlib_integer(value) + b"\xff"
    decoded, end = _Reader(encoded, "x").integer(0)
    assert decoded == value and end == len(encoded) - 1


def test_reader_decodes_a_tensor_and_refuses_a_truncated_one() -> None:
    values = np.array([1.5, -2.0, 0.25], dtype="<f4")
    header = dlib_integer(2) + dlib_integer(3) + dlib_integer(1) + dlib_integer(1) + dlib_integer(1)
    decoded, end = _Reader(header + values.tobytes(), "x").tensor(0)
    assert np.array_equal(decoded, values) and end == len(header) + 12
    with pytest.raises(siamkit.DataError, match="truncated"):
        _Reader(header + values.tobytes()[:8], "x").tensor(0)


def test_padded_add_pads_channels_and_sides_with_zeros_at_the_end() -> None:
    small = torch.ones(1, 1, 2, 2)
    large = torch.full((1, 2, 3, 3), 10.0)
    expected = large.clone()
    expected[0, 0, :2, :2] += 1
    assert torch.equal(_padded_add(small, large), expected)
    assert torch.equal(_padded_add(large, small), expected)


def test_the_file_in_face_recognition_models_loads_completely() -> None:
    state = read_dlib_face_weights()
    network = DlibFaceResNet()
    network.load_state_dict(state, strict=True)
    assert sum(tensor.numel() for tensor in state.values()) == sum(p.numel() for p in network.parameters())
    assert state["stem.weight"].shape == (32, 3, 7, 7) and state["projection.weight"].shape == (128, 256)


def test_descriptors_equal_dlibs_own() -> None:
    """The same chips through dlib's C++ network and through ours give the same 128 numbers."""
    dlib = pytest.importorskip("dlib", reason="dlib comes with siamkit[faces], which the dev install includes")
    recognizer = dlib.face_recognition_model_v1(str(default_weights_file()))
    generator = np.random.default_rng(0)
    # Smooth random "faces": noise blurred by upsampling, so activations are in a natural range.
    chips = [
        np.asarray(np.kron(generator.integers(0, 256, (15, 15, 3)), np.ones((10, 10, 1))), dtype=np.uint8).copy()
        for _ in range(2)
    ]
    expected = np.stack([np.array(recognizer.compute_face_descriptor(chip)) for chip in chips])
    network = DlibFaceResNet().eval()
    network.load_state_dict(read_dlib_face_weights())
    with torch.no_grad():
        ours = network(torch.from_numpy(np.stack(chips)).permute(0, 3, 1, 2).float() / 255).numpy()
    assert np.abs(ours - expected).max() < 1e-4


def test_a_file_that_is_not_the_face_network_is_a_data_error(tmp_path: Path) -> None:
    not_it = tmp_path / "other.dat"
    not_it.write_bytes(b"\x01\x05con_4" + dlib_integer(2) + dlib_integer(1) * 4 + b"\x00\x00\x80\x3f" + b"\x00" * 20)
    with pytest.raises(siamkit.DataError, match=r"other\.dat: not dlib's face-recognition ResNet"):
        read_dlib_face_weights(not_it)
    with pytest.raises(siamkit.DataError, match="no such file"):
        read_dlib_face_weights(tmp_path / "missing.dat")
