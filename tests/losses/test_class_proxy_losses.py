"""CosFace and ArcFace against hand-written per-example loops, and their checks of bad input."""

from __future__ import annotations

import math

import pytest
import torch

from siamkit.errors import ConfigError, DataError
from siamkit.losses import ArcFaceLoss, CosFaceLoss, create_loss, takes_class_count


def unit(vector: list[float]) -> list[float]:
    length = math.sqrt(sum(value * value for value in vector))
    return [value / length for value in vector]


def loop_proxy_softmax(
    embeddings: list[list[float]], proxies: list[list[float]], labels: list[int], scale: float, true_logit
) -> float:
    """Mean over examples of -log softmax, written out: cosines, the true class's penalised, scaled, softmaxed."""
    total = 0.0
    for embedding, label in zip(embeddings, labels, strict=True):
        cosines = [sum(a * b for a, b in zip(unit(embedding), unit(proxy), strict=True)) for proxy in proxies]
        logits = [scale * (true_logit(cosine) if index == label else cosine) for index, cosine in enumerate(cosines)]
        top = max(logits)
        log_sum = top + math.log(sum(math.exp(logit - top) for logit in logits))
        total += log_sum - logits[label]
    return total / len(labels)


def cosface_reference(margin: float):
    return lambda cosine: cosine - margin


def arcface_reference(margin: float):
    def penalised(cosine: float) -> float:
        angle = math.acos(cosine)
        return math.cos(angle + margin) if angle < math.pi - margin else cosine - margin * math.sin(margin)

    return penalised


@pytest.mark.parametrize(("name", "reference"), [("cosface", cosface_reference), ("arcface", arcface_reference)])
@pytest.mark.parametrize(("scale", "margin"), [(1.0, 0.0), (30.0, 0.25), (16.0, 0.5)])
def test_matches_the_loop(name: str, reference, scale: float, margin: float) -> None:
    torch.manual_seed(0)
    loss = create_loss(name, num_classes=5, embedding_dim=3, scale=scale, margin=margin).double()
    embeddings = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 4, 2, 2, 1, 3, 0])
    value = loss(embeddings, labels)
    expected = loop_proxy_softmax(embeddings.tolist(), loss.proxies.tolist(), labels.tolist(), scale, reference(margin))
    assert value.item() == pytest.approx(expected, rel=1e-9)
    value.backward()
    assert embeddings.grad is not None and torch.isfinite(embeddings.grad).all()
    assert loss.proxies.grad is not None and torch.isfinite(loss.proxies.grad).all()


def test_with_no_margin_both_are_the_normalised_softmax() -> None:
    embeddings, labels = torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    cosface = CosFaceLoss(3, 4, scale=10.0, margin=0.0)
    arcface = ArcFaceLoss(3, 4, scale=10.0, margin=0.0)
    arcface.load_state_dict(cosface.state_dict())
    assert arcface(embeddings, labels).item() == pytest.approx(cosface(embeddings, labels).item(), rel=1e-5)


def test_a_margin_makes_the_same_embeddings_cost_more() -> None:
    torch.manual_seed(1)
    embeddings, labels = torch.randn(8, 4), torch.randint(0, 3, (8,))
    for loss_class in (CosFaceLoss, ArcFaceLoss):
        plain = loss_class(3, 4, scale=10.0, margin=0.0)
        strict = loss_class(3, 4, scale=10.0, margin=0.3)
        strict.load_state_dict(plain.state_dict())
        assert strict(embeddings, labels) > plain(embeddings, labels)


def test_embeddings_on_their_proxies_cost_little() -> None:
    loss = CosFaceLoss(4, 4, scale=30.0, margin=0.25)
    with torch.no_grad():
        loss.proxies.copy_(torch.eye(4))
    labels = torch.tensor([0, 1, 2, 3])
    assert loss(torch.eye(4) * 3.0, labels).item() < 1e-6  # length does not matter, only direction
    assert loss(torch.eye(4).roll(1, dims=1), labels).item() > 10.0


def test_arcface_never_rewards_moving_away_from_the_proxy() -> None:
    loss = ArcFaceLoss(2, 2, scale=1.0, margin=0.5)
    cosines = torch.linspace(-1.0, 1.0, 201, requires_grad=True)
    penalised = loss.margin_cosine(cosines)
    assert (penalised[1:] >= penalised[:-1]).all()  # rises with the cosine, even past pi - margin
    penalised.sum().backward()
    assert cosines.grad is not None and (cosines.grad[:-1] > 0).all()  # and always has a gradient
    opposite = loss.margin_cosine(torch.tensor([-1.0]))
    assert opposite.item() == pytest.approx(-1.0 - 0.5 * math.sin(0.5))  # the fallback branch


def test_class_losses_declare_their_input_and_need_their_sizes() -> None:
    assert takes_class_count("cosface") and takes_class_count("arcface") and not takes_class_count("triplet")
    assert CosFaceLoss(3, 2).input_kind == "classes"
    with pytest.raises(ConfigError, match="num_classes and embedding_dim"):
        create_loss("cosface")
    with pytest.raises(ConfigError, match="at least 2 classes"):
        create_loss("arcface", num_classes=1, embedding_dim=4)
    with pytest.raises(ConfigError, match="scale > 0"):
        create_loss("cosface", num_classes=3, embedding_dim=4, scale=0.0)
    with pytest.raises(ConfigError, match="bad options"):
        create_loss("cosface", num_classes=3, embedding_dim=4, temperature=0.1)


def test_bad_inputs_are_data_errors() -> None:
    loss = CosFaceLoss(3, 4)
    with pytest.raises(DataError, match=r"\(B, 4\) embeddings"):
        loss(torch.randn(2, 5), torch.tensor([0, 1]))
    with pytest.raises(DataError, match="one label per embedding"):
        loss(torch.randn(2, 4), torch.tensor([0, 1, 2]))
    with pytest.raises(DataError, match=r"labels must lie in 0..2"):
        loss(torch.randn(2, 4), torch.tensor([0, 3]))
