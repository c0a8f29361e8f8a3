"""The run generator: Lake's layout, within-alphabet runs, two drawers, and read back by the evaluator."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torch import nn

from siamkit.comparisons import EuclideanDistance
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.errors import ConfigError, DataError
from siamkit.evaluation.one_shot_runs import evaluate_one_shot_runs, read_one_shot_runs
from siamkit.evaluation.run_generator import drawer_of, make_one_shot_runs
from siamkit.model import SiameseModel
from siamkit.network import SiameseNetwork

SIZE = 16
WAYS = 5


def character_image(alphabet: int, character: int, drawer: int) -> np.ndarray:
    """A block unique to (alphabet, character), plus a one-pixel mark unique to the drawer."""
    image = np.full((SIZE, SIZE), 255, dtype=np.uint8)
    row, column = divmod(character - 1, 4)
    image[row * 4 : row * 4 + 4, column * 4 : column * 4 + 4] = alphabet * 60
    image[15, drawer] = 128
    return image


@pytest.fixture
def alphabets(tmp_path: Path) -> Path:
    """Omniglot's layout: two alphabets of 6 characters by 4 drawers, and one too small (3 characters)."""
    root = tmp_path / "images_background"
    for alphabet, (name, characters) in enumerate((("Alpha", 6), ("Beta", 6), ("Tiny", 3)), start=1):
        for character in range(1, characters + 1):
            folder = root / name / f"character{character:02d}"
            folder.mkdir(parents=True)
            for drawer in range(1, 5):
                image = character_image(alphabet, character, drawer)
                Image.fromarray(image).save(folder / f"{alphabet}{character:02d}_{drawer:02d}.png")
    return root


def pixel_model() -> SiameseModel:
    return SiameseModel(SiameseNetwork(nn.Flatten(), EuclideanDistance()), PreprocessingConfig(image_size=(SIZE, SIZE)))


def test_layout_labels_and_images_are_exactly_right(alphabets: Path, tmp_path: Path) -> None:
    output = tmp_path / "runs"
    generated = make_one_shot_runs(alphabets, output, alphabets=["Alpha", "Beta"], runs=3, ways=WAYS, seed=1)
    assert sorted(path.name for path in output.iterdir()) == ["manifest.json", "run01", "run02", "run03"]
    assert [run.alphabet for run in generated] == ["Alpha", "Beta", "Alpha"]
    for run in generated:
        folder = output / run.name
        assert sorted(path.name for path in (folder / "training").iterdir()) == [f"class0{i}.png" for i in range(1, 6)]
        assert sorted(path.name for path in (folder / "test").iterdir()) == [f"item0{i}.png" for i in range(1, 6)]
        assert run.training_drawer != run.test_drawer
        assert sorted(run.test_answers) == list(range(1, WAYS + 1))
        assert all(character.startswith(run.alphabet + "/") for character in run.characters)
        lines = (folder / "class_labels.txt").read_text().splitlines()
        expected = [
            f"{run.name}/test/item{item:02d}.png {run.name}/training/class{answer:02d}.png"
            for item, answer in enumerate(run.test_answers, start=1)
        ]
        assert lines == expected
        # Every file is the source PNG byte for byte: the right character, by the right drawer.
        for number, character in enumerate(run.characters, start=1):
            source = next((alphabets / character).glob(f"*_{run.training_drawer}.png"))
            assert (folder / "training" / f"class{number:02d}.png").read_bytes() == source.read_bytes()
        for item, answer in enumerate(run.test_answers, start=1):
            source = next((alphabets / run.characters[answer - 1]).glob(f"*_{run.test_drawer}.png"))
            assert (folder / "test" / f"item{item:02d}.png").read_bytes() == source.read_bytes()
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["seed"] == 1 and len(manifest["run_details"]) == 3


def test_evaluator_reads_the_runs_back(alphabets: Path, tmp_path: Path) -> None:
    generated = make_one_shot_runs(alphabets, tmp_path / "runs", alphabets=["Alpha", "Beta"], runs=4, ways=WAYS)
    runs = read_one_shot_runs(tmp_path / "runs")
    assert [run.answers for run in runs] == [[answer - 1 for answer in run.test_answers] for run in generated]
    # Pixels differ across drawers only by the drawer mark, so the pixel-nearest training image is the right one.
    result = evaluate_one_shot_runs(pixel_model(), tmp_path / "runs")
    assert result.accuracy == 1.0 and result.n_items == 4 * WAYS


def test_same_seed_same_runs_other_seed_other_runs(alphabets: Path, tmp_path: Path) -> None:
    first = make_one_shot_runs(alphabets, tmp_path / "a", runs=2, ways=WAYS, seed=3)
    again = make_one_shot_runs(alphabets, tmp_path / "b", runs=2, ways=WAYS, seed=3)
    other = make_one_shot_runs(alphabets, tmp_path / "c", runs=2, ways=WAYS, seed=4)
    assert first == again
    assert first != other
    assert (tmp_path / "a" / "run01" / "class_labels.txt").read_text() == (
        tmp_path / "b" / "run01" / "class_labels.txt"
    ).read_text()


def test_default_alphabets_skip_those_too_small(alphabets: Path, tmp_path: Path) -> None:
    generated = make_one_shot_runs(alphabets, tmp_path / "runs", runs=4, ways=WAYS)
    assert {run.alphabet for run in generated} == {"Alpha", "Beta"}


def test_reads_a_zip_in_place(alphabets: Path, tmp_path: Path) -> None:
    archive = tmp_path / "background.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(alphabets.rglob("*.png")):
            handle.write(path, path.relative_to(alphabets.parent).as_posix())
    from_zip = make_one_shot_runs(archive, tmp_path / "zipped", runs=2, ways=WAYS, seed=5)
    from_folder = make_one_shot_runs(alphabets, tmp_path / "folder", runs=2, ways=WAYS, seed=5)
    assert from_zip == from_folder
    assert (tmp_path / "zipped" / "run02" / "test" / "item03.png").read_bytes() == (
        tmp_path / "folder" / "run02" / "test" / "item03.png"
    ).read_bytes()


def test_non_png_images_are_reencoded_losslessly(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for character in range(1, 4):
        folder = root / "Alpha" / f"character{character}"
        folder.mkdir(parents=True)
        for drawer in (1, 2):
            Image.fromarray(character_image(1, character, drawer)).save(folder / f"x_{drawer}.bmp")
    make_one_shot_runs(root, tmp_path / "runs", runs=1, ways=3)
    item = tmp_path / "runs" / "run01" / "training" / "class01.png"
    assert item.read_bytes().startswith(b"\x89PNG")
    run = json.loads((tmp_path / "runs" / "manifest.json").read_text())["run_details"][0]
    character, drawer = run["characters"][0], int(run["training_drawer"])
    assert np.array_equal(np.asarray(Image.open(item)), character_image(1, int(character[-1]), drawer))


def test_bad_requests_are_one_line_errors(alphabets: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown alphabet 'Gamma'"):
        make_one_shot_runs(alphabets, tmp_path / "runs", alphabets=["Gamma"], ways=WAYS)
    with pytest.raises(ConfigError, match="'Tiny' has 3 characters, fewer than ways=5"):
        make_one_shot_runs(alphabets, tmp_path / "runs", alphabets=["Tiny"], ways=WAYS)
    with pytest.raises(ConfigError, match="runs must be >= 1"):
        make_one_shot_runs(alphabets, tmp_path / "runs", runs=0)
    with pytest.raises(DataError, match="does not end in _<drawer>"):
        drawer_of("Alpha/character01/nodrawer.png")
    assert not (tmp_path / "runs").exists()
