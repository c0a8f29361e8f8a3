"""Locating points from their distances to landmarks: a Siamese network against the classical solvers.

The blog post this application answers trained a Siamese MLP to turn distances to 11 landmarks into 10-D
coordinates and found the result "underwhelming". `experiment` rebuilds that set-up from siamkit's parts,
`ablation` isolates each of its defects, `trilateration`, `mds` and `cramer_rao` are the textbook approach
and its limit, `comparison` and `late_landmarks` pit them against each other, and `plots` draws the figures
of docs/landmarks.md. The `siamkit landmarks` command (`cli.landmarks_command`) runs all of it.
"""

from siamkit.applications.landmarks.ablation import FIXES, AblationRow, Fix, ablation_configs, run_ablation
from siamkit.applications.landmarks.comparison import (
    METHODS,
    ComparisonSetting,
    MethodScore,
    SettingResult,
    SweepRow,
    evaluate_setting,
    run_sweep,
    summarize_sweep,
    sweep_settings,
)
from siamkit.applications.landmarks.cramer_rao import position_error_bounds, range_fisher_information, rmse_bound
from siamkit.applications.landmarks.experiment import (
    LandmarkData,
    LandmarkExperimentConfig,
    LandmarkExperimentResult,
    build_landmark_network,
    make_landmark_data,
    predict_coordinates,
    run_landmark_experiment,
    summarize_results,
    train_landmark_network,
)
from siamkit.applications.landmarks.late_landmarks import (
    LATE_METHODS,
    LateLandmarksConfig,
    LateLandmarksRow,
    run_late_landmarks,
    summarize_late_landmarks,
    widen_network_inputs,
)
from siamkit.applications.landmarks.mds import LandmarkMDS, classical_mds
from siamkit.applications.landmarks.trilateration import refine_positions, trilaterate, trilaterate_linear

__all__ = [
    "FIXES",
    "LATE_METHODS",
    "METHODS",
    "AblationRow",
    "ComparisonSetting",
    "Fix",
    "LandmarkData",
    "LandmarkExperimentConfig",
    "LandmarkExperimentResult",
    "LandmarkMDS",
    "LateLandmarksConfig",
    "LateLandmarksRow",
    "MethodScore",
    "SettingResult",
    "SweepRow",
    "ablation_configs",
    "build_landmark_network",
    "classical_mds",
    "evaluate_setting",
    "make_landmark_data",
    "position_error_bounds",
    "predict_coordinates",
    "range_fisher_information",
    "refine_positions",
    "rmse_bound",
    "run_ablation",
    "run_landmark_experiment",
    "run_late_landmarks",
    "run_sweep",
    "summarize_late_landmarks",
    "summarize_results",
    "summarize_sweep",
    "sweep_settings",
    "train_landmark_network",
    "trilaterate",
    "trilaterate_linear",
    "widen_network_inputs",
]
