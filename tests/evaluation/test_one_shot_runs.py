"""Lake-format one-shot runs: scoring checked on hand-made runs whose right answers are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from siamkit.comparisons import Comparison, EuclideanDistance
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.errors import DataError
from siamkit.evaluation.one_shot_runs import evaluate_one_shot_runs, read_one_shot_runs, shifted_copies
from siamkit.model import SiameseModel
from siamkit.network import SiameseNetwork

SIZE = 16


def shape_image(class_number: int, nudge: bool = False) -> np.ndarray:
    """A 4x4 black block at a position unique to the class, on white; `nudge` changes one far pixel."""
    image = np.full((SIZE, SIZE), 255, dtype=np.uint8)
    row, column = divmod(class_number - 1, 4)
    image[row * 4 : row * 4 + 4, column * 4 : column * 4 + 4] = 0
    if nudge:
        image[(row * 4 + 8) % SIZE, (column * 4 + 8) % SIZE] = 0
    return image


def write_run(root: Path, name: str, answers: list[int], drawn_as: list[int] | None = None) -> None:
    """Writes `root/name` with `len(answers)` classes; test item i shows class `drawn_as[i]` (default: answer)."""
    drawn_as = drawn_as or answers
    (root / name / "training").mkdir(parents=True)
    (root / name / "test").mkdir()
    for class_number in range(1, len(answers) + 1):
        Image.fromarray(shape_image(class_number)).save(root / name / "training" / f"class{class_number:02d}.png")
    lines = []
    for item, (answer, drawn) in enumerate(zip(answers, drawn_as, strict=True), start=1):
        Image.fromarray(shape_image(drawn, nudge=True)).save(root / name / "test" / f"item{item:02d}.png")
        lines.append(f"{name}/test/item{item:02d}.png {name}/training/class{answer:02d}.png\n")
    (root / name / "class_labels.txt").write_text("".join(lines))


class NegatedEuclidean(Comparison):
    """Euclidean distance turned into a similarity (larger = more alike)."""

    higher_is_more_similar = True

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return -(first - second).norm(dim=-1)


def pixel_model(comparison: Comparison | None = None) -> SiameseModel:
    """A model whose embedding is the raw pixels: its nearest training image is the pixel-nearest one."""
    network = SiameseNetwork(nn.Flatten(), comparison or EuclideanDistance())
    return SiameseModel(network, PreprocessingConfig(image_size=(SIZE, SIZE)))


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """Lake's layout: all_runs/run01 all right (4 items), run02 with 1 of its 4 test items drawn as another class."""
    all_runs = tmp_path / "all_runs"
    write_run(all_runs, "run01", answers=[3, 1, 4, 2])
    write_run(all_runs, "run02", answers=[2, 4, 1, 3], drawn_as=[2, 4, 3, 3])
    return tmp_path


def test_scores_known_answers(runs: Path) -> None:
    result = evaluate_one_shot_runs(pixel_model(), runs / "all_runs")
    assert result.per_run == {"run01": 1.0, "run02": 0.75}
    assert result.n_items == 8
    assert result.accuracy == pytest.approx(7 / 8)
    # run02's third item (class 1 by the labels) looks like class 3, so index 2 is chosen.
    assert result.predictions["run02"] == [1, 3, 2, 2]
    assert result.to_dict() == {"accuracy": 7 / 8, "per_run": {"run01": 1.0, "run02": 0.75}, "n_items": 8}


def test_accepts_the_folder_holding_all_runs(runs: Path) -> None:
    assert evaluate_one_shot_runs(pixel_model(), runs).accuracy == pytest.approx(7 / 8)


def test_similarity_comparisons_pick_the_largest_score(runs: Path) -> None:
    result = evaluate_one_shot_runs(pixel_model(NegatedEuclidean()), runs)
    assert result.per_run == {"run01": 1.0, "run02": 0.75}


def test_an_ensemble_of_equal_models_scores_like_one(runs: Path) -> None:
    result = evaluate_one_shot_runs([pixel_model(), pixel_model(NegatedEuclidean())], runs)
    assert result.per_run == {"run01": 1.0, "run02": 0.75}


def test_reads_answers_and_candidates(runs: Path) -> None:
    first, second = read_one_shot_runs(runs)
    assert [path.name for path in first.training] == ["class01.png", "class02.png", "class03.png", "class04.png"]
    assert first.answers == [2, 0, 3, 1]
    assert second.name == "run02"


def test_missing_labels_file_is_named(runs: Path) -> None:
    (runs / "all_runs" / "run02" / "class_labels.txt").unlink()
    with pytest.raises(DataError, match=r"run02/class_labels.txt: missing"):
        evaluate_one_shot_runs(pixel_model(), runs)


def test_malformed_line_is_named(runs: Path) -> None:
    labels = runs / "all_runs" / "run01" / "class_labels.txt"
    labels.write_text(labels.read_text() + "run01/test/item01.png\n")
    with pytest.raises(DataError, match=r"class_labels.txt:5: expected 'TEST_IMAGE TRAINING_IMAGE'"):
        evaluate_one_shot_runs(pixel_model(), runs)


def test_missing_image_is_named(runs: Path) -> None:
    (runs / "all_runs" / "run01" / "test" / "item02.png").unlink()
    with pytest.raises(DataError, match=r"class_labels.txt:2: image run01/test/item02.png not found"):
        evaluate_one_shot_runs(pixel_model(), runs)


def test_undecodable_image_is_named(runs: Path) -> None:
    (runs / "all_runs" / "run01" / "test" / "item02.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"item02.png"):
        evaluate_one_shot_runs(pixel_model(), runs)


def test_answer_outside_training_folder_is_rejected(runs: Path) -> None:
    labels = runs / "all_runs" / "run01" / "class_labels.txt"
    labels.write_text(labels.read_text().replace("run01/training/class03.png", "run01/test/item04.png"))
    with pytest.raises(DataError, match=r"is not an image in .*training"):
        evaluate_one_shot_runs(pixel_model(), runs)


def test_folder_without_runs_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no run folders"):
        evaluate_one_shot_runs(pixel_model(), tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        evaluate_one_shot_runs(pixel_model(), tmp_path / "absent")


def test_shifted_copies_move_the_image_and_fill_the_border() -> None:
    image = torch.arange(1, 10, dtype=torch.uint8).reshape(1, 1, 3, 3)
    copies = shifted_copies(image, 1, background=0)
    assert len(copies) == 9 and torch.equal(copies[0], image)
    down_right = next(copy for copy in copies if copy[0, 0, 1, 1] == 1)
    assert down_right[0, 0].tolist() == [[0, 0, 0], [0, 1, 2], [0, 4, 5]]


def test_test_time_shifts_keep_clear_answers(runs: Path) -> None:
    result = evaluate_one_shot_runs(pixel_model(), runs, test_time_shift=1)
    assert result.per_run == {"run01": 1.0, "run02": 0.75}


def test_shipped_omniglot_model_scores_held_out_runs(shared_data: Path, tmp_path: Path) -> None:
    from siamkit.evaluation.run_generator import make_one_shot_runs

    bundle = Path(__file__).resolve().parents[2] / "models" / "omniglot"
    model = SiameseModel.load(bundle)
    assert model.preprocessing.invert and model.preprocessing.image_size == (40, 40)
    encoder = model.network.config.encoder  # type: ignore[union-attr]
    assert encoder.name == "test_time_views" and encoder.options["views"] == 8  # 92.70% on 100 runs, 92.35% without
    make_one_shot_runs(
        shared_data / "omniglot" / "images_background.zip", tmp_path / "runs", alphabets=["Bengali"], runs=2, seed=9
    )
    result = evaluate_one_shot_runs(model, tmp_path / "runs")
    assert result.n_items == 40 and result.accuracy >= 0.8  # measured 92.70% over 2,000 held-out items
