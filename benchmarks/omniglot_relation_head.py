"""Omniglot one-shot runs scored by a learned comparison of feature maps (issue 3 experiment).

A bundle's embedding pools the encoder's last feature map (5x5 positions at 40 px) into one vector, so two
characters that share strokes in different places can look alike. This script keeps the bundle's encoder frozen
and trains a small head on the *correlation* of two images' feature maps (the cosine of every position of one
with every position of the other, a 25x25 table) plus the embeddings' own cosine, with 20-way within-alphabet
episodes drawn from the training alphabets (the task the runs pose). The runs are then scored by the head and,
in the same pass, by the plain embedding (the baseline).

    OMP_NUM_THREADS=1 python benchmarks/omniglot_relation_head.py --model models/omniglot \\
        --runs /tmp/omniglot-val100 --steps 3000 --json-out benchmarks/results/omniglot_relation_head.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from torch import nn

import siamkit
from omniglot_test_time_comparisons import embeddings_and_local
from siamkit.data.augmentation import AugmentationConfig, augment_images
from siamkit.data.image_folder import load_image_folder
from siamkit.evaluation.one_shot_runs import OneShotRun, read_one_shot_runs
from siamkit.model import SiameseModel
from verification_folds import machine, write_results


class CorrelationHead(nn.Module):
    """Scores a pair from the cosine table of their feature-map positions and their embeddings' cosine."""

    def __init__(self, positions: int, hidden: int = 128) -> None:
        super().__init__()
        self.table = nn.Sequential(
            nn.Linear(positions * positions, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 1),
        )  # fmt: skip
        self.embedding_weight = nn.Parameter(torch.tensor(10.0))

    def forward(
        self, query_maps: torch.Tensor, support_maps: torch.Tensor, query_embeddings: torch.Tensor,
        support_embeddings: torch.Tensor,
    ) -> torch.Tensor:  # fmt: skip
        """`(Q, S)` scores; maps are `(N, positions, channels)` unit vectors, embeddings `(N, D)` unit vectors."""
        table = torch.einsum("qpc,src->qspr", query_maps, support_maps)  # (Q, S, P, P)
        flat = table.flatten(2)
        swapped = table.transpose(2, 3).flatten(2)
        learned = 0.5 * (self.table(flat) + self.table(swapped)).squeeze(-1)
        return self.embedding_weight * query_embeddings @ support_embeddings.T + learned


def encode(model: SiameseModel, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit position vectors `(N, P, C)` of the encoder's last feature map and unit embeddings `(N, D)`."""
    embeddings, positions = embeddings_and_local(model, images)
    return positions, nn.functional.normalize(embeddings, dim=-1)


EncodedRun = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def encode_runs(model: SiameseModel, runs: list[OneShotRun]) -> list[EncodedRun]:
    """Each run's test and training maps and embeddings and its answers, computed once (the encoder is frozen)."""
    encoded = []
    for run in runs:
        test_maps, test_embeddings = encode(model, model.prepare(list(run.test)))
        training_maps, training_embeddings = encode(model, model.prepare(list(run.training)))
        answers = torch.tensor(run.answers)
        encoded.append((test_maps, test_embeddings, training_maps, training_embeddings, answers))
    return encoded


def episodes_source(
    model: SiameseModel, data: str, held_out: list[str], only: list[str] | None = None
) -> list[torch.Tensor]:
    """Per alphabet, a `(characters, drawers, C, H, W)` uint8 tensor: the alphabets in `only` if given, else
    every alphabet not in `held_out` (the bundle's own training alphabets)."""
    dataset = load_image_folder(data, model.preprocessing)
    alphabets: dict[str, list[torch.Tensor]] = {}
    for label, name in enumerate(dataset.class_names):
        alphabet = dataset.group_of(name)
        if (alphabet not in only) if only is not None else (alphabet in held_out):
            continue
        images = dataset.images[dataset.labels == label]
        alphabets.setdefault(alphabet, []).append(images[:20])
    return [torch.stack(chars) for chars in alphabets.values()]


def sample_episode(
    alphabets: list[torch.Tensor], ways: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Support and query uint8 images of one within-alphabet episode, the same quarter turn for all."""
    alphabet = alphabets[int(torch.randint(len(alphabets), (1,), generator=generator))]
    count = min(ways, alphabet.shape[0])
    characters = torch.randperm(alphabet.shape[0], generator=generator)[:count]
    drawers = torch.stack([torch.randperm(alphabet.shape[1], generator=generator)[:2] for _ in range(count)])
    support = alphabet[characters, drawers[:, 0]]
    query = alphabet[characters, drawers[:, 1]]
    turns = int(torch.randint(4, (1,), generator=generator))
    return torch.rot90(support, turns, (2, 3)), torch.rot90(query, turns, (2, 3))


def score_runs(head: CorrelationHead | None, runs: list[EncodedRun]) -> list[float]:
    """Per-run accuracy: the head's scores, or the plain embedding cosine when `head` is None."""
    accuracies = []
    with torch.no_grad():
        for test_maps, test_embeddings, training_maps, training_embeddings, answers in runs:
            if head is None:
                scores = test_embeddings @ training_embeddings.T
            else:
                scores = head(test_maps, training_maps, test_embeddings, training_embeddings)
            accuracies.append(float((scores.argmax(dim=1) == answers).float().mean()))
    return accuracies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--validation-runs", type=Path, default=Path("/tmp/siamkit-omniglot-validation-runs"))
    parser.add_argument("--data", default="../shared/data/omniglot/images_background.zip")
    parser.add_argument(
        "--episode-alphabets",
        default=None,
        help="Comma-separated alphabets to train the head on (default: the bundle's training alphabets); "
        "alphabets the encoder never saw give the head the kind of errors it meets on new alphabets.",
    )
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--episodes-per-step", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--validate-every", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-out", type=Path, default=None)
    arguments = parser.parse_args()
    if arguments.steps < 1:
        parser.error("--steps must be at least 1")
    torch.set_num_threads(arguments.threads)
    torch.manual_seed(arguments.seed)
    model = siamkit.load(arguments.model)
    held_out = list(model.metadata.get("data", {}).get("held_out_groups") or [])
    recorded = model.metadata.get("training", {}).get("config", {}).get("augmentation")
    augmentation = AugmentationConfig.from_dict(recorded) if recorded else AugmentationConfig()
    augmentation.enabled = True
    only = arguments.episode_alphabets.split(",") if arguments.episode_alphabets else None
    alphabets = episodes_source(model, arguments.data, held_out, only)
    if not alphabets:
        raise SystemExit(f"--episode-alphabets: none of {only} is in {arguments.data}")
    runs = encode_runs(model, read_one_shot_runs(arguments.runs))
    validation_runs = encode_runs(model, read_one_shot_runs(arguments.validation_runs))
    head = CorrelationHead(runs[0][0].shape[1], arguments.hidden)
    optimizer = torch.optim.AdamW(head.parameters(), lr=arguments.learning_rate, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(arguments.seed)
    started = time.perf_counter()
    history = []
    best_state, best_validation = None, -1.0
    for step in range(1, arguments.steps + 1):
        rate = arguments.learning_rate * 0.5 * (1 + math.cos(math.pi * step / arguments.steps))
        for group in optimizer.param_groups:
            group["lr"] = rate
        losses = []
        for _ in range(arguments.episodes_per_step):
            support, query = sample_episode(alphabets, 20, generator)
            images = torch.cat([support, query]).float().div_(255.0)
            images = (augment_images(images, augmentation, generator) * 255).round().to(torch.uint8)
            maps, embeddings = encode(model, images)
            count = support.shape[0]
            scores = head(maps[count:], maps[:count], embeddings[count:], embeddings[:count])
            losses.append(nn.functional.cross_entropy(scores, torch.arange(count)))
        loss = torch.stack(losses).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % arguments.validate_every == 0 or step == arguments.steps:
            accuracy = sum(score_runs(head, validation_runs)) / len(validation_runs)
            history.append({"step": step, "seconds": time.perf_counter() - started, "loss": loss.item(),
                            "validation_accuracy": accuracy})  # fmt: skip
            print(json.dumps(history[-1]), flush=True)
            if accuracy > best_validation:
                best_validation = accuracy
                best_state = {key: value.clone() for key, value in head.state_dict().items()}
    plain = score_runs(None, runs)
    final = score_runs(head, runs)
    assert best_state is not None
    head.load_state_dict(best_state)
    best = score_runs(head, runs)
    result = {
        "model": str(arguments.model), "runs": str(arguments.runs), "steps": arguments.steps,
        "hidden": arguments.hidden, "learning_rate": arguments.learning_rate,
        "episodes_per_step": arguments.episodes_per_step, "episode_alphabets": only,
        "seconds": time.perf_counter() - started,
        "plain_accuracy": sum(plain) / len(plain), "head_final_accuracy": sum(final) / len(final),
        "head_best_validation_accuracy": sum(best) / len(best), "history": history, "machine": machine(),
    }  # fmt: skip
    print(json.dumps({key: value for key, value in result.items() if key not in ("history", "machine")}, indent=2))
    if arguments.json_out:
        write_results(arguments.json_out, result)


if __name__ == "__main__":
    main()
