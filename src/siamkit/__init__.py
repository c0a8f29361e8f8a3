"""siamkit: Siamese networks for verification, identification and one-shot recognition."""

from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.errors import BundleError, ConfigError, DataError, SiamkitError
from siamkit.model import OneShotResult, SiameseModel, VerificationResult, load
from siamkit.network import SiameseConfig, SiameseNetwork

__version__ = "0.1.0"

__all__ = [
    "BundleError",
    "ConfigError",
    "DataError",
    "OneShotResult",
    "PreprocessingConfig",
    "SiameseConfig",
    "SiameseModel",
    "SiameseNetwork",
    "SiamkitError",
    "VerificationResult",
    "__version__",
    "load",
]
