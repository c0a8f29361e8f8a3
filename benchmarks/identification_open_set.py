"""Open-set identification at the bundle's pair threshold: how false positives grow with the gallery.

`siamkit gallery identify` names the identity whose best reference scores highest and accepts it when that
score passes the bundle's threshold, which is fitted on single pairs. A probe of someone never enrolled is
compared with every reference, so the chance that one of them passes grows with the gallery. This enrols
`--gallery-sizes` identities (K references each, drawn with a seed from the first half of the classes) in a real
gallery file and identifies every other image of them (mated probes) and every image of the second half of the
classes (non-mated probes). It reports the false positive identification rate (FPIR: non-mated probes given a
name) and the false negative identification rate (FNIR: mated probes not given their own name).

Then the same gallery is calibrated for identification (`Gallery.calibrate_identification`, what `siamkit
gallery calibrate-identification` runs) at `--target-fpir` on the images of half of the non-enrolled classes,
and FPIR is measured on the other half, FNIR again on the mated probes: whether a threshold fitted on the
gallery holds for strangers it was not fitted on.

    python benchmarks/identification_open_set.py --model models/faces --data /tmp/orl_faces \\
        --json-out benchmarks/results/faces_identification_open_set.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

import siamkit
from siamkit.errors import SiamkitError
from siamkit.evaluation.dataset_evaluation import embed_folder
from siamkit.gallery import Gallery
from siamkit.model import SiameseModel
from verification_folds import machine, write_results


def open_set_rates(
    model: SiameseModel,
    embeddings: np.ndarray,
    labels: np.ndarray,
    size: int,
    references: int,
    seed: int,
    target_fpir: float,
) -> dict[str, Any]:
    """FPIR and FNIR of one gallery of `size` identities from the first half of the classes."""
    classes = np.unique(labels)
    enrolled_pool, strangers = classes[: len(classes) // 2], classes[len(classes) // 2 :]
    generator = np.random.default_rng(seed)
    enrolled = generator.choice(enrolled_pool, size, replace=False)
    mated: list[tuple[int, int]] = []  # (probe index, its identity)
    stranger_classes = generator.permutation(strangers)
    fitting = np.flatnonzero(np.isin(labels, stranger_classes[: len(stranger_classes) // 2]))
    testing = np.flatnonzero(np.isin(labels, stranger_classes[len(stranger_classes) // 2 :]))
    every_stranger = np.flatnonzero(np.isin(labels, strangers))
    with (
        tempfile.TemporaryDirectory(prefix="siamkit-open-set-") as folder,
        Gallery.create(Path(folder) / "g.sqlite", model) as gallery,
    ):
        for identity in enrolled:
            images = generator.permutation(np.flatnonzero(labels == identity))
            gallery.enrol(str(identity), embeddings=embeddings[images[:references]])
            mated += [(int(index), int(identity)) for index in images[references:]]

        def rates(strangers_seen: np.ndarray) -> tuple[float, float]:
            named = [gallery.identify(embedding=embeddings[index]).identity for index, _ in mated]
            misses = sum(name != str(identity) for name, (_, identity) in zip(named, mated, strict=True))
            false = sum(gallery.identify(embedding=embeddings[index]).known for index in strangers_seen)
            return false / len(strangers_seen), misses / len(mated)

        fpir, fnir = rates(every_stranger)
        fitted = gallery.calibrate_identification(embeddings=embeddings[fitting], target_fpir=target_fpir)
        calibrated_fpir, calibrated_fnir = rates(testing)
    return {
        "identities": size,
        "references": references,
        "fpir": fpir,
        "fnir": fnir,
        "n_mated": len(mated),
        "n_non_mated": len(every_stranger),
        "calibrated_threshold": fitted["threshold"],
        "calibrated_fpir_where_fitted": fitted["fpir"],
        "calibrated_fpir": calibrated_fpir,
        "calibrated_fnir": calibrated_fnir,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="A bundle with a threshold.")
    parser.add_argument("--data", type=Path, required=True, help="One folder per identity, none trained on.")
    parser.add_argument("--gallery-sizes", default="1,5,10,20", help="Enrolled identities, comma-separated.")
    parser.add_argument("--references", type=int, default=5, help="References per enrolled identity.")
    parser.add_argument("--target-fpir", type=float, default=0.01, help="FPIR the gallery is calibrated for.")
    parser.add_argument("--seeds", type=int, default=5, help="Galleries drawn per size (rates averaged).")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json-out", type=Path)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    try:
        model = siamkit.load(arguments.model)
        if model.threshold is None:
            raise SiamkitError(f"{arguments.model}: the bundle has no threshold; calibrate it first")
        dataset, embeddings = embed_folder(model, arguments.data)
    except SiamkitError as error:
        parser.error(str(error))
    labels = dataset.labels.numpy()
    rows = []
    for size in (int(text) for text in arguments.gallery_sizes.split(",")):
        draws = [
            open_set_rates(model, embeddings.numpy(), labels, size, arguments.references, seed, arguments.target_fpir)
            for seed in range(arguments.seeds)
        ]
        averaged = ("fpir", "fnir", "calibrated_threshold", "calibrated_fpir_where_fitted", "calibrated_fpir",
                    "calibrated_fnir")  # fmt: skip
        row = {**draws[0], **{key: float(np.mean([draw[key] for draw in draws])) for key in averaged}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if arguments.json_out is not None:
        write_results(
            arguments.json_out,
            {"model": str(arguments.model), "data": str(arguments.data), "threshold": model.threshold,
             "target_fpir": arguments.target_fpir, "seeds": arguments.seeds, "galleries": rows, "machine": machine()},
        )  # fmt: skip


if __name__ == "__main__":
    main()
