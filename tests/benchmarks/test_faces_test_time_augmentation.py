"""benchmarks/faces_test_time_augmentation.py: its shifted copies against a hand-made example."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def augmentation(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import faces_test_time_augmentation

    return faces_test_time_augmentation


def test_shifted_copies_repeat_the_edge_and_include_the_original(augmentation: ModuleType) -> None:
    image = torch.arange(9, dtype=torch.uint8).reshape(1, 1, 3, 3)
    copies = augmentation.edge_shifted_copies(image, 1)
    assert len(copies) == 9 and all(copy.shape == image.shape for copy in copies)
    assert any(torch.equal(copy, image) for copy in copies)
    # Moved one pixel down and one right: the top row and left column repeat the old edge.
    down_right = torch.tensor([[0, 0, 1], [0, 0, 1], [3, 3, 4]], dtype=torch.uint8).reshape(1, 1, 3, 3)
    assert any(torch.equal(copy, down_right) for copy in copies)
