"""Bootstrap intervals match a slow reference; the HTML report holds its tables, plots and escaped thumbnails."""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamkit.errors import ConfigError, DataError
from siamkit.evaluation import report as report_module
from siamkit.evaluation import report_sections
from siamkit.evaluation.per_class import per_class_breakdown
from siamkit.evaluation.report import (
    _bootstrap_statistics,
    bootstrap_intervals,
    operating_points,
    write_html_report,
)
from siamkit.evaluation.verification import verification_metrics

EVIL_PATH = "evil/<script>alert(1)</script>.png"


def gaussian_scores(
    n_same: int, n_different: int, seed: int = 0, decimals: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = np.r_[rng.normal(1.5, 1.0, n_same), rng.normal(0.0, 1.0, n_different)]
    if decimals is not None:
        scores = np.round(scores, decimals)  # many ties
    return scores, np.r_[np.ones(n_same, dtype=np.int64), np.zeros(n_different, dtype=np.int64)]


@pytest.mark.parametrize("decimals", [None, 1])
def test_statistics_of_unit_weights_equal_verification_metrics(decimals: int | None) -> None:
    scores, labels = gaussian_scores(120, 200, decimals=decimals)
    order = np.argsort(scores, kind="stable")
    sorted_scores, sorted_same = scores[order], labels[order] == 1
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    same_weights = np.add.reduceat(sorted_same.astype(float), starts)[None]
    different_weights = np.add.reduceat((~sorted_same).astype(float), starts)[None]
    auc, eer = _bootstrap_statistics(same_weights, different_weights, 120, 200)
    metrics = verification_metrics(scores, labels)
    assert auc[0] == pytest.approx(metrics.auc, abs=1e-12)
    assert eer[0] == pytest.approx(metrics.eer, abs=1e-12)


@pytest.mark.parametrize("decimals", [None, 1])
def test_bootstrap_matches_a_slow_reference(decimals: int | None) -> None:
    scores, labels = gaussian_scores(40, 60, seed=3, decimals=decimals)
    samples, seed = 50, 7
    result = bootstrap_intervals(scores, labels, samples=samples, seed=seed)
    # Reference: expand each resample and score it with verification_metrics, drawing as the function does
    # (same pairs then different pairs, indexed in ascending score order).
    order = np.argsort(scores, kind="stable")
    same_scores, different_scores = scores[order][labels[order] == 1], scores[order][labels[order] == 0]
    rng = np.random.default_rng(seed)
    same_draws = rng.integers(0, 40, size=(samples, 40))
    different_draws = rng.integers(0, 60, size=(samples, 60))
    resample_labels = np.r_[np.ones(40), np.zeros(60)]
    aucs, eers = [], []
    for row in range(samples):
        resampled = np.r_[same_scores[same_draws[row]], different_scores[different_draws[row]]]
        metrics = verification_metrics(resampled, resample_labels)
        aucs.append(metrics.auc)
        eers.append(metrics.eer)
    for name, values in (("auc", aucs), ("eer", eers)):
        low, high = np.quantile(values, [0.025, 0.975])
        assert result[name]["low"] == pytest.approx(low, abs=1e-12)
        assert result[name]["high"] == pytest.approx(high, abs=1e-12)
    full = verification_metrics(scores, labels)
    assert result["auc"]["estimate"] == full.auc and result["eer"]["estimate"] == full.eer
    assert (result["samples"], result["seed"], result["confidence"]) == (samples, seed, 0.95)


def test_intervals_contain_the_estimate_and_narrow_with_more_pairs() -> None:
    small = bootstrap_intervals(*gaussian_scores(100, 100), samples=300, seed=0)
    large = bootstrap_intervals(*gaussian_scores(5000, 5000), samples=300, seed=0)
    for result in (small, large):
        for name in ("auc", "eer"):
            assert result[name]["low"] < result[name]["estimate"] < result[name]["high"]
    for name in ("auc", "eer"):
        small_width = small[name]["high"] - small[name]["low"]
        large_width = large[name]["high"] - large[name]["low"]
        assert large_width < small_width / 3  # 50x the pairs: about 7x narrower


def test_bootstrap_is_deterministic_by_seed() -> None:
    scores, labels = gaussian_scores(200, 300)
    first = bootstrap_intervals(scores, labels, samples=100, seed=5)
    assert bootstrap_intervals(scores, labels, samples=100, seed=5) == first
    assert bootstrap_intervals(scores, labels, samples=100, seed=6) != first


def test_bootstrap_rejects_bad_settings() -> None:
    scores, labels = gaussian_scores(10, 10)
    with pytest.raises(ConfigError, match="samples"):
        bootstrap_intervals(scores, labels, samples=0)
    with pytest.raises(ConfigError, match="confidence"):
        bootstrap_intervals(scores, labels, confidence=1.0)
    with pytest.raises(DataError, match="both classes"):
        bootstrap_intervals(scores, np.ones(20))


def test_operating_points_by_hand() -> None:
    same = [0.9, 0.8, 0.75, 0.4]
    different = [0.85, 0.7, 0.3, 0.2, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01]
    metrics = verification_metrics(np.r_[same, different], np.r_[np.ones(4), np.zeros(10)])
    points = operating_points(metrics, (0.2, 0.1, 0.01))
    # FAR <= 0.2 allows two false accepts (0.85 and 0.7); the lowest such threshold, 0.4, accepts every same pair.
    assert points[0] == {"target_far": 0.2, "far": 0.2, "frr": 0.0, "threshold": 0.4}
    # FAR <= 0.1 allows only 0.85: the lowest such threshold is 0.75, with the same three accepts.
    assert points[1] == {"target_far": 0.1, "far": 0.1, "frr": 0.25, "threshold": 0.75}
    # 0.01 cannot be resolved with 10 different pairs.
    assert points[2] == {"target_far": 0.01, "far": None, "frr": None, "threshold": None}


def thumbnail_loader(path: str) -> Image.Image:
    if path.endswith("broken.png"):
        raise OSError("cannot identify image file")
    shade = sum(path.encode()) % 256
    return Image.new("L", (400, 300), color=shade)


@pytest.fixture(scope="module")
def written_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict]:
    scores, labels = gaussian_scores(300, 700, seed=1)
    first_paths = [f"images/first_{index}.png" for index in range(scores.shape[0])]
    second_paths = [f"images/second_{index}.png" for index in range(scores.shape[0])]
    hardest_different = 300 + int(np.argmax(scores[300:]))
    first_paths[hardest_different] = EVIL_PATH
    hardest_same = int(np.argmin(scores[:300]))
    second_paths[hardest_same] = "images/broken.png"
    folder = tmp_path_factory.mktemp("report") / "out"
    path = write_html_report(
        folder,
        scores,
        labels,
        first_paths,
        second_paths,
        thumbnail_loader,
        threshold_similarity=0.5,
        title="CEDAR <test> & friends",
        bootstrap_samples=200,
        seed=3,
    )
    return path, path.read_text(encoding="utf-8"), bootstrap_intervals(scores, labels, 200, 3)


def test_report_folder_holds_html_and_plots(written_report: tuple[Path, str, dict]) -> None:
    path, text, _ = written_report
    assert path.name == "report.html" and path.is_file()
    for name in ("roc.png", "det.png", "scores.png"):
        with Image.open(path.parent / name) as image:
            assert image.format == "PNG"
        assert f'src="{name}"' in text
    assert not [entry for entry in path.parent.iterdir() if entry.name.endswith(".tmp")]


def test_report_has_operating_points_and_intervals(written_report: tuple[Path, str, dict]) -> None:
    _, text, intervals = written_report
    assert "Target FAR" in text and "<td>0.1</td>" in text and "<td>0.01</td>" in text
    # 700 different pairs cannot resolve FAR 1e-3.
    assert re.search(r"<td>0.001</td><td>n/a</td><td>n/a</td><td>n/a</td>", text)
    for name in ("auc", "eer"):
        interval = intervals[name]
        assert f"{interval['estimate']:.4f} <span class=ci>[{interval['low']:.4f}, {interval['high']:.4f}]" in text
    assert "from 200 resamples (seed 3)" in text
    assert "Threshold (given)</th><td>0.5000" in text


def test_report_escapes_paths_and_title(written_report: tuple[Path, str, dict]) -> None:
    _, text, _ = written_report
    assert "<script>" not in text and "<test>" not in text
    assert "evil/&lt;script&gt;alert(1)&lt;/script&gt;.png" in text
    assert "<h1>CEDAR &lt;test&gt; &amp; friends</h1>" in text


def test_report_shows_hardest_pairs_as_embedded_thumbnails(written_report: tuple[Path, str, dict]) -> None:
    _, text, _ = written_report
    accepts = text[text.index("Worst false accepts") : text.index("Worst false rejects")]
    rejects = text[text.index("Worst false rejects") :]
    assert accepts.count("class=pair>") == rejects.count("class=pair>") == 8
    assert "&lt;script&gt;" in accepts.split("class=pair>")[1]  # the highest-scoring different pair comes first
    assert "images/broken.png" in rejects.split("class=pair>")[1] and "no thumbnail" in rejects
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(uris) == 31  # 32 images shown, one failed to load
    with Image.open(io.BytesIO(base64.b64decode(uris[0]))) as thumbnail:
        assert thumbnail.format == "PNG" and thumbnail.size == (160, 120)


def test_report_without_thumbnails_or_bootstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scores, labels = gaussian_scores(20, 30)
    paths = [f"p{index}.png" for index in range(50)]
    text = write_html_report(tmp_path, scores, labels, paths, paths, None, bootstrap_samples=0).read_text()
    assert "not computed" in text and "data:image" not in text and "Threshold (EER threshold)" in text
    monkeypatch.setattr(report_module, "_REPORT_BOOTSTRAP_BUDGET", 50 * 300)
    monkeypatch.setattr(report_module, "_MIN_REPORT_RESAMPLES", 10)
    text = write_html_report(tmp_path, scores, labels, paths, paths, None, bootstrap_samples=1000).read_text()
    assert "from 300 resamples" in text and "reduced from 1000" in text


def test_report_lists_the_worst_classes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scores, labels = gaussian_scores(20, 30)
    paths = [f"p{index}.png" for index in range(50)]
    classes = np.arange(50) % 25
    names = [f"<writer {index}>" for index in range(25)]
    breakdown = per_class_breakdown(scores, labels, classes, classes, names, 0.5)
    monkeypatch.setattr(report_sections, "PER_CLASS_ROWS_SHOWN", 10)
    page = write_html_report(tmp_path, scores, labels, paths, paths, None, bootstrap_samples=0, per_class=breakdown)
    text = page.read_text()
    section = text[text.index("<h2>Per class</h2>") : text.index("<h2>Curves</h2>")]
    assert section.count("<tr><td>") == 10 and "15 more classes" in section
    assert f"<tr><td>{html.escape(breakdown[0].name)}</td>" in section and "<writer" not in section
    assert (
        "<h2>Per class</h2>"
        not in write_html_report(tmp_path, scores, labels, paths, paths, None, bootstrap_samples=0).read_text()
    )


def test_report_rejects_mismatched_input(tmp_path: Path) -> None:
    scores, labels = gaussian_scores(5, 5)
    paths = [f"p{index}.png" for index in range(10)]
    with pytest.raises(DataError, match="one path pair per score"):
        write_html_report(tmp_path, scores, labels, paths, paths[:-1], None)
    with pytest.raises(ConfigError, match="bootstrap_samples"):
        write_html_report(tmp_path, scores, labels, paths, paths, None, bootstrap_samples=-1)
    assert not (tmp_path / "report.html").exists()


def test_report_shows_identification_when_given(tmp_path: Path) -> None:
    scores, labels = gaussian_scores(20, 30)
    paths = [f"p{index}.png" for index in range(50)]
    identification = {
        "references": 2, "enrolled": 7, "strangers": 3, "draws": 10, "n_mated": 140, "n_non_mated": 90,
        "rank_accuracy": {"1": 0.75, "5": 0.95}, "cmc": [0.75, 0.8, 0.9, 0.92, 0.95, 0.99, 1.0], "fpir": 0.2,
        "fnir": 0.3, "fnir_at_fpir": [
            {"target_fpir": 0.1, "threshold": 1.25, "fpir": 0.1, "fnir": 0.4},
            {"target_fpir": 0.01, "threshold": None, "fpir": None, "fnir": None},
        ],
        "retrieval": {"precision_at_1": 0.8, "r_precision": 0.6, "map_at_r": 0.5, "n_queries": 50},
    }  # fmt: skip
    page = write_html_report(
        tmp_path, scores, labels, paths, paths, None, bootstrap_samples=0, identification=identification,
        identification_plots=["cmc.png", "<odd>.png"],
    )  # fmt: skip
    text = page.read_text()
    section = text[text.index("<h2>Identification</h2>") : text.index("<h2>Curves</h2>")]
    assert "7 identities x 2 references, 3 strangers held out, 10 draws" in section
    assert "<th>Rank 1 identification rate</th><td>0.7500</td>" in section and "Rank 10" not in section
    assert "<td>0.1</td><td>0.10000</td><td>0.40000</td><td>1.250000</td>" in section
    assert "<td>0.01</td><td>n/a</td>" in section and "MAP@R 0.5000" in section
    assert '<img src="cmc.png"' in section and "&lt;odd&gt;.png" in section and "<odd>" not in section
    plain = write_html_report(tmp_path, scores, labels, paths, paths, None, bootstrap_samples=0).read_text()
    assert "<h2>Identification</h2>" not in plain
