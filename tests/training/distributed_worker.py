"""Run by test_distributed.py under torchrun: a few training steps, then each rank records its weights.

Usage: distributed_worker.py OUTPUT [LOSS]; with a class-proxy LOSS (`cosface`) each rank also records its
class proxies, which start from different random draws on each rank unless the trainer shares rank 0's.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).parent))

from conftest import pattern_dataset, small_network
from siamkit.losses import SiameseLoss
from siamkit.training import trainer as trainer_module
from siamkit.training.config import TrainConfig
from siamkit.training.distributed import DistributedContext, gather_across_processes
from siamkit.training.trainer import train


def digest_of(named_tensors: list[tuple[str, torch.Tensor]]) -> str:
    digest = hashlib.sha256()
    for name, value in sorted(named_tensors):
        digest.update(name.encode() + value.detach().numpy().tobytes())
    return digest.hexdigest()


def main(output: Path, loss: str = "contrastive") -> None:
    dist.init_process_group("gloo")  # the trainer joins a caller's group and leaves it open
    rank = dist.get_rank()
    # The gather used for in-batch pairs must concatenate every process's rows in rank order.
    context = DistributedContext(rank=rank, world_size=dist.get_world_size())
    gathered = gather_across_processes(torch.full((2, 1), float(rank)), context)
    (output / f"gather{rank}.txt").write_text(" ".join(str(int(value)) for value in gathered.flatten()))
    config = TrainConfig(
        output_dir=output / "run", epochs=3, max_steps=4, classes_per_batch=4, samples_per_class=4,
        show_progress=False, device="cpu", log_every_steps=1, loss=loss,
    )  # fmt: skip
    built: list[SiameseLoss] = []
    real_build_loss = trainer_module.build_loss

    def recording_build_loss(*args: object) -> SiameseLoss:
        built.append(real_build_loss(*args))  # type: ignore[arg-type]
        return built[-1]

    trainer_module.build_loss = recording_build_loss  # type: ignore[assignment]
    network = small_network(seed=0, comparison="cosine" if loss == "cosface" else "euclidean")
    torch.manual_seed(rank)  # the proxies' random start differs between ranks
    result = train(network, pattern_dataset(), config)
    weights = digest_of(list(result.model.network.named_parameters()))
    proxies = digest_of(list(built[0].named_parameters()))
    (output / f"rank{rank}.txt").write_text(f"{weights} {result.steps} {proxies}\n")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), *sys.argv[2:])
