"""Does a signature model compare handwriting or ink shades? Score it on binary copies of unseen writers' scans.

Signature collections differ in how they were stored: grey scans (CEDAR), or binarised pages. A model that
compares the strokes' shapes should score a scan and a binary copy of it alike; one that learnt CEDAR's ink
shades (`cedar_ink_shade_baseline.py`) will not. For each model, on the SigNet-protocol pairs of the test
writers (as `signatures_split.py`):

- `grey`: the EER on the scans as they are;
- `binary`: the EER on binary copies of every scan (Otsu's threshold of the page, saved as a 1-bit PNG);
- `mixed`: the EER when the second image of every pair is the binary copy;
- `own_copy_rejected`: the share of (scan, its own binary copy) pairs the model rejects at its EER
  threshold on the grey pairs: the same signature, refused because of how it was stored.

    python benchmarks/signatures_binary_copies.py --model runs/signatures/model --model OTHER \
        --json-out benchmarks/results/signatures_binary_copies.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from siamkit.data.preprocessing import otsu_threshold
from siamkit.evaluation.dataset_evaluation import embed_folder, protocol_pairs
from siamkit.evaluation.embedding_evaluation import pair_similarities
from siamkit.evaluation.verification import verification_metrics
from siamkit.model import SiameseModel
from verification_folds import extract_classes, parse_ranges, write_results

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cedar" / "cedar_dev.zip"


def write_binary_copies(grey_root: Path, binary_root: Path) -> int:
    """Saves a 1-bit copy (Otsu's threshold of each page) of every PNG under `grey_root`, same relative names."""
    count = 0
    for path in sorted(grey_root.rglob("*.png")):
        grey = np.asarray(Image.open(path).convert("L"))
        binary = Image.fromarray(np.where(grey <= otsu_threshold(grey), 0, 255).astype(np.uint8)).convert("1")
        target = binary_root / path.relative_to(grey_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        binary.save(target)
        count += 1
    return count


def score_model(model: SiameseModel, grey_root: Path, binary_root: Path) -> dict[str, Any]:
    grey_dataset, grey_embeddings = embed_folder(model, grey_root)
    binary_dataset, binary_embeddings = embed_folder(model, binary_root)
    relative = [str(Path(path).relative_to(grey_root)) for path in grey_dataset.paths]
    if relative != [str(Path(path).relative_to(binary_root)) for path in binary_dataset.paths]:
        raise RuntimeError("the grey and binary folders list different images")
    first, second, labels = protocol_pairs(grey_dataset, "signatures", seed=0)
    both = torch.cat([grey_embeddings, binary_embeddings])
    count = len(grey_embeddings)
    comparison = model.network.comparison
    results: dict[str, Any] = {}
    metrics = {}
    for name, (left, right) in {
        "grey": (first, second),
        "binary": (first + count, second + count),
        "mixed": (first, second + count),
    }.items():
        similarities, _ = pair_similarities(both, left, right, comparison)
        metrics[name] = verification_metrics(similarities, labels)
        results[name] = {"eer": metrics[name].eer, "auc": metrics[name].auc}
    own, _ = pair_similarities(both, np.arange(count), np.arange(count) + count, comparison)
    results["own_copy_rejected"] = float(np.mean(own < metrics["grey"].eer_threshold))
    results["n_images"] = count
    results["n_same"], results["n_different"] = metrics["grey"].n_same, metrics["grey"].n_different
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="A bundle; repeat to compare several.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--writers", default="36-45")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json-out", type=Path, default=None)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    writers = [str(writer) for writer in parse_ranges(arguments.writers)]
    results: dict[str, Any] = {"writers": arguments.writers, "models": {}}
    with tempfile.TemporaryDirectory(prefix="siamkit-binary-copies-") as scratch:
        grey_root = extract_classes(arguments.data, "cedar", writers, Path(scratch) / "grey")
        write_binary_copies(grey_root, Path(scratch) / "binary")
        for path in arguments.model:
            model = SiameseModel.load(path)
            results["models"][path] = score_model(model, grey_root, Path(scratch) / "binary")
            print(path, json.dumps(results["models"][path]))
    if arguments.json_out is not None:
        write_results(arguments.json_out, results)


if __name__ == "__main__":
    main()
