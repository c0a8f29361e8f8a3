"""Evaluation: verification metrics, pair protocols, few-shot episodes, calibration and plots.

Similarities are "larger = more alike", labels are 1 = same / 0 = different, and a pair is "same" when
`similarity >= threshold`.
"""

from siamkit.evaluation.calibration import (
    CalibrationResult,
    IsotonicCalibration,
    PlattCalibration,
    ScoreCalibration,
    calibrate_threshold,
    calibration_from_dict,
    fit_score_calibration,
    overlapping_items,
)
from siamkit.evaluation.embedding_evaluation import EmbeddingEvaluation, evaluate_embeddings, pair_similarities
from siamkit.evaluation.embedding_map import EmbeddingMap, map_embeddings
from siamkit.evaluation.episodes import EpisodeConfig, EpisodeResult, evaluate_episodes
from siamkit.evaluation.pairs import all_same_pairs_and_sampled_different, load_pair_list, save_pair_list
from siamkit.evaluation.plots import (
    plot_det,
    plot_embedding_map,
    plot_roc,
    plot_score_histograms,
    plot_training_curves,
)
from siamkit.evaluation.report import bootstrap_intervals, operating_points, write_html_report
from siamkit.evaluation.signature_protocol import is_genuine_signature, signature_pairs
from siamkit.evaluation.verification import VerificationMetrics, verification_metrics

__all__ = [
    "CalibrationResult",
    "EmbeddingEvaluation",
    "EmbeddingMap",
    "EpisodeConfig",
    "EpisodeResult",
    "IsotonicCalibration",
    "PlattCalibration",
    "ScoreCalibration",
    "VerificationMetrics",
    "all_same_pairs_and_sampled_different",
    "bootstrap_intervals",
    "calibrate_threshold",
    "calibration_from_dict",
    "evaluate_embeddings",
    "evaluate_episodes",
    "fit_score_calibration",
    "is_genuine_signature",
    "load_pair_list",
    "map_embeddings",
    "operating_points",
    "overlapping_items",
    "pair_similarities",
    "plot_det",
    "plot_embedding_map",
    "plot_roc",
    "plot_score_histograms",
    "plot_training_curves",
    "save_pair_list",
    "signature_pairs",
    "verification_metrics",
    "write_html_report",
]
