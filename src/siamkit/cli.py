"""The `siamkit` command line: thin adapters over the library API.

Every user error (a bad file, option or bundle) is printed as one line and exits with code 2.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from siamkit.errors import ConfigError, SiamkitError

app = typer.Typer(
    name="siamkit",
    help="Siamese networks: train, evaluate, calibrate, verify and embed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
logger = logging.getLogger("siamkit.cli")


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=float))


def _parse_size(text: str) -> tuple[int, int]:
    """`28` or `105x105` or `155x220` (height x width)."""
    try:
        parts = [int(part) for part in text.lower().split("x")]
    except ValueError:
        raise ConfigError(f"--image-size must look like 105 or 155x220, got {text!r}") from None
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ConfigError(f"--image-size must look like 105 or 155x220, got {text!r}")


@app.command(epilog="Example: siamkit demo --output siamkit-demo --json")
def demo(
    output: Annotated[Path, typer.Option(help="Folder for the model bundle and plots.")] = Path("siamkit-demo"),
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train on 7 of scikit-learn's bundled digits, test on the 3 it never saw (no download)."""
    from siamkit.applications.demo import DemoConfig, run_demo
    from siamkit.training.memory import keep_freed_memory_in_heap

    keep_freed_memory_in_heap()  # ~1.2-1.5x faster CPU training; this process ends after the run

    report = run_demo(DemoConfig(output_dir=output, epochs=epochs, seed=seed, show_progress=progress and not as_json))
    if as_json:
        _print_json(report.to_dict())
        return
    table = Table(title="siamkit demo: digits 0-6 for training, 7/8/9 never seen")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("chance", justify="right")
    for name, value, chance in report.rows():
        table.add_row(name, value, chance)
    Console().print(table)
    Console().print(f"model bundle: {report.bundle_path}\nplots: {', '.join(str(p) for p in report.plots)}")


@app.command(
    epilog=(
        "Example: siamkit train --data ../shared/data/orl_faces/orl_faces.zip --encoder resnet --image-size 56x46 "
        "--validation-classes 0.2 --epochs 20 --output runs/faces"
    )
)
def train(
    context: typer.Context,
    output: Annotated[
        Path | None, typer.Option(help="Run folder: model bundle, checkpoints, metrics, plots [runs/siamkit].")
    ] = None,
    data: Annotated[str | None, typer.Option(help="Image folder or zip, one folder per class.")] = None,
    pairs: Annotated[str | None, typer.Option(help="CSV of first,second,label (1 = same, 0 = different).")] = None,
    triplets: Annotated[str | None, typer.Option(help="CSV of anchor,positive,negative.")] = None,
    vectors: Annotated[str | None, typer.Option(help="Labelled vectors: .npz, .csv (label column) or .npy.")] = None,
    labels: Annotated[str | None, typer.Option(help="Labels .npy for --vectors given as .npy.")] = None,
    validation: Annotated[str | None, typer.Option(help="Folder of held-out classes for validation.")] = None,
    validation_classes: Annotated[float, typer.Option(help="Or: share of classes held out for validation.")] = 0.0,
    config: Annotated[
        Path | None, typer.Option(help="A recipe JSON file; --data/--output override it, options it sets are refused.")
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="A shipped recipe by name (see --list-presets); like --config.")
    ] = None,
    list_presets: Annotated[bool, typer.Option("--list-presets", help="Print the shipped presets and exit.")] = False,
    encoder: Annotated[str, typer.Option(help="Encoder: mlp, conv4, koch, signet, resnet.")] = "conv4",
    embedding_dim: Annotated[int, typer.Option(help="Embedding length.")] = 128,
    comparison: Annotated[
        str, typer.Option(help="euclidean, squared_euclidean, manhattan, cosine, mahalanobis, learned_head.")
    ] = "euclidean",
    normalize: Annotated[bool, typer.Option(help="L2-normalise embeddings.")] = False,
    loss: Annotated[
        str,
        typer.Option(
            help="contrastive, triplet, binary_cross_entropy, cosface, arcface, supervised_contrastive, "
            "multi_similarity."
        ),
    ] = "contrastive",
    margin: Annotated[
        float | None, typer.Option(help="Margin of the loss (contrastive, triplet, cosface, arcface).")
    ] = None,
    mining: Annotated[
        str, typer.Option(help="In-batch mining: all, hard, semi_hard (triplets), multi_similarity (pairs).")
    ] = "all",
    image_size: Annotated[str, typer.Option(help="HEIGHTxWIDTH (or one number) images are resized to.")] = "28",
    channels: Annotated[int, typer.Option(help="1 (grey) or 3 (colour).")] = 1,
    invert: Annotated[bool, typer.Option(help="Invert grey levels (dark ink becomes bright).")] = False,
    crop_to_ink: Annotated[bool, typer.Option(help="Crop scans to the ink's bounding box.")] = False,
    keep_aspect: Annotated[bool, typer.Option(help="Pad to the target aspect instead of stretching.")] = False,
    remove_background: Annotated[
        bool, typer.Option(help="Scans: paper to white, darkest ink to black, whatever the scanner's shades.")
    ] = False,
    binarize: Annotated[
        bool, typer.Option(help="Scans: every pixel ink or paper (Otsu), so ink shades do not count.")
    ] = False,
    epochs: Annotated[int, typer.Option(help="Passes over the data.")] = 10,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps.")] = None,
    classes_per_batch: Annotated[int, typer.Option(help="P classes per batch.")] = 16,
    samples_per_class: Annotated[int, typer.Option(help="K examples per class per batch.")] = 4,
    learning_rate: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 1e-3,
    loss_learning_rate: Annotated[
        float | None, typer.Option("--loss-lr", help="Peak learning rate of cosface/arcface class proxies.")
    ] = None,
    weight_decay: Annotated[float, typer.Option(help="Weight decay.")] = 1e-4,
    optimizer: Annotated[str, typer.Option(help="adamw or sgd.")] = "adamw",
    schedule: Annotated[str, typer.Option(help="cosine, step or constant.")] = "cosine",
    warmup_steps: Annotated[int, typer.Option(help="Linear warm-up steps.")] = 0,
    augment: Annotated[bool, typer.Option(help="Random affine distortions (Koch et al.).")] = False,
    early_stopping_metric: Annotated[str, typer.Option(help="eer, auc or one_shot_accuracy.")] = "eer",
    patience: Annotated[int | None, typer.Option(help="Validations without improvement before stopping.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu, cuda, cuda:1, ... (default: auto, or the preset's/config's).")
    ] = None,
    time_budget_minutes: Annotated[
        float | None, typer.Option(help="Stop after this many minutes; the learning rate anneals to fit.")
    ] = None,
    checkpoint_every_steps: Annotated[int | None, typer.Option(help="Also checkpoint every N steps.")] = None,
    init_from: Annotated[
        Path | None, typer.Option(help="Start from this model bundle's weights (fine-tuning); same encoder.")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUTPUT/checkpoint if present.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train a Siamese network and write a model bundle to OUTPUT/model."""
    from siamkit.training.memory import keep_freed_memory_in_heap
    from siamkit.training.presets import load_preset, preset_names
    from siamkit.training.recipe import TrainingRecipe, recipe_from_options, run_recipe

    if list_presets:
        typer.echo("\n".join(preset_names()))
        return
    keep_freed_memory_in_heap()  # ~1.2-1.5x faster CPU training; this process ends after the run

    if config is not None and preset is not None:
        raise ConfigError("give --config or --preset, not both")
    if config is not None or preset is not None:
        _refuse_options_a_recipe_fixes(context, "--config" if config is not None else "--preset")
        recipe = TrainingRecipe.from_file(config) if config is not None else load_preset(str(preset))
        if data is not None:
            recipe.data.train = data
        if output is not None:
            recipe.training.output_dir = output
    else:
        recipe = recipe_from_options(
            output=output or Path("runs/siamkit"), data=data, pairs=pairs, triplets=triplets, vectors=vectors,
            labels=labels, validation=validation, validation_classes=validation_classes, encoder=encoder,
            embedding_dim=embedding_dim, comparison=comparison, normalize=normalize, loss=loss, margin=margin,
            mining=mining, image_size=_parse_size(image_size), channels=channels, invert=invert,
            crop_to_ink=crop_to_ink, keep_aspect=keep_aspect, remove_background=remove_background, binarize=binarize,
            loss_learning_rate=loss_learning_rate,
            epochs=epochs, max_steps=max_steps,
            classes_per_batch=classes_per_batch, samples_per_class=samples_per_class, learning_rate=learning_rate,
            weight_decay=weight_decay, optimizer=optimizer, schedule=schedule, warmup_steps=warmup_steps,
            augment=augment, early_stopping_metric=early_stopping_metric, patience=patience, seed=seed,
            device=device or "auto", checkpoint_every_steps=checkpoint_every_steps,
        )  # fmt: skip
    recipe.training.show_progress = progress
    if device is not None:
        recipe.training.device = device
    if time_budget_minutes is not None:
        if time_budget_minutes <= 0:
            raise ConfigError(f"--time-budget-minutes must be positive, got {time_budget_minutes}")
        recipe.training.time_budget_minutes = time_budget_minutes
    if init_from is not None:
        recipe.training.initial_weights = init_from
    if checkpoint_every_steps is not None:
        recipe.training.checkpoint_every_steps = checkpoint_every_steps
    result = run_recipe(recipe, resume=resume)
    if result.bundle_path is not None:
        summary = f"trained {result.steps} steps in {result.seconds:.1f} s ({result.images_per_second:,.0f} images/s)"
        if result.best_validation:
            summary += f"; validation EER {result.best_validation['eer']:.4f}, AUC {result.best_validation['auc']:.4f}"
        Console().print(summary)
        Console().print(f"model bundle: {result.bundle_path}")


# What a recipe (file or preset) leaves to the command line: where the data and the run folder are, and how this
# one run goes; everything else is the recipe's.
RECIPE_RUN_OPTIONS = frozenset(
    {"config", "preset", "list_presets", "data", "output", "device", "time_budget_minutes", "checkpoint_every_steps",
     "init_from", "resume", "progress"}
)  # fmt: skip


def _refuse_options_a_recipe_fixes(context: typer.Context, source: str) -> None:
    """Raises ConfigError for options given beside `--config`/`--preset` that the recipe decides.

    Ignoring them silently would train something other than what the command line says (`--max-steps 100`
    beside a 7,800-step preset).
    """
    flags = {parameter.name: parameter.opts[0] for parameter in context.command.params}
    given = [
        flags.get(name, name)
        for name in context.params
        if name not in RECIPE_RUN_OPTIONS and getattr(context.get_parameter_source(name), "name", "") == "COMMANDLINE"
    ]
    if given:
        pronoun = "it" if len(given) == 1 else "them"
        raise ConfigError(
            f"{', '.join(given)} cannot be combined with {source}: the recipe sets {pronoun}; edit a copy of the "
            "recipe JSON (presets are in siamkit/training/presets/) and train it with --config"
        )


@app.command(epilog="Example: siamkit calibrate --model runs/faces/model --data calibration_faces/ --target-far 0.001")
def calibrate(
    model: Annotated[Path, typer.Option(help="Model bundle folder (updated in place, atomically).")],
    data: Annotated[str, typer.Option(help="Image folder or zip of calibration classes.")],
    target_far: Annotated[
        float | None, typer.Option(help="Pick the threshold reaching this false accept rate.")
    ] = None,
    eer: Annotated[bool, typer.Option("--eer", help="Pick the equal-error-rate threshold instead.")] = False,
    method: Annotated[str, typer.Option(help="Score-to-probability map: platt or isotonic.")] = "platt",
    evaluation_data: Annotated[
        str | None, typer.Option(help="The evaluation set, to warn when it overlaps the calibration set.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the different-pair sample.")] = 0,
    protocol: Annotated[
        str, typer.Option(help="Calibration pairs: classes, or signatures (genuine-forgery pairs are 'different').")
    ] = "classes",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Choose the decision threshold on a calibration split and store it (and a probability map) in the bundle."""
    from siamkit.evaluation.dataset_evaluation import calibrate_bundle

    if (target_far is None) == (not eer):
        raise ConfigError("give exactly one of --target-far F or --eer")
    result = calibrate_bundle(
        model, data, target_far=target_far, method=method, evaluation_data=evaluation_data, seed=seed,
        protocol=protocol,
    )  # fmt: skip
    for warning in result.get("warnings", []):
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        _print_json(result)
    else:
        Console().print(
            f"threshold {result['threshold']:.6g} (FAR {result['achieved_far']:.4f}, FRR {result['achieved_frr']:.4f} "
            f"on {result['n_same']} same / {result['n_different']} different pairs) stored in {model}"
        )


@app.command(epilog="Example: siamkit verify --model models/signatures a.png b.png --json")
def verify(
    first: Annotated[Path, typer.Argument(help="First image (or .npy vector).")],
    second: Annotated[Path, typer.Argument(help="Second image (or .npy vector).")],
    model: Annotated[Path, typer.Option(help="Model bundle folder.")],
    threshold: Annotated[float | None, typer.Option(help="Override the bundle's threshold.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Decide whether two inputs are the same identity/class."""
    import siamkit
    from siamkit.data.vectors import read_single_vector

    loaded = siamkit.load(model)
    if threshold is not None:
        loaded.threshold = threshold
    if loaded.preprocessing.kind == "vector":
        result = loaded.verify(read_single_vector(first), read_single_vector(second))
    else:
        result = loaded.verify(first, second)
    if as_json:
        _print_json(result.to_dict())
        return
    relation = ">=" if result.higher_is_more_similar else "<="
    verdict = "SAME" if result.same else "DIFFERENT"
    extra = f", probability {result.probability:.3f}" if result.probability is not None else ""
    Console().print(f"{verdict}: score {result.score:.6g} (same when {relation} {result.threshold:.6g}){extra}")


@app.command(epilog="Example: siamkit embed --model models/omniglot a.png b.png --output embeddings.npy")
def embed(
    inputs: Annotated[list[Path], typer.Argument(help="Images to embed.")],
    model: Annotated[Path, typer.Option(help="Model bundle folder.")],
    output: Annotated[Path | None, typer.Option(help="Write embeddings to .npy or .csv.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print embeddings as JSON.")] = False,
) -> None:
    """Compute embeddings of images with a model bundle."""
    import numpy as np

    import siamkit
    from siamkit.atomic import write_bytes_atomic

    embeddings = siamkit.load(model).embed(list(inputs)).numpy()
    if output is not None:
        if output.suffix == ".npy":
            import io

            buffer = io.BytesIO()
            np.save(buffer, embeddings)
            write_bytes_atomic(output, buffer.getvalue())
        elif output.suffix == ".csv":
            lines = ["path," + ",".join(f"e{index}" for index in range(embeddings.shape[1]))]
            lines += [
                f"{path}," + ",".join(f"{value:.8g}" for value in row)
                for path, row in zip(inputs, embeddings, strict=True)
            ]
            write_bytes_atomic(output, ("\n".join(lines) + "\n").encode())
        else:
            raise ConfigError(f"--output {output}: use a .npy or .csv file name")
        Console().print(f"wrote {embeddings.shape[0]} embeddings of length {embeddings.shape[1]} to {output}")
    if as_json or output is None:
        _print_json({"paths": [str(path) for path in inputs], "embeddings": embeddings.tolist()})


def _register_applications() -> None:
    """Adds the commands that live with their applications."""
    from siamkit.gallery.commands import gallery_app

    app.add_typer(gallery_app, name="gallery")
    from siamkit.bundle_commands import ensemble_command, info_command, test_time_views_command

    app.command("info", epilog="Example: siamkit info --model models/faces")(info_command)

    app.command(
        "ensemble",
        epilog="Example: siamkit ensemble --model runs/seed0/model --model runs/seed1/model --output models/pair",
    )(ensemble_command)
    app.command(
        "test-time-views",
        epilog="Example: siamkit test-time-views --model runs/x/model --views 8 --output models/x-views",
    )(test_time_views_command)
    from siamkit.export.commands import export_command

    app.command(
        "export",
        epilog="Example: siamkit export --model models/faces --output faces-onnx",
    )(export_command)
    from siamkit.applications.landmarks.cli import landmarks_command

    app.command(
        "landmarks",
        epilog="Example: siamkit landmarks --seeds 0,1,2,3,4 --json",
        help="Landmark distances: the blog post's experiment, its fixes, and trilateration/MDS.",
    )(landmarks_command)
    from siamkit.evaluation.evaluate_command import evaluate_command

    app.command(
        "evaluate",
        epilog="Example: siamkit evaluate --model runs/faces/model --data held_out_faces/ --json --plots report/",
    )(evaluate_command)
    from siamkit.evaluation.one_shot_commands import make_runs_command, one_shot_runs_command

    app.command(
        "one-shot-runs",
        epilog="Example: siamkit one-shot-runs --model models/omniglot --runs all_runs --json",
    )(one_shot_runs_command)
    app.command(
        "make-runs",
        epilog="Example: siamkit make-runs --data images_background.zip --output runs --alphabets Bengali,Futurama",
    )(make_runs_command)
    from siamkit.applications.faces.cli import import_face_model_command

    app.command(
        "import-face-model",
        epilog="Example: siamkit import-face-model --output models/faces-dlib",
    )(import_face_model_command)
    from siamkit.service.command import serve_command

    app.command(
        "serve",
        epilog="Example: SIAMKIT_TOKEN=secret siamkit serve --model models/faces --gallery staff.gallery --port 8000",
    )(serve_command)


_register_applications()


def main() -> None:
    """Entry point: configures logging and turns user errors into one line and exit code 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(standalone_mode=False)
    except SiamkitError as error:
        typer.echo(f"error: {error}", err=True)  # plain echo: rich would wrap the one line at the terminal width
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as error:
        if not isinstance(error, _usage_error_types()):
            raise
        context = getattr(error, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        typer.echo(f"error: {error.format_message()}{hint}", err=True)  # type: ignore[attr-defined]
        sys.exit(2)


def _usage_error_types() -> tuple[type[Exception], ...]:
    """Click's usage errors (unknown option, bad choice, missing argument), wherever this typer keeps them.

    Recent typer releases (0.29 here) raise them from typer's own copy of click, which `click.ClickException`
    does not catch; older ones raise click's.
    """
    types: list[type[Exception]] = []
    try:
        import click
    except ImportError:  # a typer that no longer needs click
        pass
    else:
        types.append(click.ClickException)
    try:
        from typer._click.exceptions import ClickException as TyperClickException
    except ImportError:  # a typer that uses click itself
        pass
    else:
        types.append(TyperClickException)
    return tuple(types)


if __name__ == "__main__":
    main()
