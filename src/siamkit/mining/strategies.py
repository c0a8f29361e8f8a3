"""The names of the in-batch mining strategies and their validation."""

from __future__ import annotations

from siamkit.errors import ConfigError

MINING_STRATEGIES = ("all", "hard", "semi_hard", "multi_similarity")

# Pair losses have no anchor-positive distance to be "semi" relative to, so semi-hard mining is triplet-only;
# multi-similarity mining keeps pairs, each judged against its anchor's other side, so it is pair-only.
PAIR_MINING_STRATEGIES = ("all", "hard", "multi_similarity")
TRIPLET_MINING_STRATEGIES = ("all", "hard", "semi_hard")


def check_strategy(strategy: str, for_pairs: bool = False, for_triplets: bool = False) -> None:
    """Raises a ConfigError unless `strategy` is a known mining strategy (and one the loss's input supports).

    Args:
        strategy: The strategy name from the configuration.
        for_pairs: Check against the strategies pair mining supports.
        for_triplets: Check against the strategies triplet mining supports.
    """
    if strategy not in MINING_STRATEGIES:
        raise ConfigError(f"mining strategy must be one of {MINING_STRATEGIES}, got {strategy!r}")
    if for_pairs and strategy not in PAIR_MINING_STRATEGIES:
        raise ConfigError(
            f"mining strategy {strategy!r} needs triplets (a triplet loss); pair losses take one of "
            f"{PAIR_MINING_STRATEGIES}"
        )
    if for_triplets and strategy not in TRIPLET_MINING_STRATEGIES:
        raise ConfigError(
            f"mining strategy {strategy!r} keeps pairs (a pair loss such as contrastive); triplet losses take one "
            f"of {TRIPLET_MINING_STRATEGIES}"
        )
