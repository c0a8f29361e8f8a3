"""The batch source for signature training: writers with their genuine signatures and skilled forgeries.

`make_batch_source` picks it for a `SignatureDataset`. Each batch holds P writers x (K genuine + K forgeries)
(P = `classes_per_batch`, K = `samples_per_class`), and its loss follows `siamkit.mining.signature_pairs`:
genuine pairs of a writer are "same", that writer's forgeries are its negatives, never positives.
"""

from __future__ import annotations

import torch

from siamkit.comparisons import Comparison
from siamkit.data.signature_folder import SignatureDataset
from siamkit.data.signature_sampler import WriterBatchSampler
from siamkit.losses import SiameseLoss
from siamkit.mining.signature_pairs import signature_in_batch_loss
from siamkit.training.batches import Batch, ClassBatches
from siamkit.training.distributed import DistributedContext, gather_across_processes


class SignatureBatches(ClassBatches):
    """P writers x (K genuine + K forgeries) batches, with the signature pair rules in the loss.

    Batches are labelled by writer (`Batch.labels`); which rows are genuine is looked up in the loss.
    """

    def __init__(
        self,
        data: SignatureDataset,
        writers_per_batch: int,
        signatures_per_writer: int,
        mining: str,
        seed: int,
        context: DistributedContext,
    ) -> None:
        sampler = WriterBatchSampler(
            data.writers,
            data.genuine,
            writers_per_batch,
            genuine_per_writer=signatures_per_writer,
            forgeries_per_writer=signatures_per_writer,
            seed=seed,
            rank=context.rank,
            world_size=context.world_size,
        )
        super().__init__(data.writers, writers_per_batch, signatures_per_writer, mining, seed, context, sampler=sampler)
        self.genuine = data.genuine

    def loss(self, embeddings: torch.Tensor, batch: Batch, comparison: Comparison, loss: SiameseLoss) -> torch.Tensor:
        assert batch.labels is not None
        device = embeddings.device
        writers = gather_across_processes(batch.labels.to(device), self.context)
        # As bytes: not every process-group backend gathers bool tensors.
        genuine = gather_across_processes(self.genuine[batch.input_indices].to(device, torch.uint8), self.context)
        all_embeddings = gather_across_processes(embeddings, self.context)
        return signature_in_batch_loss(all_embeddings, writers, genuine.bool(), comparison, loss, strategy=self.mining)
