"""Loading one-folder-per-class image data sets from folders and zips, and splitting them by class."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch

from siamkit.data import ImageDataset, PreprocessingConfig, load_image_folder, scan_image_folder
from siamkit.errors import ConfigError, DataError

GREY = PreprocessingConfig(image_size=(8, 8), channels=1)

# (file name, Pillow mode) pairs covering every format and mode the loader promises to read.
FORMATS_AND_MODES = [
    ("one_bit.png", "1"),
    ("grey.png", "L"),
    ("palette.gif", "P"),
    ("colour.jpg", "RGB"),
    ("alpha.png", "RGBA"),
    ("grey.pgm", "L"),
    ("grey.tiff", "L"),
    ("colour.bmp", "RGB"),
]


def make_flat_folder(root: Path, write_image, classes: int = 3, per_class: int = 2) -> Path:
    for class_index in range(classes):
        for image_index in range(per_class):
            write_image(root / f"c{class_index}" / f"{image_index}.png", seed=class_index * 10 + image_index)
    return root


def test_every_format_and_mode_decodes_to_the_right_grey_value(tmp_path, write_image):
    for name, mode in FORMATS_AND_MODES:
        # White for the 1-bit image (its only non-black value), mid-light grey for the rest.
        write_image(tmp_path / "light" / name, mode=mode, grey=255 if mode == "1" else 200)
        write_image(tmp_path / "dark" / name, mode=mode, grey=0 if mode == "1" else 40)
    dataset = load_image_folder(tmp_path, GREY)
    assert dataset.class_names == ["dark", "light"]
    assert dataset.images.shape == (2 * len(FORMATS_AND_MODES), 1, 8, 8)
    assert dataset.images.dtype == torch.uint8 and dataset.labels.dtype == torch.int64
    expected = {("dark", "1"): 0, ("light", "1"): 255, ("dark", "other"): 40, ("light", "other"): 200}
    for image, label, path in zip(dataset.images, dataset.labels.tolist(), dataset.paths, strict=True):
        mode = dict(FORMATS_AND_MODES)[Path(path).name]
        target = expected[(dataset.class_names[label], "1" if mode == "1" else "other")]
        # JPEG is lossy; everything else must be exact.
        tolerance = 3 if path.endswith(".jpg") else 0
        assert (image.int() - target).abs().max() <= tolerance, path


def test_colour_output_has_three_channels(tmp_path, write_image):
    for name, mode in FORMATS_AND_MODES:
        write_image(tmp_path / "a" / name, mode=mode, seed=1)
        write_image(tmp_path / "b" / name, mode=mode, seed=2)
    dataset = load_image_folder(tmp_path, PreprocessingConfig(image_size=(5, 7), channels=3))
    assert dataset.images.shape == (16, 3, 5, 7)


def test_nested_classes_are_named_by_their_folder_path(tmp_path, write_image):
    for alphabet, characters in {"Alpha": ["c1", "c2", "c10"], "Beta": ["c1"]}.items():
        for character in characters:
            for drawer in range(2):
                write_image(tmp_path / alphabet / character / f"{drawer}.png", seed=drawer)
    dataset = load_image_folder(tmp_path, GREY)
    assert dataset.class_names == ["Alpha/c1", "Alpha/c2", "Alpha/c10", "Beta/c1"]  # natural order
    assert dataset.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert dataset.group_of("Alpha/c10") == "Alpha"
    assert dataset.groups == ["Alpha", "Beta"]
    by_alphabet = load_image_folder(tmp_path, GREY, class_depth=1)
    assert by_alphabet.class_names == ["Alpha", "Beta"]
    assert by_alphabet.class_counts().tolist() == [6, 2]


def test_a_shared_wrapper_folder_is_not_part_of_class_names(tmp_path, write_image):
    make_flat_folder(tmp_path / "wrapper" / "data", write_image)
    assert load_image_folder(tmp_path, GREY).class_names == ["c0", "c1", "c2"]


def test_zip_is_read_in_place_with_the_same_result_as_the_folder(tmp_path, write_image, zip_folder):
    folder = make_flat_folder(tmp_path / "data", write_image)
    (folder / "README").write_text("not an image, ignored")
    (folder / "c0" / "notes.txt").write_text("ignored")
    (folder / "c1" / ".hidden.png").write_bytes(b"hidden files are skipped")
    archive = zip_folder(folder, tmp_path / "data.zip")
    with zipfile.ZipFile(archive, "a") as output:
        output.writestr("__MACOSX/data/c0/._0.png", b"resource fork junk")
    from_folder = load_image_folder(folder, GREY)
    from_zip = load_image_folder(archive, GREY)
    assert from_zip.class_names == from_folder.class_names
    assert torch.equal(from_zip.images, from_folder.images)
    assert torch.equal(from_zip.labels, from_folder.labels)
    assert from_zip.paths[0] == f"{archive}/data/c0/0.png"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data", "data.zip"]  # nothing extracted


def test_folder_inside_a_zip(tmp_path, write_image, zip_folder):
    for alphabet in ("Alpha", "Beta"):
        make_flat_folder(tmp_path / "set" / alphabet, write_image, classes=2)
    archive = zip_folder(tmp_path / "set", tmp_path / "set.zip")
    dataset = load_image_folder(f"{archive}/set/Beta", GREY)
    assert dataset.class_names == ["c0", "c1"]
    assert all(path.startswith(f"{archive}/set/Beta/") for path in dataset.paths)
    with pytest.raises(DataError, match=r"set\.zip: the zip has no folder 'set/Gamma'"):
        load_image_folder(f"{archive}/set/Gamma", GREY)


def test_scan_lists_without_decoding(tmp_path, write_image):
    make_flat_folder(tmp_path, write_image)
    (tmp_path / "c1" / "broken.png").write_text("never decoded by a scan")
    index = scan_image_folder(tmp_path)
    assert index.class_names == ["c0", "c1", "c2"]
    assert index.labels == [0, 0, 1, 1, 1, 2, 2]
    assert len(index) == 7


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"this is text, not a PNG", "not an image Pillow can read"),
        ("truncated", "corrupt or truncated"),
    ],
)
def test_undecodable_image_names_the_file(tmp_path, write_image, zip_folder, content, message):
    folder = make_flat_folder(tmp_path / "data", write_image)
    bad = folder / "c1" / "bad.png"
    if content == "truncated":
        whole = write_image(tmp_path / "whole.png", size=(40, 40), seed=3).read_bytes()
        content = whole[: len(whole) // 2]
    bad.write_bytes(content)
    with pytest.raises(DataError, match=message) as error:
        load_image_folder(folder, GREY)
    assert str(error.value).startswith(f"{bad}:")
    archive = zip_folder(folder, tmp_path / "data.zip")
    with pytest.raises(DataError, match=message) as error:
        load_image_folder(archive, GREY)
    assert str(error.value).startswith(f"{archive}/data/c1/bad.png:")


def test_empty_class_folder_is_named(tmp_path, write_image, zip_folder):
    folder = make_flat_folder(tmp_path / "data", write_image)
    (folder / "c3").mkdir()
    with pytest.raises(DataError, match=r"data/c3: class folder has no images"):
        load_image_folder(folder, GREY)
    with pytest.raises(DataError, match=r"data\.zip/data/c3: class folder has no images"):
        load_image_folder(zip_folder(folder, tmp_path / "data.zip"), GREY)


def test_class_with_too_few_images_is_named(tmp_path, write_image):
    make_flat_folder(tmp_path, write_image)
    write_image(tmp_path / "lonely" / "0.png")
    with pytest.raises(DataError, match=r"lonely: class has 1 image\(s\), fewer than min_images_per_class \(2\)"):
        load_image_folder(tmp_path, GREY)
    assert load_image_folder(tmp_path, GREY, min_images_per_class=1).num_classes == 4


def test_a_single_class_is_rejected(tmp_path, write_image):
    make_flat_folder(tmp_path, write_image, classes=1)
    with pytest.raises(DataError, match=r"found only one class \('c0'\); verification needs at least 2"):
        load_image_folder(tmp_path, GREY)


def test_layout_errors(tmp_path, write_image):
    with pytest.raises(DataError, match="no such folder or zip"):
        load_image_folder(tmp_path / "missing", GREY)
    (tmp_path / "broken.zip").write_text("not a zip")
    with pytest.raises(DataError, match=r"broken\.zip: not a readable zip file"):
        load_image_folder(tmp_path / "broken.zip", GREY)
    (tmp_path / "broken.zip").unlink()
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="no images found"):
        load_image_folder(tmp_path, GREY)
    make_flat_folder(tmp_path, write_image)
    write_image(tmp_path / "stray.png")
    with pytest.raises(DataError, match=r"stray\.png: image is not inside a class folder"):
        load_image_folder(tmp_path, GREY)
    (tmp_path / "stray.png").unlink()
    write_image(tmp_path / "c0" / "sub" / "0.png")
    write_image(tmp_path / "c0" / "sub" / "1.png")
    with pytest.raises(DataError, match=r"c0: folder holds images and also class folders below it"):
        load_image_folder(tmp_path, GREY)
    with pytest.raises(DataError, match="needs image preprocessing"):
        load_image_folder(tmp_path, PreprocessingConfig(kind="vector", vector_length=3))


def make_dataset(classes: list[str], per_class: int = 3) -> ImageDataset:
    count = len(classes) * per_class
    return ImageDataset(
        images=torch.arange(count, dtype=torch.uint8).view(count, 1, 1, 1),
        labels=torch.arange(len(classes)).repeat_interleave(per_class),
        class_names=list(classes),
        paths=[f"image{index}" for index in range(count)],
        preprocessing=GREY,
    )


def test_subset_keeps_labels_and_select_classes_relabels():
    dataset = make_dataset(["a", "b", "c"])
    part = dataset.subset([8, 0])
    assert part.labels.tolist() == [2, 0] and part.class_names == ["a", "b", "c"]
    assert part.images.flatten().tolist() == [8, 0] and part.paths == ["image8", "image0"]
    assert dataset.subset(dataset.labels == 1).paths == ["image3", "image4", "image5"]  # a boolean mask
    chosen = dataset.select_classes(["c", 0])
    assert chosen.class_names == ["c", "a"]
    assert chosen.labels.tolist() == [1, 1, 1, 0, 0, 0]  # original order kept, labels follow the order given
    assert chosen.images.flatten().tolist() == [0, 1, 2, 6, 7, 8]
    with pytest.raises(ConfigError, match="unknown class 'z'"):
        dataset.select_classes(["z"])


def test_split_by_class_moves_whole_classes():
    names = [f"{alphabet}/ch{index}" for alphabet in ("A", "B", "C", "D") for index in range(5)]
    dataset = make_dataset(names)
    train, held = dataset.split_by_class(0.25, seed=3)
    assert held.num_classes == 5 and train.num_classes == 15
    assert set(train.class_names).isdisjoint(held.class_names)
    assert set(train.paths).isdisjoint(held.paths) and len(train) + len(held) == len(dataset)
    assert held.labels.unique().tolist() == list(range(5))
    again, _ = dataset.split_by_class(0.25, seed=3)
    assert again.class_names == train.class_names
    _, by_group = dataset.split_by_class(0.5, seed=0, by_group=True)
    assert len({name.split("/")[0] for name in by_group.class_names}) == 2 and by_group.num_classes == 10
    _, named = dataset.split_by_class(["B", "D/ch0"])
    assert named.class_names == [f"B/ch{index}" for index in range(5)] + ["D/ch0"]


def test_real_orl_faces_zip(shared_data):
    dataset = load_image_folder(shared_data / "orl_faces" / "orl_faces.zip", PreprocessingConfig(image_size=(28, 23)))
    assert dataset.class_names == [f"s{person}" for person in range(1, 41)]  # README beside them is ignored
    assert dataset.class_counts().tolist() == [10] * 40
    assert dataset.images.shape == (400, 1, 28, 23)
    assert 60 < dataset.images.float().mean() < 160  # real faces, not blank frames


def test_real_omniglot_zip(shared_data):
    archive = shared_data / "omniglot" / "images_background.zip"
    index = scan_image_folder(archive)  # the full set: listing only (decoding all 19,280 takes ~8 CPU-seconds)
    assert len(index.class_names) == 964 and len(index) == 19280
    assert len({name.split("/")[0] for name in index.class_names}) == 30
    assert index.class_names[0] == "Alphabet_of_the_Magi/character01"
    greek = load_image_folder(
        f"{archive}/images_background/Greek", PreprocessingConfig(image_size=(28, 28), invert=True)
    )
    assert greek.num_classes == 24 and greek.class_counts().tolist() == [20] * 24
    # Inverted 1-bit characters: mostly black background, some bright strokes.
    assert (greek.images == 0).float().mean() > 0.5 and greek.images.max() == 255


def test_real_cedar_zip(shared_data):
    index = scan_image_folder(shared_data / "cedar" / "cedar_dev.zip")
    assert index.class_names == [str(writer) for writer in range(1, 46)]
    assert len(index) == 45 * 48
