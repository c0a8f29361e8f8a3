"""Face verification with test-time augmentation: does averaging embeddings of flipped or shifted copies help?

Face toolkits often embed a face and its mirror image and average the two. This scores the fold models that
`benchmarks/faces_kfold.py --output DIR` leaves in `DIR/fold0/model` .. `DIR/fold4/model` on their own held-out
people (the same pairs: `classes` protocol, seed 0), with the embedding of each image taken

- `plain`: once, as `siamkit evaluate` does;
- `flip`: averaged with its mirror image's;
- `shift`: averaged over copies shifted by up to 2 pixels each way (25 copies);
- `shift_and_flip`: both (50 copies).

    OMP_NUM_THREADS=1 python benchmarks/faces_kfold.py --threads 1 --output /tmp/faces48 \\
        --set 'preprocessing.image_size=[48,40]' --set 'network.encoder.input_shape=[1,48,40]' \\
        --set training.max_steps=400
    python benchmarks/faces_test_time_augmentation.py --folds-dir /tmp/faces48 \\
        --json-out benchmarks/results/faces_test_time_augmentation.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as functional

import siamkit
from siamkit.data.preprocessing import normalize_batch
from siamkit.evaluation.dataset_evaluation import embed_folder, protocol_pairs
from siamkit.evaluation.verification import verification_metrics
from siamkit.model import SiameseModel
from verification_folds import extract_classes, machine, summary, write_results

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "orl_faces" / "orl_faces.zip"
PEOPLE = 40
VARIANTS = ("plain", "flip", "shift", "shift_and_flip")


def averaged_embeddings(model: SiameseModel, copies: list[torch.Tensor]) -> torch.Tensor:
    """The mean embedding over copies of a `uint8` batch, re-normalised when the model normalises."""
    model.network.eval()
    with torch.no_grad():
        mean = torch.stack([model.network.embed(normalize_batch(copy, model.preprocessing)) for copy in copies]).mean(
            dim=0
        )
    return functional.normalize(mean, dim=-1) if model.network.normalize_embeddings else mean


def edge_shifted_copies(images: torch.Tensor, shift: int) -> list[torch.Tensor]:
    """Copies of a `uint8 (N, C, H, W)` batch moved by every offset up to `shift` pixels; the uncovered border
    repeats the edge pixels (a face photo has no uniform paper colour to fill with)."""
    height, width = images.shape[-2:]
    padded = functional.pad(images.float(), (shift, shift, shift, shift), mode="replicate").to(torch.uint8)
    return [
        padded[..., shift - down : shift - down + height, shift - right : shift - right + width].contiguous()
        for down in range(-shift, shift + 1)
        for right in range(-shift, shift + 1)
    ]


def variant_embeddings(model: SiameseModel, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Embeddings of the images under each test-time augmentation."""
    mirrored = images.flip(-1)
    shifted = edge_shifted_copies(images, 2)
    return {
        "plain": averaged_embeddings(model, [images]),
        "flip": averaged_embeddings(model, [images, mirrored]),
        "shift": averaged_embeddings(model, shifted),
        "shift_and_flip": averaged_embeddings(model, shifted + edge_shifted_copies(mirrored, 2)),
    }


def pooled_eer(folds: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """EER over every fold's pairs together (one threshold for all, as a shipped model has)."""
    similarities = np.concatenate([similarities for similarities, _ in folds])
    labels = np.concatenate([labels for _, labels in folds])
    return verification_metrics(similarities, labels).eer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds-dir", type=Path, required=True, help="A faces_kfold.py --output folder.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json-out", type=Path, default=None)
    arguments = parser.parse_args()
    people = [f"s{person}" for person in range(1, PEOPLE + 1)]
    size = PEOPLE // arguments.folds
    per_fold: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    pooled: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {variant: [] for variant in VARIANTS}
    for fold in range(arguments.folds):
        model = siamkit.load(arguments.folds_dir / f"fold{fold}" / "model")
        with tempfile.TemporaryDirectory(prefix="siamkit-faces-") as folder:
            test_people = people[fold * size : (fold + 1) * size]
            test = extract_classes(arguments.data, "orl_faces", test_people, Path(folder))
            dataset, _ = embed_folder(model, test)
        first, second, labels = protocol_pairs(dataset, "classes", seed=0)
        for variant, embeddings in variant_embeddings(model, dataset.images).items():
            scores = model.score_embeddings(embeddings[first], embeddings[second])
            similarities = model.similarity_from_score(scores)
            per_fold[variant].append(verification_metrics(similarities, labels).eer)
            pooled[variant].append((similarities, labels))
        print(json.dumps({"fold": fold, **{variant: per_fold[variant][-1] for variant in VARIANTS}}), flush=True)
    results = {
        "folds_dir": str(arguments.folds_dir),
        "eer": {variant: summary(per_fold[variant]) for variant in VARIANTS},
        "per_fold_eer": per_fold,
        "pooled_eer": {variant: pooled_eer(pooled[variant]) for variant in VARIANTS},
        "machine": machine(),
    }
    print(json.dumps({key: results[key] for key in ("eer", "pooled_eer")}, indent=2))
    if arguments.json_out is not None:
        write_results(arguments.json_out, results)


if __name__ == "__main__":
    main()
