"""Field type checks of configuration dataclasses: each mistyped field named with what it must be."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pytest

from siamkit.config_types import check_field_types
from siamkit.data import AugmentationConfig, PreprocessingConfig
from siamkit.errors import ConfigError
from siamkit.training.config import TrainConfig
from siamkit.training.recipe import DataSpec


@dataclass
class Example:
    steps: int = 1
    rate: float = 0.5
    name: str = "x"
    folder: Path = Path(".")
    flag: bool = False
    limit: int | None = None
    size: tuple[int, int] = (2, 3)
    shape: tuple[int, ...] = (1, 2, 3)
    names: list[str] = field(default_factory=list)
    mode: Literal["a", "b"] = "a"
    options: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_field_types(self, "example")


def test_values_of_the_annotated_types_pass() -> None:
    Example()
    Example(steps=np.int64(3), rate=2, name=Path("p"), folder="p", limit=4, size=[4, 5], shape=[1], names=["a"])  # type: ignore[arg-type]
    Example(mode="c")  # type: ignore[arg-type]  # allowed values are each config's own check, with its choices


@pytest.mark.parametrize(
    ("change", "message"),
    [({"steps": "10"}, "steps must be a whole number, got '10'"),
     ({"steps": 2.5}, "steps must be a whole number"),
     ({"steps": True}, "steps must be a whole number"),
     ({"rate": "0.1"}, "rate must be a number"),
     ({"name": 3}, "name must be a string"),
     ({"folder": 3}, "folder must be a path"),
     ({"flag": 1}, "flag must be true or false"),
     ({"limit": "4"}, "limit must be a whole number or null"),
     ({"size": "40"}, "size must be two whole numbers"),
     ({"size": [4]}, "size must be two whole numbers"),
     ({"size": [4, 5.5]}, "size must be two whole numbers"),
     ({"shape": [1, "2"]}, "shape must be a list of whole numbers"),
     ({"names": "ab"}, "names must be a list of strings")],
)  # fmt: skip
def test_a_mistyped_field_is_named_with_what_it_must_be(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match="^example " + message.replace("(", r"\(")):
        Example(**change)


@pytest.mark.parametrize(
    ("build", "message"),
    [(lambda: TrainConfig(max_steps="10"), "training max_steps must be a whole number or null"),  # type: ignore[arg-type]
     (lambda: TrainConfig(learning_rate="0.1"), "training learning_rate must be a number"),  # type: ignore[arg-type]
     (lambda: DataSpec(train="x", validation_classes="0.1"), "data validation_classes must be a number"),  # type: ignore[arg-type]
     (lambda: PreprocessingConfig(image_size="40"), "preprocessing image_size must be two whole numbers"),  # type: ignore[arg-type]
     (lambda: AugmentationConfig(elastic_pixels="5"), "augmentation elastic_pixels must be a number")],  # type: ignore[arg-type]
)  # fmt: skip
def test_the_recipe_sections_check_their_fields(build, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        build()
