"""How far CEDAR's scanning artefact alone gets: the paper's grey level decides genuine vs forgery.

CEDAR's genuine signatures were scanned on grey-looking paper (median grey about 240) and its forgeries on
white (about 255). Scoring each pair by how alike the two pages' median grey levels are, with no model and no
look at the ink, gives the EER below under the SigNet protocol on the held-out writers. A model that sees the
raw scans can learn this shortcut, which says nothing about handwriting and will not carry to other
collections; the `signatures` preset removes it (`remove_background`).

    python benchmarks/cedar_background_baseline.py --json-out benchmarks/results/cedar_background_baseline.json
"""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from siamkit.evaluation.signature_protocol import signature_pairs
from siamkit.evaluation.verification import verification_metrics
from verification_folds import parse_ranges, write_results

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cedar" / "cedar_dev.zip"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--writers", default="36-45")
    parser.add_argument("--json-out", type=Path, default=None)
    arguments = parser.parse_args()
    wanted = set(parse_ranges(arguments.writers))
    with zipfile.ZipFile(arguments.data) as archive:
        names = [name for name in archive.namelist() if name.endswith(".png") and int(name.split("/")[1]) in wanted]
        paper = np.array([float(np.median(np.asarray(Image.open(io.BytesIO(archive.read(name)))))) for name in names])
    writers = np.array([int(name.split("/")[1]) for name in names])
    first, second, labels = signature_pairs(names, writers)
    metrics = verification_metrics(-np.abs(paper[first] - paper[second]), labels)
    genuine = np.array([name.rsplit("/", 1)[1].startswith("original_") for name in names])
    results = {
        "writers": arguments.writers,
        "score": "-|median grey of page 1 - median grey of page 2|",
        "eer": metrics.eer,
        "auc": metrics.auc,
        "median_paper_grey_genuine": float(np.median(paper[genuine])),
        "median_paper_grey_forgeries": float(np.median(paper[~genuine])),
        "n_same": metrics.n_same,
        "n_different": metrics.n_different,
    }
    print(json.dumps(results, indent=2))
    if arguments.json_out is not None:
        write_results(arguments.json_out, results)


if __name__ == "__main__":
    main()
