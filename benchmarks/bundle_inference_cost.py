"""What bundles cost at inference: images embedded per second, timed in turn in one process.

    OMP_NUM_THREADS=1 python benchmarks/bundle_inference_cost.py --threads 1 \
        --model models/signatures --model runs/seed0/model --json-out results.json

Each bundle embeds the same batch of random images at its own input size (already decoded and resized, so the
time is the network's: decoding and preprocessing cost the same for every bundle of one preprocessing). Bundles
are timed round-robin, best of `--repeats`, and every row carries its ratio to the first bundle, which is how
an ensemble's cost against one member is read on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from siamkit.atomic import write_text_atomic
from siamkit.errors import SiamkitError
from siamkit.model import SiameseModel, embed_prepared
from timing import interleaved_runs, machine_description


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True, help="A bundle; repeat to compare.")
    parser.add_argument("--images", type=int, default=64, help="Images per timed call (default 64).")
    parser.add_argument("--repeats", type=int, default=5, help="Timed calls per bundle, best taken (default 5).")
    parser.add_argument("--threads", type=int, default=1, help="Torch threads (default 1).")
    parser.add_argument("--json-out", type=Path, help="Write the results as JSON here.")
    arguments = parser.parse_args()
    if arguments.images < 1 or arguments.repeats < 1:
        parser.error("--images and --repeats must be at least 1")
    torch.set_num_threads(arguments.threads)
    generator = torch.Generator().manual_seed(0)
    calls = {}
    for path in arguments.model:
        try:
            model = SiameseModel.load(path)
        except SiamkitError as error:
            parser.error(str(error))
        shape = model.preprocessing.input_shape
        images = torch.randint(0, 256, (arguments.images, *shape), dtype=torch.uint8, generator=generator)

        def embed(model: SiameseModel = model, images: torch.Tensor = images) -> object:
            return embed_prepared(model.network, images, model.preprocessing, model.device, batch_size=len(images))

        calls[str(path)] = embed
    times = interleaved_runs(calls, repeats=arguments.repeats)
    baseline = times[str(arguments.model[0])].best_seconds
    rows = [
        {
            "model": name,
            "images_per_second": arguments.images / runs.best_seconds,
            "seconds_per_image": runs.best_seconds / arguments.images,
            "cost_against_first": runs.best_seconds / baseline,
        }
        for name, runs in times.items()
    ]
    result = {"machine": machine_description(), "images": arguments.images, "repeats": arguments.repeats, "rows": rows}
    print(json.dumps(result, indent=2))
    if arguments.json_out:
        write_text_atomic(arguments.json_out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
