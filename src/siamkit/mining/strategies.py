"""The names of the in-batch mining strategies and their validation."""

from __future__ import annotations

from siamkit.errors import ConfigError

MINING_STRATEGIES = ("all", "hard", "semi_hard")

# Pair losses have no anchor-positive distance to be "semi" relative to, so semi-hard mining is triplet-only.
PAIR_MINING_STRATEGIES = ("all", "hard")


def check_strategy(strategy: str, for_pairs: bool = False) -> None:
    """Raises a ConfigError unless `strategy` is a known mining strategy (for pairs: `all` or `hard`).

    Args:
        strategy: The strategy name from the configuration.
        for_pairs: Check against the strategies pair mining supports.
    """
    if strategy not in MINING_STRATEGIES:
        raise ConfigError(f"mining strategy must be one of {MINING_STRATEGIES}, got {strategy!r}")
    if for_pairs and strategy not in PAIR_MINING_STRATEGIES:
        raise ConfigError(
            f"mining strategy {strategy!r} needs triplets (a triplet loss); pair losses take one of "
            f"{PAIR_MINING_STRATEGIES}"
        )
