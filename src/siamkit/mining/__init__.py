"""In-batch mining: pairs and triplets formed from the embeddings of one batch, and the batch's loss.

Each item of a batch is encoded once; `mine_pairs` and `mine_triplets` pick index tuples into the
embeddings and `in_batch_loss` turns them into the training loss. `pair_loss` and `triplet_loss` handle
data that already comes as explicit pairs or triplets.
"""

from siamkit.mining.objective import check_objective, in_batch_loss, pair_loss, triplet_loss
from siamkit.mining.pairs import mine_pairs
from siamkit.mining.strategies import (
    MINING_STRATEGIES,
    PAIR_MINING_STRATEGIES,
    TRIPLET_MINING_STRATEGIES,
    check_strategy,
)
from siamkit.mining.triplets import mine_triplets

__all__ = [
    "MINING_STRATEGIES",
    "PAIR_MINING_STRATEGIES",
    "TRIPLET_MINING_STRATEGIES",
    "check_objective",
    "check_strategy",
    "in_batch_loss",
    "mine_pairs",
    "mine_triplets",
    "pair_loss",
    "triplet_loss",
]
