"""benchmarks/cedar_ink_shade_baseline.py and signatures_binary_copies.py: the ink-shade cue and the
scan-vs-binary-copy check, on hand-made images."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torch import nn

from siamkit.comparisons.euclidean import EuclideanDistance
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.model import SiameseModel
from siamkit.network import SiameseNetwork

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def benchmarks(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, ModuleType]:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import cedar_ink_shade_baseline
    import signatures_binary_copies

    return cedar_ink_shade_baseline, signatures_binary_copies


def test_ink_shade_histograms_count_only_ink_pixels(benchmarks: tuple[ModuleType, ModuleType]) -> None:
    shades, _ = benchmarks
    images = np.array([[[0, 255, 128, 255]], [[0, 0, 0, 0]]], dtype=np.uint8)
    histograms = shades.ink_shade_histograms(images)
    expected = np.zeros(shades.SHADE_BINS)
    expected[(255 - 1) * shades.SHADE_BINS // 255] = 2 / 3
    expected[(128 - 1) * shades.SHADE_BINS // 255] = 1 / 3
    assert np.allclose(histograms[0], expected)
    assert (histograms[1] == 0).all()  # no ink at all


def draw_writer(root: Path, writer: int, generator: np.random.Generator) -> None:
    shape = np.stack([np.linspace(10, 80, 6), generator.uniform(10, 50, 6)], axis=1)
    for kind, spread in (("original", 1.0), ("forgeries", 6.0)):
        for number in (1, 2, 3):
            image = Image.new("L", (90, 60), 238)
            points = shape + generator.normal(0, spread, shape.shape)
            ink = int(generator.integers(20, 120))
            ImageDraw.Draw(image).line([tuple(point) for point in points.tolist()], fill=ink, width=3)
            path = root / str(writer) / f"{kind}_{writer}_{number}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)


def test_binary_copies_and_a_binarizing_model_score_them_alike(
    benchmarks: tuple[ModuleType, ModuleType], tmp_path: Path
) -> None:
    _, copies = benchmarks
    grey_root, binary_root = tmp_path / "grey", tmp_path / "binary"
    generator = np.random.default_rng(0)
    for writer in (1, 2, 3):
        draw_writer(grey_root, writer, generator)
    assert copies.write_binary_copies(grey_root, binary_root) == 18
    copy = Image.open(binary_root / "1" / "original_1_1.png")
    assert copy.mode == "1"
    assert 0 < (np.asarray(copy.convert("L")) == 0).mean() < 0.2  # some ink, mostly paper

    torch.manual_seed(0)
    preprocessing = PreprocessingConfig(
        image_size=(20, 30), invert=True, crop_to_ink=True, keep_aspect=True, remove_background=True, binarize=True
    )
    network = SiameseNetwork(nn.Sequential(nn.Flatten(), nn.Linear(600, 16)), EuclideanDistance())
    results = copies.score_model(SiameseModel(network, preprocessing), grey_root, binary_root)
    assert results["n_images"] == 18 and results["n_same"] == 3 * 3 and results["n_different"] == 3 * 9
    assert results["own_copy_rejected"] == 0.0  # each scan and its copy become the same binary strokes
    assert results["grey"]["eer"] == pytest.approx(results["binary"]["eer"], abs=0.12)
