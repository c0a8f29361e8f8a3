"""Shared fixtures. Tests that need ../shared/data skip with a reason where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SIAMKIT_SHARED_DATA", REPOSITORY.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    """The folder of real data sets beside the checkout (../shared/data)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared data sets at {SHARED_DATA}, which is absent")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _deterministic_torch() -> None:
    """Every test starts from the same random state and uses one thread: tiny ops on two busy cores are
    faster without thread hand-offs."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
