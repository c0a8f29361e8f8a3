"""Reads dlib's trained face-recognition network file into a `DlibFaceResNet` state dict.

dlib saves a network in its own binary serialisation (no pickles): each layer writes its type name as a
length-prefixed string, then its parameters as a tensor: a version int (2), four dimensions and that many
little-endian float32 values. Integers are dlib's variable-length encoding: one byte with the byte count
(high bit set for negatives), then the value's bytes, little-endian. Layers appear from the input side to the
output side, so the convolution and affine layers come out in exactly the order `DlibFaceResNet` uses them.

The file itself ships in the `face_recognition_models` package (`pip install 'siamkit[faces]'`); nothing is
downloaded.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import torch

from siamkit.encoders.dlib_face_resnet import STAGES
from siamkit.errors import DataError

_LAYER_NAME = re.compile(rb"con_\d|affine_|fc_\d")


def face_models_folder() -> Path:
    """The `models/` folder of the installed `face_recognition_models` package, found without importing it
    (its `__init__` needs `pkg_resources`, which recent setuptools no longer ships).

    Raises:
        DataError: The package is not installed.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("dlib's face models are not installed: pip install 'siamkit[faces]' (face_recognition_models)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def default_weights_file() -> Path:
    """dlib's face-recognition network file in the installed `face_recognition_models` package."""
    return face_models_folder() / "dlib_face_recognition_resnet_model_v1.dat"


class _Reader:
    """Reads dlib-serialised integers and tensors from a byte string."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.name = name

    def integer(self, position: int) -> tuple[int, int]:
        header = self.data[position]
        size = header & 0x0F
        value = int.from_bytes(self.data[position + 1 : position + 1 + size], "little")
        return (-value if header & 0x80 else value), position + 1 + size

    def tensor(self, position: int) -> tuple[np.ndarray, int]:
        version, position = self.integer(position)
        if version != 2:
            raise DataError(f"{self.name}: tensor at byte {position} has version {version}, expected 2")
        dimensions = []
        for _ in range(4):
            size, position = self.integer(position)
            dimensions.append(size)
        count = int(np.prod(dimensions))
        if position + 4 * count > len(self.data):
            raise DataError(f"{self.name}: truncated tensor at byte {position}")
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=position).astype(np.float32)
        return values, position + 4 * count


def _layers(data: bytes, name: str) -> list[tuple[str, np.ndarray, tuple[int, ...]]]:
    """Every parameterised layer in file order: (type, flat parameters, integers that follow or precede)."""
    reader = _Reader(data, name)
    layers: list[tuple[str, np.ndarray, tuple[int, ...]]] = []
    for match in _LAYER_NAME.finditer(data):
        start = match.start()
        # A real layer name is a serialised string: a one-byte count (0x01), its length, then the characters.
        if start < 2 or data[start - 2] != 0x01 or data[start - 1] != len(match.group()):
            continue
        kind = match.group().decode()
        position = match.end()
        if kind.startswith("fc"):
            outputs, position = reader.integer(position)
            inputs, position = reader.integer(position)
            values, position = reader.tensor(position)
            layers.append(("fc", values, (outputs, inputs)))
        elif kind.startswith("con"):
            values, position = reader.tensor(position)
            geometry = []
            for _ in range(7):  # filters, rows, columns, stride y, stride x, padding y, padding x
                number, position = reader.integer(position)
                geometry.append(number)
            layers.append(("con", values, tuple(geometry)))
        else:
            values, position = reader.tensor(position)
            layers.append(("affine", values, ()))
    return layers


def _expected_convolutions() -> list[tuple[int, int, int, int]]:
    """(in channels, out channels, kernel, stride) of every convolution, input side first."""
    shapes = [(3, 32, 7, 2)]
    in_channels = 32
    for channels, count, downsample in STAGES:
        for index in range(count):
            stride = 2 if downsample and index == 0 else 1
            shapes += [(in_channels, channels, 3, stride), (channels, channels, 3, 1)]
            in_channels = channels
    return shapes


def read_dlib_face_weights(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Reads `dlib_face_recognition_resnet_model_v1.dat` into a state dict for `DlibFaceResNet`.

    Args:
        path: The `.dat` file; defaults to the one in the installed `face_recognition_models` package.

    Raises:
        DataError: The file is missing or is not this network (layer count, order or shapes differ).
    """
    file = Path(path) if path is not None else default_weights_file()
    if not file.is_file():
        raise DataError(f"{file}: no such file")
    data = file.read_bytes()
    layers = _layers(data, str(file))
    convolutions = _expected_convolutions()
    kinds = [kind for kind, _, _ in layers]
    expected_kinds = ["con", "affine"] * len(convolutions) + ["fc"]
    if kinds != expected_kinds:
        raise DataError(
            f"{file}: not dlib's face-recognition ResNet ({kinds.count('con')} convolutions, "
            f"{kinds.count('fc')} fully connected layers; expected {len(convolutions)} and 1)"
        )
    names = ["stem"] + [f"blocks.{index // 2}.conv{index % 2 + 1}" for index in range(len(convolutions) - 1)]
    affine_names = ["stem_affine"] + [name.replace(".conv", ".affine") for name in names[1:]]
    state: dict[str, torch.Tensor] = {}
    for index, (in_channels, out_channels, kernel, stride) in enumerate(convolutions):
        _, values, geometry = layers[2 * index]
        if geometry[:5] != (out_channels, kernel, kernel, stride, stride):
            raise DataError(f"{file}: convolution {index} is {geometry[:5]}, expected {out_channels}x{kernel}")
        weight_count = out_channels * in_channels * kernel * kernel
        if values.size != weight_count + out_channels:
            raise DataError(f"{file}: convolution {index} has {values.size} parameters, expected {weight_count}")
        state[f"{names[index]}.weight"] = torch.from_numpy(
            values[:weight_count].reshape(out_channels, in_channels, kernel, kernel).copy()
        )
        state[f"{names[index]}.bias"] = torch.from_numpy(values[weight_count:].copy())
        _, affine, _ = layers[2 * index + 1]
        if affine.size != 2 * out_channels:
            raise DataError(f"{file}: affine layer {index} has {affine.size} parameters, expected {2 * out_channels}")
        state[f"{affine_names[index]}.scale"] = torch.from_numpy(affine[:out_channels].copy())
        state[f"{affine_names[index]}.shift"] = torch.from_numpy(affine[out_channels:].copy())
    _, projection, (outputs, inputs) = layers[-1]
    if projection.size != outputs * inputs:
        raise DataError(f"{file}: the last layer has {projection.size} parameters, expected {outputs * inputs}")
    # dlib multiplies row vectors by an (inputs x outputs) matrix; torch's Linear stores (outputs x inputs).
    state["projection.weight"] = torch.from_numpy(projection.reshape(inputs, outputs).T.copy())
    return state
