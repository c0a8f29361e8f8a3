"""Omniglot one-shot runs scored with other comparisons of the same trained embeddings (issue 3 ablation).

The shipped ResNet's errors are within-alphabet look-alikes. Two test-time ideas from the few-shot literature
change only how a test item is compared with the run's training images, not the training:

- `support_centred`: subtract the mean embedding of the run's 20 training images (the alphabet's common
  look) from every embedding, then compare by cosine (SimpleShot's centring, with the candidates' own mean,
  so it stays a per-item decision that never looks at other test items);
- `local_descriptors`: compare the encoder's last feature maps location by location instead of their pooled
  average (DN4's image-to-image measure: for each location of one image, its best cosine match anywhere in the
  other, averaged, in both directions), so a stroke drawn a little elsewhere still finds its match;
- `support_hubness`: CSLS (Conneau et al. 2018) on the candidates' side: a training image that is close to many
  of the run's other training images (a "hub" of its alphabet) attracts wrong answers, so each cosine is
  lowered by half the training image's mean cosine to its `HUB_NEIGHBOURS` nearest fellow training images.

The default comparison (`global`, the bundle's own distance) is scored in the same pass, on the same embeddings,
as the baseline. ResNet bundles only (the local descriptors are the feature map before its average pooling).

    python benchmarks/omniglot_test_time_comparisons.py --model models/omniglot --runs /tmp/omniglot-val100 \\
        --json-out benchmarks/results/omniglot_test_time_comparisons.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as functional
from torch import nn

import siamkit
from siamkit.data.preprocessing import normalize_batch
from siamkit.evaluation.one_shot_runs import read_one_shot_runs
from siamkit.model import SiameseModel
from verification_folds import machine, write_results

COMPARISONS = ("global", "support_centred", "local_descriptors", "support_hubness")
HUB_NEIGHBOURS = 5


def pooled_and_local(model: SiameseModel, paths: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    """The bundle's embeddings `(N, D)` and unit-length local descriptors `(N, locations, channels)`."""
    return embeddings_and_local(model, model.prepare(paths))


def embeddings_and_local(model: SiameseModel, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`pooled_and_local` for a prepared `uint8 (N, C, H, W)` batch (distorted training images, for instance)."""
    encoder = model.network.encoder
    if not (
        isinstance(encoder, nn.Sequential)
        and isinstance(encoder[-3], nn.AdaptiveAvgPool2d)
        and isinstance(encoder[-1], nn.Linear)
    ):
        raise SystemExit("local descriptors need a ResNet bundle (feature map, average pooling, linear)")
    batch = normalize_batch(images, model.preprocessing)
    model.network.eval()
    with torch.no_grad():
        feature_map = encoder[:-3](batch)
        embeddings = model.network.embed(batch)
    local = functional.normalize(feature_map.flatten(2).transpose(1, 2), dim=-1)
    return embeddings, local


def local_match(queries: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """`(Nq, Nr)`: for each query location its best cosine among a reference's locations, averaged."""
    similarities = torch.einsum("qld,rmd->qrlm", queries, references)
    return similarities.max(dim=3).values.mean(dim=2)


def support_hubness(
    test_embeddings: torch.Tensor, training_embeddings: torch.Tensor, neighbours: int = HUB_NEIGHBOURS
) -> torch.Tensor:
    """`(test, training)` cosines, each lowered by half the training image's mean cosine to its `neighbours`
    nearest other training images (CSLS with the test side's term dropped: it is the same for every candidate)."""
    unit_test = functional.normalize(test_embeddings, dim=-1)
    unit_training = functional.normalize(training_embeddings, dim=-1)
    among_training = unit_training @ unit_training.T - 3.0 * torch.eye(len(unit_training))  # never itself
    hubness = among_training.topk(min(neighbours, len(unit_training) - 1), dim=1).values.mean(dim=1)
    return unit_test @ unit_training.T - 0.5 * hubness


def similarities(model: SiameseModel, test: list[Path], training: list[Path]) -> dict[str, torch.Tensor]:
    """`(test items, training images)` similarities, larger = more alike, for each comparison."""
    test_embeddings, test_local = pooled_and_local(model, test)
    training_embeddings, training_local = pooled_and_local(model, training)
    scores = model.pairwise_scores(test_embeddings, training_embeddings)
    centre = training_embeddings.mean(dim=0, keepdim=True)
    centred_test = functional.normalize(test_embeddings - centre, dim=-1)
    centred_training = functional.normalize(training_embeddings - centre, dim=-1)
    both_ways = local_match(test_local, training_local) + local_match(training_local, test_local).T
    return {
        "global": scores if model.higher_is_more_similar else -scores,
        "support_centred": centred_test @ centred_training.T,
        "local_descriptors": 0.5 * both_ways,
        "support_hubness": support_hubness(test_embeddings, training_embeddings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="A ResNet bundle.")
    parser.add_argument("--runs", type=Path, required=True, help="Runs in Lake's format (siamkit make-runs).")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json-out", type=Path, default=None)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    model = siamkit.load(arguments.model)
    runs = read_one_shot_runs(arguments.runs)
    correct = dict.fromkeys(COMPARISONS, 0)
    items = 0
    started = time.perf_counter()
    for run in runs:
        answers = torch.tensor(run.answers)
        for name, scores in similarities(model, run.test, run.training).items():
            correct[name] += int((scores.argmax(dim=1) == answers).sum())
        items += len(run.test)
    accuracy = {name: correct[name] / items for name in COMPARISONS}
    results = {
        "model": str(arguments.model),
        "runs": str(arguments.runs),
        "n_runs": len(runs),
        "n_items": items,
        "accuracy": accuracy,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine(),
    }
    print(json.dumps({key: results[key] for key in ("n_items", "accuracy", "seconds")}, indent=2))
    if arguments.json_out is not None:
        write_results(arguments.json_out, results)


if __name__ == "__main__":
    main()
