"""Lake et al.'s one-shot classification runs: read a run folder, classify each test item, score.

The format (Lake, Salakhutdinov and Tenenbaum, Science 2015): a folder `all_runs/` holds `run01` .. `run20`;
each run has `training/class01.png` .. (one example of each character), `test/item01.png` .. (the same
characters drawn by someone else, shuffled) and `class_labels.txt`, whose lines name a test item and its right
training image, relative to the folder holding the runs: `run01/test/item01.png run01/training/class08.png`.
Each test item is classified by its most similar training image of the same run; the score is the share of
test items classified right. Official runs are read unchanged.

    result = evaluate_one_shot_runs(siamkit.load("models/omniglot"), "all_runs")
    result.accuracy, result.per_run["run01"]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from siamkit.data.class_split import natural_sort_key
from siamkit.data.preprocessing import IMAGE_SUFFIXES
from siamkit.errors import DataError
from siamkit.model import SiameseModel

logger = logging.getLogger(__name__)

LABELS_FILE = "class_labels.txt"
TRAINING_FOLDER = "training"
TEST_FOLDER = "test"


@dataclass
class OneShotRun:
    """One run: its training images (the candidates) and each test item's right answer.

    Attributes:
        name: The run folder's name (`run01`).
        training: The training images, in natural order; every test item is compared with all of them.
        test: The test items, in the order `class_labels.txt` lists them.
        answers: For each test item (same order), the index into `training` of its right answer.
    """

    name: str
    training: list[Path]
    test: list[Path]
    answers: list[int]


@dataclass
class OneShotRunsResult:
    """Scores of a set of runs.

    Attributes:
        accuracy: Share of all test items classified right (Lake's score; 1 - error rate).
        per_run: Accuracy of each run, by run name.
        n_items: Number of test items scored.
        predictions: For each run, the index into its training images chosen for each test item.
    """

    accuracy: float
    per_run: dict[str, float]
    n_items: int
    predictions: dict[str, list[int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form `siamkit one-shot-runs --json` prints."""
        return {"accuracy": self.accuracy, "per_run": dict(self.per_run), "n_items": self.n_items}


def find_runs_root(runs_dir: str | Path) -> Path:
    """The folder that holds the run folders: `runs_dir` itself, or its `all_runs/` (Lake's download layout)."""
    root = Path(runs_dir)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder of one-shot runs")
    if not _run_folders(root) and (root / "all_runs").is_dir():
        root = root / "all_runs"
    if not _run_folders(root):
        raise DataError(f"{root}: no run folders (expected run01, run02, ... each with {LABELS_FILE})")
    return root


def _run_folders(root: Path) -> list[Path]:
    folders = [path for path in root.iterdir() if path.is_dir() and path.name.lower().startswith("run")]
    return sorted(folders, key=lambda path: natural_sort_key(path.name))


def read_one_shot_run(root: Path, folder: Path) -> OneShotRun:
    """Reads one run folder below `root`, checking that every file `class_labels.txt` names exists.

    Paths in `class_labels.txt` are relative to `root` (`run01/test/item01.png`); paths relative to the run
    folder itself (`test/item01.png`) are accepted too.
    """
    labels_file = folder / LABELS_FILE
    if not labels_file.is_file():
        raise DataError(f"{labels_file}: missing (each run needs its {LABELS_FILE})")
    training_folder = folder / TRAINING_FOLDER
    if not training_folder.is_dir():
        raise DataError(f"{training_folder}: missing (each run needs a {TRAINING_FOLDER}/ folder of images)")
    training = sorted(
        (path for path in training_folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda path: natural_sort_key(path.name),
    )
    if not training:
        raise DataError(f"{training_folder}: no training images")
    index_of = {path.resolve(): index for index, path in enumerate(training)}
    test: list[Path] = []
    answers: list[int] = []
    seen: set[Path] = set()
    try:
        lines = labels_file.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{labels_file}: cannot be read ({error})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split()
        where = f"{labels_file}:{number}"
        if len(parts) != 2:
            raise DataError(f"{where}: expected 'TEST_IMAGE TRAINING_IMAGE', got {line.strip()!r}")
        item = _resolve(root, folder, parts[0], where)
        answer = _resolve(root, folder, parts[1], where)
        if answer.resolve() not in index_of:
            raise DataError(f"{where}: {parts[1]} is not an image in {training_folder}")
        if item.resolve() in seen:
            raise DataError(f"{where}: test item {parts[0]} is listed twice")
        seen.add(item.resolve())
        test.append(item)
        answers.append(index_of[answer.resolve()])
    if not test:
        raise DataError(f"{labels_file}: lists no test items")
    return OneShotRun(name=folder.name, training=training, test=test, answers=answers)


def _resolve(root: Path, folder: Path, name: str, where: str) -> Path:
    for candidate in (root / name, folder / name):
        if candidate.is_file():
            return candidate
    raise DataError(f"{where}: image {name} not found (looked in {root} and {folder})")


def read_one_shot_runs(runs_dir: str | Path) -> list[OneShotRun]:
    """Reads every run below `runs_dir` (the folder of `run01`.., or one holding `all_runs/`)."""
    root = find_runs_root(runs_dir)
    return [read_one_shot_run(root, folder) for folder in _run_folders(root)]


def shifted_copies(images: torch.Tensor, shift: int, background: int) -> list[torch.Tensor]:
    """Copies of a `uint8 (N, C, H, W)` batch moved by every offset in `[-shift, shift]` pixels (both axes),
    the uncovered border filled with `background`; the unshifted batch comes first."""
    offsets = [(0, 0)] + [
        (down, right)
        for down in range(-shift, shift + 1)
        for right in range(-shift, shift + 1)
        if (down, right) != (0, 0)
    ]
    height, width = images.shape[-2:]
    padded = torch.nn.functional.pad(images, (shift, shift, shift, shift), value=background)
    return [
        padded[..., shift - down : shift - down + height, shift - right : shift - right + width].contiguous()
        for down, right in offsets
    ]


def embed_with_shifts(model: SiameseModel, paths: Sequence[Path], branch: int, shift: int) -> torch.Tensor:
    """Embeddings of the images, averaged over shifted copies when `shift` > 0 (test-time augmentation).

    Small shifts are changes the encoder was trained to ignore (affine augmentation), so averaging over them
    smooths out where a pooling grid happens to cut a stroke.
    """
    if shift <= 0:
        return model.embed(list(paths), branch=branch)
    images = model.prepare(list(paths))
    background = 0 if model.preprocessing.invert else 255
    copies = [model.embed(copy, branch=branch) for copy in shifted_copies(images, shift, background)]
    mean = torch.stack(copies).mean(dim=0)
    return torch.nn.functional.normalize(mean, dim=-1) if model.network.normalize_embeddings else mean


def run_similarities(models: Sequence[SiameseModel], run: OneShotRun, test_time_shift: int = 0) -> torch.Tensor:
    """`(test items, training images)` similarities (larger = more alike), averaged over `models`.

    Averaging similarities is a simple ensemble; with one model it is that model's comparison, turned so that
    larger always means more similar (negated distances, same-probabilities as they are).
    """
    total = torch.zeros(len(run.test), len(run.training))
    for model in models:
        half_twin = model.network.is_half_twin
        test_embeddings = embed_with_shifts(model, run.test, 0, test_time_shift)
        training_embeddings = embed_with_shifts(model, run.training, 1 if half_twin else 0, test_time_shift)
        scores = model.pairwise_scores(test_embeddings, training_embeddings)
        total += scores if model.higher_is_more_similar else -scores
    return total / len(models)


def evaluate_one_shot_runs(
    model: SiameseModel | Sequence[SiameseModel], runs_dir: str | Path, test_time_shift: int = 0
) -> OneShotRunsResult:
    """Classifies every test item of every run by its most similar training image and scores the answers.

    Args:
        model: A trained model, or several whose similarities are averaged (an ensemble).
        runs_dir: Lake's `all_runs/` folder (or the folder holding it), or any folder in that format, such as
            `siamkit make-runs` writes.
        test_time_shift: Average each image's embedding over copies shifted by up to this many pixels (in the
            model's input resolution) in each direction; 0 embeds each image once.

    Raises:
        DataError: one line naming the file: a missing folder or `class_labels.txt`, a malformed line, an image
            that is missing or cannot be decoded.
    """
    models = [model] if isinstance(model, SiameseModel) else list(model)
    if not models:
        raise DataError("evaluate_one_shot_runs needs at least one model")
    runs = read_one_shot_runs(runs_dir)
    per_run: dict[str, float] = {}
    predictions: dict[str, list[int]] = {}
    correct_total = 0
    items_total = 0
    for run in runs:
        chosen = run_similarities(models, run, test_time_shift).argmax(dim=1)
        correct = int((chosen == torch.tensor(run.answers)).sum())
        per_run[run.name] = correct / len(run.test)
        predictions[run.name] = chosen.tolist()
        correct_total += correct
        items_total += len(run.test)
        logger.info("%s: %d of %d right", run.name, correct, len(run.test))
    return OneShotRunsResult(
        accuracy=correct_total / items_total, per_run=per_run, n_items=items_total, predictions=predictions
    )
