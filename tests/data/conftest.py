"""Fixtures for the data tests: tiny synthetic images written with Pillow."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ImageWriter = Callable[..., Path]


def make_image(mode: str, size: tuple[int, int] = (12, 10), grey: int | None = None, seed: int = 0) -> Image.Image:
    """A small image in `mode`; uniform at `grey` when given (to check values), else random noise."""
    width, height = size
    if grey is None:
        pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width), dtype=np.uint8)
    else:
        pixels = np.full((height, width), grey, dtype=np.uint8)
    image = Image.fromarray(pixels, mode="L")
    if mode == "1":
        return image.point(lambda value: 255 if value >= 128 else 0).convert("1")
    if mode == "P":
        return image.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    if mode == "RGBA":
        image = image.convert("RGBA")
        image.putalpha(255)
        return image
    return image.convert(mode)


@pytest.fixture
def write_image() -> ImageWriter:
    """`write_image(path, mode="L", grey=None, seed=0, size=(12, 10))` saves an image, format from the suffix."""

    def write(
        path: Path, mode: str = "L", grey: int | None = None, seed: int = 0, size: tuple[int, int] = (12, 10)
    ) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        image = make_image(mode, size, grey, seed)
        image.save(path, format="PPM" if path.suffix == ".pgm" else None)
        return path

    return write


@pytest.fixture
def zip_folder() -> Callable[..., Path]:
    """`zip_folder(folder, archive, top=None)` zips `folder`'s contents under `top/` (default: the folder's
    name; "" for none), with explicit folder entries as many zip tools write them."""

    def archive_folder(folder: Path, archive: Path, top: str | None = None) -> Path:
        top = folder.name if top is None else top
        with zipfile.ZipFile(archive, "w") as output:
            for path in sorted(folder.rglob("*")):
                relative = path.relative_to(folder).as_posix()
                name = f"{top}/{relative}" if top else relative
                if path.is_dir():
                    output.writestr(name + "/", b"")
                else:
                    output.write(path, name)
        return archive

    return archive_folder
