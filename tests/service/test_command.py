"""`siamkit serve`: options reach the service, and unusable bundles or galleries are one-line errors (exit 2)."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from siamkit.cli import main
from siamkit.gallery import Gallery, storage
from siamkit.model import SiameseModel


def run_cli(monkeypatch: pytest.MonkeyPatch, *arguments: str) -> None:
    monkeypatch.setattr(sys, "argv", ["siamkit", *arguments])
    main()


def serve_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    """Runs `siamkit serve ...` expecting the one-line error and exit code 2; returns the line."""

    def must_not_serve(*_: Any, **__: Any) -> None:
        raise AssertionError("the server started despite the error")

    monkeypatch.setattr(uvicorn, "run", must_not_serve)
    with pytest.raises(SystemExit) as stopped:
        run_cli(monkeypatch, "serve", *arguments)
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_serve_binds_loopback_by_default_and_passes_its_options(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: dict[str, Any] = {}

    def fake_run(app: Any, host: str, port: int, log_level: str) -> None:
        started.update(config=app.state.engine.config, host=host, port=port, gallery=app.state.engine.gallery)
        app.state.engine.close()

    monkeypatch.setattr(uvicorn, "run", fake_run)
    gallery = tmp_path / "new.gallery"
    run_cli(monkeypatch, "serve", "--model", str(model_path), "--gallery", str(gallery), "--max-upload-mb", "2")
    assert started["host"] == "127.0.0.1" and started["port"] == 8000
    assert started["config"].max_upload_bytes == 2 * 2**20 and started["config"].gallery_path == gallery
    assert started["gallery"] is not None and gallery.is_file()  # created, empty, for this model
    with Gallery.open(gallery, SiameseModel.load(model_path)) as opened:
        assert len(opened) == 0

    run_cli(monkeypatch, "serve", "--model", str(model_path), "--host", "0.0.0.0", "--port", "9123",
            "--max-batch-images", "1", "--batch-wait-ms", "0")  # fmt: skip
    assert started["host"] == "0.0.0.0" and started["port"] == 9123 and started["gallery"] is None
    assert started["config"].max_batch_images == 1 and started["config"].batch_wait_seconds == 0.0


def test_a_corrupt_or_foreign_gallery_is_a_one_line_error(
    model_path: Path,
    uncalibrated_model_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corrupt = tmp_path / "corrupt.gallery"
    corrupt.write_bytes(b"definitely not SQLite " * 200)
    line = serve_error(monkeypatch, capsys, "--model", str(model_path), "--gallery", str(corrupt))
    assert str(corrupt) in line and "not a siamkit gallery" in line

    other_schema = tmp_path / "old.gallery"
    Gallery.create(other_schema, SiameseModel.load(model_path)).close()
    with sqlite3.connect(other_schema) as connection:
        connection.execute("UPDATE gallery_settings SET value = '99' WHERE key = 'schema_version'")
    connection.close()
    line = serve_error(monkeypatch, capsys, "--model", str(model_path), "--gallery", str(other_schema))
    assert "schema version 99" in line

    line = serve_error(monkeypatch, capsys, "--model", str(uncalibrated_model_path))
    assert "no decision threshold" in line and "siamkit calibrate" in line
    line = serve_error(monkeypatch, capsys, "--model", str(tmp_path / "no-such-model"))
    assert "no-such-model" in line


def test_a_locked_gallery_is_a_one_line_error(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked.gallery"
    Gallery.create(locked, SiameseModel.load(model_path)).close()
    monkeypatch.setattr(storage, "OPEN_LOCK_WAIT_SECONDS", 0.1)
    holder = sqlite3.connect(locked, isolation_level=None)
    try:
        # Another process holding the file exclusively (as a crashed or stuck writer might).
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        line = serve_error(monkeypatch, capsys, "--model", str(model_path), "--gallery", str(locked))
    finally:
        holder.close()
    assert str(locked) in line and "locked by another process" in line


def test_serve_onnx_passes_the_export_and_refuses_a_missing_one_in_one_line(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from siamkit.export import export_onnx

    export_onnx(SiameseModel.load(model_path), tmp_path / "export")
    started: dict[str, Any] = {}

    def fake_run(app: Any, host: str, port: int, log_level: str) -> None:
        started.update(engine=app.state.engine.model.onnx_export, config=app.state.engine.config)
        app.state.engine.close()

    monkeypatch.setattr(uvicorn, "run", fake_run)
    run_cli(monkeypatch, "serve", "--model", str(model_path), "--onnx", str(tmp_path / "export"))
    assert started["config"].onnx_path == tmp_path / "export" and started["engine"] is not None
    line = serve_error(monkeypatch, capsys, "--model", str(model_path), "--onnx", str(tmp_path / "absent"))
    assert "absent/siamkit-onnx.json: missing" in line
