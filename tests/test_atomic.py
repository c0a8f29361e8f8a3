"""Atomic writes: all or nothing, with ordinary permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from siamkit.atomic import atomic_directory, write_bytes_atomic


def test_a_write_replaces_the_file_whole_with_ordinary_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    write_bytes_atomic(target, b"old")
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert [path.name for path in tmp_path.iterdir()] == ["out.bin"]


def test_a_failed_folder_write_keeps_the_old_folder(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    with atomic_directory(target) as staging:
        (staging / "a.txt").write_text("first")
    with pytest.raises(RuntimeError), atomic_directory(target) as staging:
        (staging / "a.txt").write_text("half")
        raise RuntimeError("killed mid-write")
    assert (target / "a.txt").read_text() == "first"
    assert [path.name for path in tmp_path.iterdir()] == ["bundle"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~mask


def test_files_in_a_folder_write_get_ordinary_permissions(tmp_path: Path) -> None:
    """A bundle's weights must be readable by whoever may read its config (a service user, say), although
    safetensors' save_file creates them private."""
    import torch
    from safetensors.torch import save_file

    with atomic_directory(tmp_path / "bundle") as staging:
        save_file({"weight": torch.zeros(2)}, str(staging / "model.safetensors"))
        (staging / "private.txt").write_text("x")
        os.chmod(staging / "private.txt", 0o600)
    mask = os.umask(0)
    os.umask(mask)
    for name in ("model.safetensors", "private.txt"):
        assert stat.S_IMODE((tmp_path / "bundle" / name).stat().st_mode) == 0o666 & ~mask
