"""`siamkit demo` end to end, shortened to one epoch."""

from __future__ import annotations

from pathlib import Path

from siamkit.applications.demo import DemoConfig, run_demo


def test_demo_beats_chance_on_unseen_digits_and_writes_its_outputs(tmp_path: Path) -> None:
    report = run_demo(DemoConfig(output_dir=tmp_path, epochs=1, episodes=300, show_progress=False))
    assert report.auc > 0.65
    assert report.eer < 0.4
    assert report.one_shot_accuracy > 0.45  # chance is 1/3
    assert report.n_same > 0 and report.n_same == report.n_different
    assert (tmp_path / "model" / "model.safetensors").is_file()
    for plot in report.plots:
        assert Path(plot).is_file() and Path(plot).stat().st_size > 1000
    assert set(report.to_dict()) >= {"eer", "auc", "one_shot_accuracy", "threshold", "bundle_path"}
