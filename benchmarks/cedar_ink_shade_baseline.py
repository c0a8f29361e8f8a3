"""How far CEDAR's ink shades go without any handwriting: a second scanning cue, after the paper's grey.

`remove_background` maps the paper to white and the darkest ink to black, which removes the paper cue
(`cedar_background_baseline.py`), but the shades in between stay: CEDAR's genuine signatures and forgeries were
scanned differently, so their strokes' grey profiles differ too. This scores each SigNet-protocol pair only by how
alike the two images' histograms of ink shades are, on exactly the arrays the network is fed (the preset's
preprocessing), with and without `binarize`. A low EER here is a cue a network can learn instead of the
handwriting, and one that will not carry to another collection.

    python benchmarks/cedar_ink_shade_baseline.py --json-out benchmarks/results/cedar_ink_shade_baseline.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np

from siamkit.data.decoding import load_image_arrays
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.evaluation.signature_protocol import signature_pairs
from siamkit.evaluation.verification import verification_metrics
from siamkit.training.presets import load_preset
from verification_folds import parse_ranges, write_results

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cedar" / "cedar_dev.zip"
SHADE_BINS = 16


def ink_shade_histograms(images: np.ndarray) -> np.ndarray:
    """Per image, the share of its ink pixels (non-zero after inversion) in each of `SHADE_BINS` shade bins."""
    flat = images.reshape(len(images), -1).astype(np.int64)
    histograms = np.zeros((len(images), SHADE_BINS))
    for index, pixels in enumerate(flat):
        ink = pixels[pixels > 0]
        if len(ink):
            histograms[index] = np.bincount((ink - 1) * SHADE_BINS // 255, minlength=SHADE_BINS) / len(ink)
    return histograms


def shade_baseline(images: np.ndarray, names: list[str], writers: np.ndarray) -> dict[str, float]:
    first, second, labels = signature_pairs(names, writers)
    histograms = ink_shade_histograms(images)
    scores = -np.abs(histograms[first] - histograms[second]).sum(axis=1)
    metrics = verification_metrics(scores, labels)
    return {"eer": metrics.eer, "auc": metrics.auc, "n_same": metrics.n_same, "n_different": metrics.n_different}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--writers", default="36-45")
    parser.add_argument("--preset", default="signatures-cpu", help="Whose preprocessing to apply.")
    parser.add_argument("--json-out", type=Path, default=None)
    arguments = parser.parse_args()
    wanted = set(parse_ranges(arguments.writers))
    preprocessing = load_preset(arguments.preset).preprocessing
    variants: dict[str, PreprocessingConfig] = {
        "grey": dataclasses.replace(preprocessing, binarize=False),
        "binarized": dataclasses.replace(preprocessing, binarize=True),
    }
    with zipfile.ZipFile(arguments.data) as archive:
        names = [name for name in archive.namelist() if name.endswith(".png") and int(name.split("/")[1]) in wanted]
        contents = [archive.read(name) for name in names]
    writers = np.array([int(name.split("/")[1]) for name in names])
    results: dict[str, object] = {
        "writers": arguments.writers,
        "preset": arguments.preset,
        "score": f"-L1 distance of the two images' {SHADE_BINS}-bin histograms of ink shades (network input)",
    }
    for label, config in variants.items():
        images = load_image_arrays(contents, config, names)
        results[label] = shade_baseline(images, names, writers)
    print(json.dumps(results, indent=2))
    if arguments.json_out is not None:
        write_results(arguments.json_out, results)


if __name__ == "__main__":
    main()
