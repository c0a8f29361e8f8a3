"""Writes one-shot classification runs in Lake et al.'s format from an alphabet/character/drawer folder.

Lake's official 20 runs come from the 20 evaluation alphabets, which are held back; these runs, drawn the same
way from alphabets held out of training, stand in for them during development. Each run is within one
alphabet: `ways` of its characters, training images all by one drawer and test images all by another, test
items shuffled. Images are copied byte for byte (PNGs) or re-encoded losslessly as PNG, so the evaluator sees
exactly the files a user would. The same data, alphabets and seed always give the same runs.

    make_one_shot_runs("images_background.zip", "validation_runs", alphabets=["Bengali", "Futurama"])
"""

from __future__ import annotations

import io
import json
import logging
import random
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from siamkit.atomic import atomic_directory
from siamkit.data.class_split import natural_sort_key
from siamkit.data.decoding import ZipMember
from siamkit.data.image_folder import ImageFolderIndex, scan_image_folder
from siamkit.errors import ConfigError, DataError
from siamkit.evaluation.one_shot_runs import LABELS_FILE, TEST_FOLDER, TRAINING_FOLDER

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"


@dataclass
class GeneratedRun:
    """Where one generated run came from (written to `manifest.json` beside the runs).

    Attributes:
        name: Run folder name (`run01`).
        alphabet: The group all its characters belong to.
        characters: Class names of `class01`, `class02`, ... in order.
        training_drawer: Drawer of every training image.
        test_drawer: Drawer of every test image.
        test_answers: For `item01`, `item02`, ...: the number (1-based) of its right training class.
    """

    name: str
    alphabet: str
    characters: list[str]
    training_drawer: str
    test_drawer: str
    test_answers: list[int]


def drawer_of(path: str) -> str:
    """The drawer of an Omniglot image from its file name: `0709_17.png` -> `17`."""
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if "_" not in stem:
        raise DataError(f"{path}: file name does not end in _<drawer> (expected names like 0709_17.png)")
    return stem.rsplit("_", 1)[1]


def _read_bytes(source: Path | ZipMember, name: str, archives: dict[str, zipfile.ZipFile]) -> bytes:
    if isinstance(source, Path):
        return source.read_bytes()
    archive = archives.get(source.archive)
    if archive is None:
        archive = archives[source.archive] = zipfile.ZipFile(source.archive)
    try:
        return archive.read(source.member)
    except (KeyError, OSError, zipfile.BadZipFile) as error:
        raise DataError(f"{name}: cannot read it from the zip ({error})") from None


def _as_png(data: bytes, name: str) -> bytes:
    """PNG files unchanged; anything else decoded and re-encoded as (lossless) PNG."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    try:
        with Image.open(io.BytesIO(data)) as image:
            output = io.BytesIO()
            image.save(output, format="PNG")
    except (OSError, ValueError) as error:
        raise DataError(f"{name}: cannot be decoded as an image ({error})") from None
    return output.getvalue()


def _numbered(prefix: str, number: int, count: int) -> str:
    return f"{prefix}{number:0{max(2, len(str(count)))}d}"


def make_one_shot_runs(
    data: str | Path,
    output: str | Path,
    *,
    alphabets: Sequence[str] | None = None,
    runs: int = 20,
    ways: int = 20,
    seed: int = 0,
) -> list[GeneratedRun]:
    """Writes `runs` within-alphabet `ways`-way one-shot runs to `output` (replacing it whole).

    Args:
        data: An `Alphabet/character/<image>_<drawer>.png` folder or zip (Omniglot's layout), or a folder
            inside a zip.
        output: The folder to write `run01`, `run02`, ... into (the role of Lake's `all_runs/`), with a
            `manifest.json` recording each run's alphabet, characters and drawers.
        alphabets: The alphabets to draw from, cycled through in the order given (run 1 from the first,
            ...). Default: every alphabet with at least `ways` characters, in natural order.
        runs: Number of runs.
        ways: Characters per run (Lake: 20).
        seed: Seeds the choice of characters, drawers and test order.

    Raises:
        ConfigError: runs or ways below 1 (ways below 2), an unknown alphabet, or one with too few characters.
        DataError: a bad data folder, a file name without a drawer, or no two drawers who drew every chosen
            character.
    """
    if runs < 1 or ways < 2:
        raise ConfigError(f"runs must be >= 1 and ways >= 2, got runs={runs}, ways={ways}")
    index = scan_image_folder(data, min_images_per_class=1)
    # images[alphabet][character][drawer] = position in the index
    images: defaultdict[str, defaultdict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for position, path in enumerate(index.paths):
        # The alphabet is the character folder's parent, named from the path so that a folder holding a single
        # alphabet (whose name the scan strips from class names) still names it.
        parts = path.split("/")
        if len(parts) < 3:
            raise DataError(f"{path}: expected <alphabet>/<character>/<image>_<drawer>.png")
        images[parts[-3]]["/".join(parts[-3:-1])][drawer_of(path)] = position
    if alphabets is None:
        chosen = [name for name in sorted(images, key=natural_sort_key) if len(images[name]) >= ways]
        if not chosen:
            raise ConfigError(f"{index.root}: no alphabet has {ways} characters for {ways}-way runs")
    else:
        chosen = list(alphabets)
        for name in chosen:
            if name not in images:
                known = ", ".join(sorted(images, key=natural_sort_key))
                raise ConfigError(f"unknown alphabet {name!r} in {index.root}; choose from: {known}")
            if len(images[name]) < ways:
                raise ConfigError(f"alphabet {name!r} has {len(images[name])} characters, fewer than ways={ways}")
    generator = random.Random(seed)
    generated: list[GeneratedRun] = []
    archives: dict[str, zipfile.ZipFile] = {}
    try:
        with atomic_directory(output) as staging:
            for run_number in range(1, runs + 1):
                alphabet = chosen[(run_number - 1) % len(chosen)]
                run = _draw_run(images[alphabet], alphabet, _numbered("run", run_number, runs), ways, generator)
                labels_lines = _write_run(run, images[alphabet], index, staging, archives, ways)
                (staging / run.name / LABELS_FILE).write_text("".join(line + "\n" for line in labels_lines))
                generated.append(run)
            manifest = {
                "data": str(data),
                "alphabets": chosen,
                "runs": runs,
                "ways": ways,
                "seed": seed,
                "run_details": [asdict(run) for run in generated],
            }
            (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    finally:
        for archive in archives.values():
            archive.close()
    logger.info("wrote %d %d-way runs from %s to %s", runs, ways, ", ".join(chosen), output)
    return generated


def _draw_run(
    characters: dict[str, dict[str, int]], alphabet: str, name: str, ways: int, generator: random.Random
) -> GeneratedRun:
    names = sorted(characters, key=natural_sort_key)
    picked = generator.sample(names, ways)
    common = set.intersection(*(set(characters[character]) for character in picked))
    if len(common) < 2:
        raise DataError(f"{alphabet}: fewer than two drawers drew all of the {ways} characters chosen for {name}")
    training_drawer, test_drawer = generator.sample(sorted(common, key=natural_sort_key), 2)
    order = list(range(1, ways + 1))
    generator.shuffle(order)
    return GeneratedRun(name, alphabet, picked, training_drawer, test_drawer, order)


def _write_run(
    run: GeneratedRun,
    characters: dict[str, dict[str, int]],
    index: ImageFolderIndex,
    staging: Path,
    archives: dict[str, zipfile.ZipFile],
    ways: int,
) -> list[str]:
    """Copies the run's images into place and returns its `class_labels.txt` lines."""
    sources, paths = index.sources, index.paths
    training_folder = staging / run.name / TRAINING_FOLDER
    test_folder = staging / run.name / TEST_FOLDER
    training_folder.mkdir(parents=True)
    test_folder.mkdir(parents=True)
    class_files = []
    for number, character in enumerate(run.characters, start=1):
        position = characters[character][run.training_drawer]
        class_file = _numbered("class", number, ways) + ".png"
        (training_folder / class_file).write_bytes(
            _as_png(_read_bytes(sources[position], paths[position], archives), paths[position])
        )
        class_files.append(class_file)
    lines = []
    for item_number, class_number in enumerate(run.test_answers, start=1):
        position = characters[run.characters[class_number - 1]][run.test_drawer]
        item_file = _numbered("item", item_number, ways) + ".png"
        (test_folder / item_file).write_bytes(
            _as_png(_read_bytes(sources[position], paths[position], archives), paths[position])
        )
        lines.append(
            f"{run.name}/{TEST_FOLDER}/{item_file} {run.name}/{TRAINING_FOLDER}/{class_files[class_number - 1]}"
        )
    return lines
