"""Pairs scored per second: in-batch pairing against a naive Siamese loop over explicit pairs.

In-batch: the `B` images are encoded once and all `B (B - 1) / 2` pairs are scored from the embeddings
(`comparison.pairwise`, or `in_batch_loss` for training). Naive: the same pairs are listed explicitly and both
images of every pair go through the encoder (`SiameseNetwork.forward`, shared weights, both halves in one
batch), mini-batch after mini-batch. The naive loop does identical work for every mini-batch, so its rate is
measured on the first few mini-batches rather than on all pairs, which at 105x105 would take many minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core_speed_steps import TrainingStep, Variant, Workload, build_encoder, make_batch
from siamkit.comparisons import EuclideanDistance
from siamkit.losses import ContrastiveLoss
from siamkit.mining import mine_pairs
from siamkit.network import SiameseNetwork
from timing import interleaved_runs


@dataclass(frozen=True)
class PairRates:
    """Pairs per second of both methods, and how many naive pairs the rate was measured on."""

    in_batch_pairs_per_second: float
    naive_pairs_per_second: float
    naive_pairs_measured: int

    @property
    def speedup(self) -> float:
        return self.in_batch_pairs_per_second / self.naive_pairs_per_second


class NaivePairLoop:
    """Processes the batch's pairs `pair_batch` at a time, each call the next mini-batch (cycling).

    Args:
        workload: Image size and the number `B` of images whose pairs are formed.
        variant: Memory format / precision, the same as the in-batch side uses.
        pair_batch: Pairs per mini-batch; each mini-batch encodes `2 * pair_batch` images.
        training: Forward, contrastive loss, backward and AdamW step per mini-batch, instead of scoring only.
    """

    def __init__(self, workload: Workload, variant: Variant, pair_batch: int, training: bool) -> None:
        encoder = build_encoder(workload, variant.channels_last)
        self.network = SiameseNetwork(encoder, EuclideanDistance())
        self.network.train(training)
        self.images, labels = make_batch(workload, variant.channels_last)
        self.first, self.second, self.pair_labels = mine_pairs(labels, strategy="all")
        self.pair_batch = pair_batch
        self.training = training
        self.bfloat16 = variant.bfloat16
        self.loss_function = ContrastiveLoss(margin=1.0)
        self.optimizer = torch.optim.AdamW(self.network.parameters(), lr=1e-3)
        self.position = 0
        self.pairs_done = 0

    def _next_chunk(self) -> slice:
        if self.position >= self.first.numel():
            self.position = 0
        chunk = slice(self.position, self.position + self.pair_batch)
        self.position += self.pair_batch
        return chunk

    def __call__(self) -> None:
        chunk = self._next_chunk()
        first_images = self.images[self.first[chunk]]
        second_images = self.images[self.second[chunk]]
        self.pairs_done += first_images.shape[0]
        if not self.training:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bfloat16):
                self.network(first_images, second_images)
            return
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bfloat16):
            distances = self.network(first_images, second_images).float()
        loss = self.loss_function(distances, self.pair_labels[chunk])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


class InBatchScoring:
    """Encodes the `B` images once (eval mode) and scores all `B (B - 1) / 2` pairs from the embeddings."""

    def __init__(self, workload: Workload, variant: Variant) -> None:
        self.encoder = build_encoder(workload, variant.channels_last).eval()
        self.images, labels = make_batch(workload, variant.channels_last)
        self.first, self.second, _ = mine_pairs(labels, strategy="all")
        self.comparison = EuclideanDistance()
        self.bfloat16 = variant.bfloat16

    def __call__(self) -> torch.Tensor:
        with torch.inference_mode():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bfloat16):
                embeddings = self.encoder(self.images).float()
            return self.comparison.pairwise(embeddings, embeddings)[self.first, self.second]


def measure_pair_rates(
    workload: Workload, variant: Variant, training: bool, pair_batch: int, repeats: int
) -> PairRates:
    """Pairs/s of in-batch pairing and of the naive loop for the pairs of one batch of `workload`.

    Args:
        workload: The batch whose `B (B - 1) / 2` pairs are scored.
        variant: Run both methods this way (the same for both, so the ratio isolates the pairing).
        training: Time training (forward, loss, backward, optimizer step) instead of scoring.
        pair_batch: Pairs per naive mini-batch.
        repeats: Timed calls of each side (round-robin, best taken); a naive call is one mini-batch.
    """
    pairs = workload.pairs_per_batch
    in_batch = TrainingStep(workload, variant) if training else InBatchScoring(workload, variant)
    naive = NaivePairLoop(workload, variant, pair_batch, training)
    runs = interleaved_runs({"in_batch": in_batch, "naive": naive}, repeats=repeats)
    return PairRates(
        in_batch_pairs_per_second=pairs / runs["in_batch"].best_seconds,
        naive_pairs_per_second=min(pair_batch, pairs) / runs["naive"].best_seconds,
        naive_pairs_measured=naive.pairs_done,
    )
