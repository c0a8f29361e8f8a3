"""The command line: every command end to end on tiny data, --json output, and one-line errors (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from siamkit.cli import app

runner = CliRunner()


def run_siamkit(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Runs the real entry point, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "siamkit.cli", *arguments], capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six classes of noisy blocky patterns, 8 PNGs each."""
    root = tmp_path_factory.mktemp("shapes")
    generator = np.random.default_rng(0)
    for label in range(6):
        prototype = np.kron(generator.integers(0, 256, size=(4, 4)), np.ones((5, 5)))
        (root / f"class{label}").mkdir()
        for index in range(8):
            noisy = np.clip(prototype + generator.normal(0, 30, size=prototype.shape), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).save(root / f"class{label}" / f"{index}.png")
    return root


@pytest.fixture(scope="module")
def trained_bundle(image_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("run")
    completed = run_siamkit(
        "train", "--data", str(image_folder), "--output", str(output), "--image-size", "20", "--embedding-dim", "16",
        "--epochs", "4", "--classes-per-batch", "4", "--samples-per-class", "4", "--validation-classes", "0.34",
        "--no-progress", "--device", "cpu",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "model bundle" in completed.stdout
    return output / "model"


def test_the_command_line_starts_without_what_only_some_commands_use() -> None:
    # scikit-learn, scipy, matplotlib and FastAPI took `siamkit --help` from 2.9 s to 4.6 s (cli_startup_time.py).
    heavy = ("sklearn", "scipy.stats", "matplotlib", "fastapi", "uvicorn", "onnxruntime")
    code = f"import sys, siamkit.cli; print([name for name in {heavy!r} if name in sys.modules])"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["train", "evaluate", "calibrate", "verify", "embed", "demo", "landmarks", "info"])
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "Example: siamkit" in result.output


def test_verify_prints_a_decision_and_json(trained_bundle: Path, image_folder: Path) -> None:
    first, second = image_folder / "class0" / "0.png", image_folder / "class0" / "1.png"
    completed = run_siamkit("verify", str(first), str(second), "--model", str(trained_bundle), "--json")
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert set(result) >= {"same", "score", "threshold"}
    text = run_siamkit("verify", str(first), str(second), "--model", str(trained_bundle))
    assert ("SAME" in text.stdout) or ("DIFFERENT" in text.stdout)


def test_evaluate_and_calibrate(trained_bundle: Path, image_folder: Path, tmp_path: Path) -> None:
    completed = run_siamkit(
        "evaluate", "--model", str(trained_bundle), "--data", str(image_folder), "--json", "--ways", "3",
        "--episodes", "50", "--pairs-out", str(tmp_path / "pairs.csv"), "--plots", str(tmp_path / "plots"),
        "--claims", "3", "--identification", "2",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    # half of the 6 classes are strangers; 10 draws of 2 references leave 6 mated probes per enrolled class
    identification = report["identification"]
    assert (identification["enrolled"], identification["strangers"]) == (3, 3)
    assert (identification["n_mated"], identification["n_non_mated"]) == (3 * 6 * 10, 3 * 8 * 10)
    assert len(identification["cmc"]) == 3 and identification["cmc"][-1] == 1.0
    assert identification["retrieval"]["n_queries"] == 48 and 0 <= identification["retrieval"]["map_at_r"] <= 1
    # 6 classes x 8 images, 10 draws of 3 references: 5 genuine claims and 40 impostors (the other classes) each
    assert [(row["references"], row["scoring"]) for row in report["claims"]] == [
        (3, "mean"),
        (3, "best"),
        (3, "centroid"),
    ]
    assert all(row["n_genuine"] == 6 * 10 * 5 and row["n_impostor"] == 6 * 10 * 40 for row in report["claims"])
    assert all(0 <= row["eer"] <= 1 and row["far"] is not None for row in report["claims"])
    too_many = run_siamkit("evaluate", "--model", str(trained_bundle), "--data", str(image_folder), "--claims", "8")
    assert too_many.returncode == 2 and too_many.stderr.strip().splitlines() == [
        "error: claims with 8 references need an identity with at least 9 genuine images; none has"
    ]
    for key in ("eer", "auc", "threshold", "far", "frr", "accuracy", "tar_at_far", "n_same", "n_different"):
        assert key in report
    assert report["n_same"] == 6 * 28
    per_class = report["per_class"]
    assert len(per_class) == 6 and sum(entry["n_same"] for entry in per_class) == report["n_same"]
    # every different pair counts for both of its classes
    assert sum(entry["n_different"] for entry in per_class) == 2 * report["n_different"]
    assert report["one_shot"]["ways"] == 3
    assert (tmp_path / "pairs.csv").read_text().count("\n") == report["n_same"] + report["n_different"] + 1
    assert {path.name for path in (tmp_path / "plots").iterdir()} == {
        "roc.png", "det.png", "scores.png", "cmc.png", "identification_errors.png", "embeddings.png",
    }  # fmt: skip
    table = run_siamkit(
        "evaluate", "--model", str(trained_bundle), "--data", str(image_folder), "--identification", "1"
    )
    assert table.returncode == 0 and "rank-1 identification rate" in table.stdout and "MAP@R" in table.stdout
    for option, value, message in (
        ("--identification", "8", "error: identification with 8 references and 50% strangers needs two"),
        ("--strangers", "1.5", "error: the share of strangers must be at least 0 and below 1, got 1.5"),
    ):
        arguments = ["--identification", "1", option, value] if option == "--strangers" else [option, value]
        refused = run_siamkit("evaluate", "--model", str(trained_bundle), "--data", str(image_folder), *arguments)
        assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
        assert refused.stderr.startswith(message), refused.stderr

    # Training chose the threshold at its validation classes' EER, and says so.
    trained = json.loads(run_siamkit("info", "--model", str(trained_bundle), "--json").stdout)["decision"]
    assert trained["provenance"]["method"] == "eer" and "validation" in trained["provenance"]["source"]
    assert trained["provenance"]["n_same"] > 0 and 0 <= trained["provenance"]["eer"] <= 1

    calibrated = run_siamkit(
        "calibrate", "--model", str(trained_bundle), "--data", str(image_folder), "--target-far", "0.1",
        "--evaluation-data", str(image_folder), "--json",
    )  # fmt: skip
    assert calibrated.returncode == 0, calibrated.stderr
    calibration = json.loads(calibrated.stdout)
    assert calibration["achieved_far"] <= 0.1
    assert "appear in both" in calibrated.stderr
    card = json.loads(run_siamkit("info", "--model", str(trained_bundle), "--json").stdout)
    provenance = card["decision"]["provenance"]
    assert card["decision"]["threshold"] == calibration["threshold"] and card["decision"]["probability_map"] == "platt"
    assert (provenance["source"], provenance["method"], provenance["target_far"]) == (
        "siamkit calibrate",
        "target_far",
        0.1,
    )
    assert provenance["far"] == calibration["achieved_far"] and provenance["data"] == str(image_folder)
    assert provenance["n_same"] == calibration["n_same"] and "appear in both" in provenance["warnings"][0]
    text = run_siamkit("info", "--model", str(trained_bundle)).stdout
    assert "chosen by siamkit calibrate, at a target FAR of 0.1, on" in text and "conv4" in text
    first, second = image_folder / "class1" / "0.png", image_folder / "class2" / "0.png"
    verdict = json.loads(
        run_siamkit("verify", str(first), str(second), "--model", str(trained_bundle), "--json").stdout
    )
    assert 0.0 <= verdict["probability"] <= 1.0


def test_embed_writes_npy(trained_bundle: Path, image_folder: Path, tmp_path: Path) -> None:
    images = [str(path) for path in sorted((image_folder / "class3").glob("*.png"))[:3]]
    result = runner.invoke(app, ["embed", *images, "--model", str(trained_bundle), "--output", str(tmp_path / "e.npy")])
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "e.npy").shape == (3, 16)


@pytest.mark.parametrize(
    ("make_arguments", "fragment"),
    [
        (lambda bundle, bad: ["verify", str(bad), str(bad), "--model", str(bundle)], "not an image"),
        (lambda bundle, bad: ["verify", str(bad), str(bad), "--model", str(bad.parent / "none")], "not a model bundle"),
        (
            lambda bundle, bad: ["train", "--data", str(bad.parent / "missing"), "--output", str(bad.parent / "o")],
            "missing",
        ),
        (lambda bundle, bad: ["calibrate", "--model", str(bundle), "--data", str(bad.parent)], "exactly one"),
        (
            lambda bundle, bad: ["evaluate", "--model", str(bundle), "--data", str(bad.parent), "--protocol", "x"],
            "--protocol",
        ),
        (lambda bundle, bad: ["train", "--data", str(bad.parent), "--encoder", "nope"], "unknown encoder"),
        # click's own usage errors (typer 0.28+ raises them from its private copy of click)
        (lambda bundle, bad: ["train", "--no-such-option", "1"], "No such option: --no-such-option"),
        (lambda bundle, bad: ["verify", "--model", str(bundle)], "Missing argument"),
        (lambda bundle, bad: ["no-such-command"], "No such command"),
        (lambda bundle, bad: ["info", "--model", str(bad.parent / "absent")], "not a model bundle folder"),
    ],
)
def test_user_errors_are_one_line_with_exit_code_2(
    trained_bundle: Path, tmp_path: Path, make_arguments: object, fragment: str
) -> None:
    bad = tmp_path / "fake.png"
    bad.write_text("this is text, not a PNG")
    completed = run_siamkit(*make_arguments(trained_bundle, bad))  # type: ignore[operator]
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], completed.stderr


def test_evaluate_with_the_signature_protocol_and_an_html_report(trained_bundle: Path, tmp_path: Path) -> None:
    generator = np.random.default_rng(5)
    for writer in (1, 2):
        folder = tmp_path / "signatures" / str(writer)
        folder.mkdir(parents=True)
        for kind, count in (("original", 3), ("forgeries", 2)):
            for index in range(1, count + 1):
                pixels = generator.integers(0, 256, size=(20, 30), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{kind}_{writer}_{index}.png")
    completed = run_siamkit(
        "evaluate", "--model", str(trained_bundle), "--data", str(tmp_path / "signatures"), "--protocol",
        "signatures", "--report", str(tmp_path / "report"), "--json", "--claims", "2", "--identification", "1",
        "--strangers", "0",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert (result["n_same"], result["n_different"]) == (2 * 3, 2 * 3 * 2)  # per writer: C(3,2) and 3 x 2
    assert result["protocol"] == "signatures" and result["one_shot"] is None
    assert sorted(entry["name"] for entry in result["per_class"]) == ["1", "2"]
    assert [(entry["n_same"], entry["n_different"]) for entry in result["per_class"]] == [(3, 6), (3, 6)]
    page = (tmp_path / "report" / "report.html").read_text()
    assert "forgeries_1_1.png" in page and "data:image/png;base64," in page
    assert "<h2>Per class</h2>" in page
    # 2 writers x 10 draws of 2 references: 1 genuine claim and the writer's 2 forgeries each
    claims = [(row["scoring"], row["n_genuine"], row["n_impostor"]) for row in result["claims"]]
    assert claims == [("mean", 20, 40), ("best", 20, 40), ("centroid", 20, 40)]
    assert "<h2>Claims against enrolled references</h2>" in page and page.count("<td>20 / 40</td>") == 3
    assert "<h2>Embedding map</h2>" in page and '<img src="embeddings.png"' in page
    assert {"roc.png", "det.png", "scores.png", "cmc.png", "identification_errors.png", "embeddings.png"} <= {
        path.name for path in (tmp_path / "report").iterdir()
    }
    # both writers enrolled with 1 reference: 2 mated probes each, and all 4 forgeries non-mated, 10 draws
    identification = result["identification"]
    assert (identification["n_mated"], identification["n_non_mated"]) == (2 * 2 * 10, 4 * 10)
    assert identification["retrieval"]["n_queries"] == 6  # genuine signatures only
    assert "<h2>Identification</h2>" in page and '<img src="cmc.png"' in page


def test_train_from_a_recipe_file_with_data_and_output_overridden(image_folder: Path, tmp_path: Path) -> None:
    first = run_siamkit(
        "train", "--data", str(image_folder), "--output", str(tmp_path / "first"), "--image-size", "20",
        "--max-steps", "2", "--classes-per-batch", "4", "--samples-per-class", "2", "--no-progress", "--device", "cpu",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    recipe = json.loads((tmp_path / "first" / "recipe.json").read_text())
    recipe["data"]["train"] = str(tmp_path / "moved-away")  # the recipe's own data path no longer exists
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    second = run_siamkit(
        "train", "--config", str(tmp_path / "recipe.json"), "--data", str(image_folder),
        "--output", str(tmp_path / "second"), "--no-progress",
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    written = json.loads((tmp_path / "second" / "model" / "config.json").read_text())["metadata"]
    assert written["data"]["train"] == str(image_folder)
    assert written["training"]["config"]["output_dir"] == str(tmp_path / "second")


def test_options_a_preset_or_recipe_sets_are_refused_not_ignored(tmp_path: Path) -> None:
    completed = run_siamkit("train", "--preset", "faces", "--max-steps", "5", "--margin", "0.2")
    assert completed.returncode == 2, completed.stderr
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --max-steps, --margin cannot be combined with --preset")
    (tmp_path / "recipe.json").write_text("{}")  # refused before the file is read
    completed = run_siamkit("train", "--config", str(tmp_path / "recipe.json"), "--epochs", "3")
    assert completed.returncode == 2 and "error: --epochs cannot be combined with --config" in completed.stderr


def test_train_stops_at_its_time_budget(image_folder: Path, tmp_path: Path) -> None:
    completed = run_siamkit(
        "train", "--data", str(image_folder), "--output", str(tmp_path), "--image-size", "20", "--epochs", "100000",
        "--classes-per-batch", "4", "--samples-per-class", "4", "--no-progress", "--device", "cpu",
        "--time-budget-minutes", "0.05",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    training = json.loads((tmp_path / "model" / "config.json").read_text())["metadata"]["training"]
    assert training["config"]["time_budget_minutes"] == 0.05
    assert 0 < training["steps"] < 100000 and training["seconds"] < 60


def test_a_non_positive_time_budget_exits_2_with_one_line() -> None:
    completed = run_siamkit("train", "--preset", "faces", "--time-budget-minutes", "0")
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "--time-budget-minutes must be positive" in lines[0]


def test_train_init_from_a_bundle_continues_from_its_weights(
    image_folder: Path, trained_bundle: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    source = json.loads((trained_bundle / "config.json").read_text())
    size = "x".join(str(side) for side in source["preprocessing"]["image_size"])
    completed = run_siamkit(
        "train", "--data", str(image_folder), "--output", str(tmp_path), "--image-size", size,
        "--embedding-dim", str(source["network"]["encoder"]["embedding_dim"]), "--max-steps", "1",
        "--classes-per-batch", "4", "--samples-per-class", "2", "--lr", "1e-12", "--weight-decay", "0",
        "--no-progress", "--device", "cpu", "--init-from", str(trained_bundle),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    before, after = load_file(trained_bundle / "model.safetensors"), load_file(tmp_path / "model" / "model.safetensors")
    name = "encoder.0.0.weight" if "encoder.0.0.weight" in before else sorted(before)[0]
    assert torch.allclose(before[name], after[name], atol=1e-6)


def test_train_init_from_a_missing_bundle_exits_2_naming_it(image_folder: Path, tmp_path: Path) -> None:
    completed = run_siamkit(
        "train", "--data", str(image_folder), "--output", str(tmp_path), "--no-progress", "--device", "cpu",
        "--init-from", str(tmp_path / "no-such-bundle"),
    )  # fmt: skip
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "training.initial_weights" in lines[0] and "no-such-bundle" in lines[0]


def test_train_with_a_class_proxy_loss(image_folder: Path, tmp_path: Path) -> None:
    completed = run_siamkit(
        "train", "--data", str(image_folder), "--output", str(tmp_path), "--image-size", "20", "--max-steps", "3",
        "--classes-per-batch", "4", "--samples-per-class", "2", "--no-progress", "--device", "cpu",
        "--loss", "cosface", "--margin", "0.2", "--normalize", "--loss-lr", "0.05",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    training = json.loads((tmp_path / "model" / "config.json").read_text())["metadata"]["training"]
    assert training["config"]["loss"] == "cosface" and training["config"]["loss_options"] == {"margin": 0.2}
    assert training["config"]["loss_learning_rate"] == 0.05
    assert training["steps"] == 3


def test_a_class_proxy_loss_on_raw_euclidean_embeddings_exits_2(image_folder: Path, tmp_path: Path) -> None:
    completed = run_siamkit(
        "train", "--data", str(image_folder), "--output", str(tmp_path), "--image-size", "20", "--max-steps", "3",
        "--no-progress", "--device", "cpu", "--loss", "arcface",
    )  # fmt: skip
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "normalize_embeddings" in lines[0], completed.stderr
    assert not (tmp_path / "model").exists()
