"""How long each shipped preset takes to train on this machine, from a few timed optimiser steps.

    OMP_NUM_THREADS=2 python benchmarks/preset_training_cost.py --threads 2 [--presets faces,signatures]
    OMP_NUM_THREADS=2 python benchmarks/preset_training_cost.py --presets signatures-cpu --recipe old.json

`--recipe FILE` (repeatable) times recipe files (as `siamkit train --config` takes) in the same process, so a
recipe and the preset it changes are compared as a ratio on one machine at one time.

For each preset it builds the network, and times full training steps (the preset's P x K batch of random
images at the preset's input size, random affine distortions, in-batch loss with the preset's mining, backward,
optimiser step) after two warm-up steps, then multiplies by the preset's `max_steps` (no estimate for a preset
without one). Decoding the data, validation and the mining's dependence on real
embeddings are left out, so the total is an estimate of the training loop's time, not a measured run.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from siamkit.data.augmentation import augment_images
from siamkit.losses import create_loss
from siamkit.mining import in_batch_loss
from siamkit.network import SiameseNetwork
from siamkit.training.layout import without_unsafe_channels_last
from siamkit.training.memory import keep_freed_memory_in_heap
from siamkit.training.optimization import build_optimizer
from siamkit.training.presets import load_preset, preset_names
from siamkit.training.recipe import TrainingRecipe


def seconds_per_step(recipe: TrainingRecipe, steps: int) -> tuple[float, int]:
    """Mean wall seconds of one training step of `recipe`, and its batch size."""
    network = SiameseNetwork.from_config(recipe.network)
    # As the trainer does: channels-last, unless the network has convolutions oneDNN gets wrong in that layout.
    training = without_unsafe_channels_last(recipe.training, network, torch.device("cpu"))
    if training.channels_last:
        network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    network.train()
    optimizer = build_optimizer(network, training)
    loss_function = create_loss(training.loss, **training.loss_options)
    # A signature batch holds each writer's genuine signatures and as many of its forgeries; here they share the
    # writer's label, which forms as many pairs as the real writer-aware pairing and so costs about the same.
    per_class = training.samples_per_class * (2 if recipe.data.kind == "signatures" else 1)
    batch = training.classes_per_batch * per_class
    labels = torch.arange(training.classes_per_batch).repeat_interleave(per_class)
    images = torch.rand(batch, *recipe.preprocessing.input_shape)
    if training.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(0)
    timings = []
    for step in range(steps + 2):
        started = time.perf_counter()
        embeddings = network.embed(augment_images(images, training.augmentation, generator))
        loss = in_batch_loss(embeddings, labels, network.comparison, loss_function, strategy=training.mining)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= 2:
            timings.append(time.perf_counter() - started)
    return sum(timings) / len(timings), batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default=None, help="Comma-separated (default: all but omniglot-koch).")
    parser.add_argument("--steps", type=int, default=5, help="Timed steps per preset.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--recipe", action="append", default=[], help="A recipe JSON file to time (repeatable).")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    keep_freed_memory_in_heap()  # as `siamkit train` does
    torch.manual_seed(0)
    if arguments.presets:
        names = arguments.presets.split(",")
    elif arguments.recipe:
        names = []
    else:
        names = [name for name in preset_names() if name != "omniglot-koch"]
    recipes = [(f"preset {name}", load_preset(name)) for name in names]
    recipes += [(f"recipe {path}", TrainingRecipe.from_file(path)) for path in arguments.recipe]
    for label, recipe in recipes:
        seconds, batch = seconds_per_step(recipe, arguments.steps)
        steps = recipe.training.max_steps
        print(
            json.dumps(
                {
                    "recipe": label,
                    "threads": arguments.threads,
                    "images_per_second": round(batch / seconds, 1),
                    "max_steps": steps,
                    "estimated_minutes": None if steps is None else round(steps * seconds / 60, 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
