"""What bundles cost at inference: images embedded per second, timed in turn in one process.

    OMP_NUM_THREADS=1 python benchmarks/bundle_inference_cost.py --threads 1 \
        --model models/signatures --model runs/seed0/model --json-out results.json
    # each bundle also exported to ONNX (`siamkit export`) and run by ONNX Runtime on the same images:
    python benchmarks/bundle_inference_cost.py --threads 2 --onnx --model models/faces --json-out results.json
    # and also made 8-bit (`siamkit export --int8-calibration`), calibrated on a folder of the model's images:
    python benchmarks/bundle_inference_cost.py --threads 2 --onnx --int8-calibration faces/ --model models/faces

Each bundle embeds the same batch of random images at its own input size (already decoded and resized, so the
time is the network's: decoding and preprocessing cost the same for every bundle of one preprocessing). Bundles
are timed round-robin, best of `--repeats`, and every row carries its ratio to the first bundle, which is how
an ensemble's cost against one member is read on a noisy machine. With `--onnx` every bundle is also exported
to a temporary folder and its `encoder.onnx` timed in ONNX Runtime (as many intra-op threads as `--threads`)
on the same images in the same round-robin; its row says how many times faster than PyTorch it is and how far
its embeddings are from PyTorch's. With `--int8-calibration` each bundle's 8-bit export is timed too; its row
gives the drift `siamkit export` measured on held-back calibration images (the random timing images say nothing
about an 8-bit encoder's accuracy).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
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
    parser.add_argument("--onnx", action="store_true", help="Also time each bundle exported to ONNX Runtime.")
    parser.add_argument(
        "--int8-calibration", help="With --onnx: also time an 8-bit export calibrated on this image folder or zip."
    )
    parser.add_argument("--json-out", type=Path, help="Write the results as JSON here.")
    arguments = parser.parse_args()
    if arguments.images < 1 or arguments.repeats < 1:
        parser.error("--images and --repeats must be at least 1")
    if arguments.int8_calibration and not arguments.onnx:
        parser.error("--int8-calibration needs --onnx")
    torch.set_num_threads(arguments.threads)
    generator = torch.Generator().manual_seed(0)
    calls = {}
    differences: dict[str, float] = {}
    int8_checks: dict[str, dict[str, float]] = {}
    exports = tempfile.TemporaryDirectory(prefix="siamkit-onnx-")
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
        if arguments.onnx:
            calls[f"{path} (onnxruntime)"], differences[str(path)] = onnx_embedding(
                model, images, Path(exports.name) / str(len(calls)), arguments.threads
            )
        if arguments.int8_calibration:
            calls[f"{path} (onnxruntime-int8)"], int8_checks[str(path)] = int8_embedding(
                model, images, Path(exports.name) / str(len(calls)), arguments.threads, arguments.int8_calibration
            )
    times = interleaved_runs(calls, repeats=arguments.repeats)
    exports.cleanup()
    baseline = times[str(arguments.model[0])].best_seconds
    rows = []
    for name, runs in times.items():
        model_name, _, engine = name.partition(" (")
        row = {
            "model": model_name,
            "engine": engine.removesuffix(")") or "pytorch",
            "images_per_second": arguments.images / runs.best_seconds,
            "seconds_per_image": runs.best_seconds / arguments.images,
            "cost_against_first": runs.best_seconds / baseline,
        }
        if row["engine"] != "pytorch":
            row["speedup_over_pytorch"] = times[model_name].best_seconds / runs.best_seconds
        if row["engine"] == "onnxruntime":
            row["max_abs_difference_from_pytorch"] = differences[model_name]
        if row["engine"] == "onnxruntime-int8":
            row["speedup_over_onnxruntime"] = times[f"{model_name} (onnxruntime)"].best_seconds / runs.best_seconds
            row["int8_drift"] = int8_checks[model_name]
        rows.append(row)
    result = {"machine": machine_description(), "images": arguments.images, "repeats": arguments.repeats, "rows": rows}
    print(json.dumps(result, indent=2))
    if arguments.json_out:
        write_text_atomic(arguments.json_out, json.dumps(result, indent=2) + "\n")


def onnx_embedding(
    model: SiameseModel, images: torch.Tensor, folder: Path, threads: int
) -> tuple[Callable[[], object], float]:
    """The bundle exported to `folder`, as a call that embeds `images` in ONNX Runtime, and how far the
    embeddings it gives are from PyTorch's."""
    from siamkit.export import OnnxModel, export_onnx

    export_onnx(model, folder)
    exported = OnnxModel(folder, threads=threads)
    batch = images.numpy()
    expected = embed_prepared(model.network, images, model.preprocessing, model.device, batch_size=len(images))
    difference = float(np.max(np.abs(exported.embed(batch) - expected.numpy())))
    return (lambda: exported.embed(batch)), difference


def int8_embedding(
    model: SiameseModel, images: torch.Tensor, folder: Path, threads: int, calibration: str
) -> tuple[Callable[[], object], dict[str, float]]:
    """The bundle exported with an 8-bit encoder, as a call that embeds `images`, and the drift the export
    measured on held-back calibration images."""
    from siamkit.export import OnnxModel, QuantizationConfig, export_onnx

    result = export_onnx(model, folder, quantization=QuantizationConfig(calibration))
    exported = OnnxModel(folder, threads=threads)
    batch = images.numpy()
    return (lambda: exported.embed(batch)), result.quantization["encoder"]["check"]


if __name__ == "__main__":
    main()
