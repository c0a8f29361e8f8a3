"""The ensemble encoder: unit embeddings whose dot product is the members' mean cosine; malformed configs refused."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from siamkit.encoders import EncoderConfig, create_encoder
from siamkit.errors import ConfigError

SHAPE = (1, 16, 16)


def member(embedding_dim: int, width: int = 4, shape: tuple[int, ...] = SHAPE) -> dict[str, Any]:
    return EncoderConfig("conv4", shape, embedding_dim, {"width": width}).to_dict()


def test_dot_products_of_ensemble_embeddings_are_the_members_mean_cosine() -> None:
    torch.manual_seed(0)
    ensemble = create_encoder(EncoderConfig("ensemble", SHAPE, 14, {"members": [member(8), member(6, width=6)]}))
    ensemble.eval()
    first, second = torch.rand(5, *SHAPE), torch.rand(5, *SHAPE)
    first_embeddings, second_embeddings = ensemble(first), ensemble(second)
    torch.testing.assert_close(first_embeddings.norm(dim=1), torch.ones(5))
    cosines = [F.cosine_similarity(part(first), part(second)) for part in ensemble.members]  # type: ignore[union-attr]
    torch.testing.assert_close((first_embeddings * second_embeddings).sum(dim=1), torch.stack(cosines).mean(dim=0))


@pytest.mark.parametrize(
    ("members", "embedding_dim", "message"),
    [
        ([member(8)], 8, "at least two members"),
        ([member(8), member(8, shape=(1, 20, 20))], 16, r"member 1 reads \(1, 20, 20\)"),
        ([member(8), member(8)], 12, "the members' sum 16"),
        ([member(8), {"name": "ensemble", "input_shape": list(SHAPE), "embedding_dim": 8}], 16, "itself an ensemble"),
    ],
)
def test_malformed_ensembles_are_refused(members: list, embedding_dim: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_encoder(EncoderConfig("ensemble", SHAPE, embedding_dim, {"members": members}))
