"""A training recipe: data, network, preprocessing and loop settings in one JSON-serialisable object.

`siamkit train` builds one from its options or reads one from a JSON file (`--config`), and
`run_recipe` turns it into a trained bundle. Recipes make runs repeatable and shareable.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import torch

from siamkit.atomic import write_text_atomic
from siamkit.comparisons import COMPARISONS, ComparisonConfig
from siamkit.config_types import check_field_types
from siamkit.data.augmentation import AugmentationConfig
from siamkit.data.class_expansion import expand_classes
from siamkit.data.image_folder import ImageDataset, load_image_folder
from siamkit.data.pairs_csv import PairDataset, TripletDataset, read_pairs_csv, read_triplets_csv
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.data.signature_folder import load_signature_folder
from siamkit.data.vectors import VectorDataset, load_vectors
from siamkit.encoders import ENCODERS, EncoderConfig
from siamkit.errors import ConfigError
from siamkit.losses import LOSSES
from siamkit.mining import check_strategy
from siamkit.network import SiameseConfig, SiameseNetwork
from siamkit.training.config import TrainConfig
from siamkit.training.initial_weights import check_initial_weights, load_initial_weights
from siamkit.training.trainer import TrainResult, prepare_loss, train

logger = logging.getLogger(__name__)

DataKind = Literal["images", "pairs", "triplets", "vectors", "signatures"]


@dataclass
class DataSpec:
    """Where training (and validation) data come from.

    Attributes:
        train: An image folder or zip (`images`), a pair/triplet CSV, or a vector file.
        kind: `images`, `pairs`, `triplets`, `vectors` or `signatures` (one folder per writer of `original_*`
            and `forgeries_*` images; forgeries become hard negatives of their writer, see `load_signature_folder`).
        validation: A separate folder/file of held-out classes (optional).
        validation_classes: Otherwise, the share of training classes held out for validation (whole classes).
        labels: Labels file for `.npy` vectors.
        held_out_groups: Groups (Omniglot alphabets) removed from the training images; unless `validation` names
            other data, their images become the validation data.
        class_transforms: Names from `siamkit.data.class_expansion.CLASS_TRANSFORMS` (include `identity`): each
            training class gets transformed copies that count as new classes (rotated/reflected characters;
            for signatures, mirrored or upside-down writers with their forgeries, see `expand_writers`).
    """

    train: str
    kind: DataKind = "images"
    validation: str | None = None
    validation_classes: float = 0.0
    labels: str | None = None
    held_out_groups: list[str] = field(default_factory=list)
    class_transforms: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_field_types(self, "data")


@dataclass
class TrainingRecipe:
    """Everything one training run needs."""

    data: DataSpec
    network: SiameseConfig
    preprocessing: PreprocessingConfig
    training: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": asdict(self.data),
            "network": self.network.to_dict(),
            "preprocessing": self.preprocessing.to_dict(),
            "training": self.training.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingRecipe:
        for key in ("data", "network", "preprocessing"):
            if key not in data:
                raise ConfigError(f"recipe is missing the {key!r} section")
        training = dict(data.get("training", {}))
        try:
            if "augmentation" in training:
                training["augmentation"] = AugmentationConfig.from_dict(dict(training["augmentation"]))
            return cls(
                data=DataSpec(**data["data"]),
                network=SiameseConfig.from_dict(data["network"]),
                preprocessing=PreprocessingConfig.from_dict(data["preprocessing"]),
                training=TrainConfig(**training),
            )
        except TypeError as error:
            raise ConfigError(f"recipe has an unknown, missing or mistyped field: {error}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> TrainingRecipe:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"{file}: no such recipe file")
        try:
            return cls.from_dict(json.loads(file.read_text()))
        except json.JSONDecodeError as error:
            raise ConfigError(f"{file}: not valid JSON ({error})") from None


def load_training_data(
    spec: DataSpec, preprocessing: PreprocessingConfig, show_progress: bool = False
) -> tuple[ImageDataset | VectorDataset | PairDataset | TripletDataset, ImageDataset | VectorDataset | None]:
    """Reads the training data and the validation data the spec names (or splits off)."""
    validation: ImageDataset | VectorDataset | None = None
    if spec.kind == "pairs":
        return read_pairs_csv(spec.train, preprocessing), _load_labelled(spec.validation, spec, preprocessing)
    if spec.kind == "triplets":
        return read_triplets_csv(spec.train, preprocessing), _load_labelled(spec.validation, spec, preprocessing)
    train_data = _load_labelled(spec.train, spec, preprocessing, show_progress)
    assert train_data is not None
    held_out: ImageDataset | None = None
    if spec.held_out_groups:
        if spec.kind != "images" or not isinstance(train_data, ImageDataset):
            raise ConfigError("data.held_out_groups needs image folders (kind 'images')")
        train_data, held_out = train_data.split_by_class(list(spec.held_out_groups))
    if spec.validation:
        validation = _load_labelled(spec.validation, spec, preprocessing, show_progress)
    elif held_out is not None:
        validation = held_out
    elif spec.validation_classes > 0:
        if spec.kind == "signatures":
            raise ConfigError("data.validation_classes: signatures need a separate data.validation folder of writers")
        train_data, validation = train_data.split_by_class(spec.validation_classes, seed=0)
    if spec.class_transforms:
        if spec.kind not in ("images", "signatures") or not isinstance(train_data, ImageDataset):
            raise ConfigError("data.class_transforms needs image folders (kind 'images' or 'signatures')")
        train_data = expand_classes(train_data, spec.class_transforms)
    return train_data, validation


def _load_labelled(
    path: str | None, spec: DataSpec, preprocessing: PreprocessingConfig, show_progress: bool = False
) -> ImageDataset | VectorDataset | None:
    if path is None:
        return None
    if spec.kind == "vectors":
        return load_vectors(path, labels_path=spec.labels)
    if spec.kind == "signatures":
        return load_signature_folder(path, preprocessing, show_progress=show_progress)
    return load_image_folder(path, preprocessing, show_progress=show_progress)


def run_recipe(recipe: TrainingRecipe, resume: bool = False) -> TrainResult:
    """Loads the data, builds the network from the recipe's seed, trains, and writes the bundle."""
    preprocessing = recipe.preprocessing
    if recipe.training.initial_weights is not None:
        check_initial_weights(recipe.training.initial_weights)  # fail before minutes of data loading
    train_data, validation = load_training_data(recipe.data, preprocessing, recipe.training.show_progress)
    if isinstance(train_data, VectorDataset):
        preprocessing = PreprocessingConfig(kind="vector", vector_length=int(train_data.vectors.shape[1]))
    expected = preprocessing.input_shape
    if tuple(recipe.network.encoder.input_shape) != expected:
        logger.info("setting encoder input_shape to %s from the preprocessing", expected)
        recipe.network.encoder.input_shape = expected
    torch.manual_seed(recipe.training.seed)
    network = SiameseNetwork.from_config(recipe.network)
    if recipe.training.initial_weights is not None:
        load_initial_weights(network, recipe.training.initial_weights)
    # A loss that cannot train on this network and data is refused before the run folder is written; the
    # check may draw class proxies, so the random state training starts from is put back.
    with torch.random.fork_rng(devices=[]):
        prepare_loss(recipe.training, network, train_data)
    recipe.training.output_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(recipe.training.output_dir / "recipe.json", json.dumps(recipe.to_dict(), indent=2) + "\n")
    return train(
        network,
        train_data,
        recipe.training,
        validation_data=validation,
        preprocessing=preprocessing,
        resume=resume,
        metadata={"data": asdict(recipe.data)},
    )


def check_component_names(encoder: str, comparison: str, loss: str, mining: str) -> None:
    """Fails fast, before any data is read, on a misspelt component name."""
    for registry, name in ((ENCODERS, encoder), (COMPARISONS, comparison), (LOSSES, loss)):
        if name not in registry:
            raise ConfigError(f"unknown {registry.kind} {name!r}; choose one of: {', '.join(registry.names())}")
    check_strategy(mining)


def recipe_from_options(
    *,
    output: Path,
    data: str | None,
    pairs: str | None,
    triplets: str | None,
    vectors: str | None,
    labels: str | None,
    validation: str | None,
    validation_classes: float,
    encoder: str,
    embedding_dim: int,
    comparison: str,
    normalize: bool,
    loss: str,
    margin: float | None,
    mining: str,
    image_size: tuple[int, int],
    channels: int,
    invert: bool,
    crop_to_ink: bool,
    keep_aspect: bool,
    epochs: int,
    max_steps: int | None,
    classes_per_batch: int,
    samples_per_class: int,
    learning_rate: float,
    weight_decay: float,
    optimizer: str,
    schedule: str,
    warmup_steps: int,
    augment: bool,
    early_stopping_metric: str,
    patience: int | None,
    seed: int,
    device: str,
    checkpoint_every_steps: int | None,
    remove_background: bool = False,
    binarize: bool = False,
    loss_learning_rate: float | None = None,
) -> TrainingRecipe:
    """Builds a recipe from `siamkit train`'s flat options."""
    sources = {"images": data, "pairs": pairs, "triplets": triplets, "vectors": vectors}
    given = {kind: path for kind, path in sources.items() if path}
    if len(given) != 1:
        raise ConfigError("give exactly one of --data, --pairs, --triplets or --vectors")
    kind, path = next(iter(given.items()))
    check_component_names(encoder=encoder, comparison=comparison, loss=loss, mining=mining)
    preprocessing = PreprocessingConfig(
        kind="vector" if kind == "vectors" else "image",
        image_size=image_size,
        channels=channels,
        invert=invert,
        crop_to_ink=crop_to_ink,
        keep_aspect=keep_aspect,
        remove_background=remove_background,
        binarize=binarize,
        vector_length=1 if kind == "vectors" else None,
    )
    encoder_shape = (1,) if kind == "vectors" else preprocessing.input_shape
    if kind == "vectors" and encoder == "conv4":
        encoder = "mlp"
    network = SiameseConfig(
        encoder=EncoderConfig(encoder, encoder_shape, embedding_dim),
        comparison=ComparisonConfig(comparison),
        normalize_embeddings=normalize,
    )
    loss_options: dict[str, Any] = {} if margin is None else {"margin": margin}
    training = TrainConfig(
        output_dir=output,
        epochs=epochs,
        max_steps=max_steps,
        classes_per_batch=classes_per_batch,
        samples_per_class=samples_per_class,
        loss=loss,
        loss_options=loss_options,
        mining=mining,
        optimizer=optimizer,  # type: ignore[arg-type]
        learning_rate=learning_rate,
        loss_learning_rate=loss_learning_rate,
        weight_decay=weight_decay,
        schedule=schedule,  # type: ignore[arg-type]
        warmup_steps=warmup_steps,
        seed=seed,
        augmentation=AugmentationConfig(enabled=augment),
        early_stopping_metric=early_stopping_metric,
        early_stopping_patience=patience,
        device=device,
        checkpoint_every_steps=checkpoint_every_steps,
    )
    spec = DataSpec(
        train=path,
        kind=cast(DataKind, kind),
        validation=validation,
        validation_classes=validation_classes,
        labels=labels,
    )
    return TrainingRecipe(data=spec, network=network, preprocessing=preprocessing, training=training)
