"""Retrieval accuracy of embeddings: each image queries all the others, as metric-learning papers score them.

Pair metrics say how well two images are told apart; retrieval metrics say how well the embedding space is
ordered around each image, which is what a gallery search sees. Each labelled image is a query against every
other image (leave one out); with R the number of other images of its class:

- `precision_at_1`: the share of queries whose nearest other image is of their class (closed-set rank-1
  accuracy when every image is a reference).
- `r_precision`: the share of the query's R nearest images that are of its class.
- `map_at_r`: mean average precision at R (Musgrave, Belongie and Lim, "A Metric Learning Reality Check",
  2020): like `r_precision`, but a relevant image counts for more the higher it is ranked, so an ordering that
  puts the class first scores 1 and one that mixes it in scores less even with the same R-precision.

The definitions are those of pytorch-metric-learning's `AccuracyCalculator`. Queries whose class has no other
image are left out (they have nothing to find).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from siamkit.errors import DataError
from siamkit.model import SiameseModel

_QUERIES_PER_CHUNK = 512


def retrieval_metrics(model: SiameseModel, embeddings: torch.Tensor, labels: np.ndarray) -> dict[str, Any]:
    """Leave-one-out retrieval accuracy of labelled embeddings under the model's comparison.

    Args:
        model: Supplies the comparison (and which way its scores run).
        embeddings: `(N, D)` embeddings.
        labels: Class of each row.

    Returns:
        `precision_at_1`, `r_precision`, `map_at_r` (means over queries) and `n_queries`.

    Raises:
        DataError: When no class has two images.
    """
    labels = np.asarray(labels)
    class_sizes = dict(zip(*np.unique(labels, return_counts=True), strict=True))
    relevant_counts = np.array([class_sizes[label] - 1 for label in labels])
    queries = np.flatnonzero(relevant_counts > 0)
    if queries.size == 0:
        raise DataError("retrieval metrics need a class with at least two images; every class has one")
    label_tensor = torch.as_tensor(labels)
    precision_at_1, r_precision, average_precision = [], [], []
    for start in range(0, queries.size, _QUERIES_PER_CHUNK):
        rows = torch.as_tensor(queries[start : start + _QUERIES_PER_CHUNK])
        scores = model.pairwise_scores(embeddings[rows], embeddings)
        similarities = torch.as_tensor(model.similarity_from_score(scores))
        similarities[torch.arange(len(rows)), rows] = -torch.inf  # a query does not find itself
        counts = torch.as_tensor(relevant_counts[rows.numpy()])
        ranked = similarities.topk(int(counts.max()), dim=1).indices
        relevant = (label_tensor[ranked] == label_tensor[rows].unsqueeze(1)).double()
        within_r = torch.arange(ranked.shape[1]).unsqueeze(0) < counts.unsqueeze(1)
        relevant = relevant * within_r
        ranks = torch.arange(1, ranked.shape[1] + 1, dtype=torch.float64)
        precision_at_1.append(relevant[:, 0])
        r_precision.append(relevant.sum(dim=1) / counts)
        average_precision.append((relevant * relevant.cumsum(dim=1) / ranks).sum(dim=1) / counts)
    return {
        "precision_at_1": float(torch.cat(precision_at_1).mean()),
        "r_precision": float(torch.cat(r_precision).mean()),
        "map_at_r": float(torch.cat(average_precision).mean()),
        "n_queries": int(queries.size),
    }
