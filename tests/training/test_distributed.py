"""The unchanged training loop under torchrun with 2 CPU processes (gloo)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("loss", ["contrastive", "cosface"])
def test_two_processes_keep_identical_replicas_and_only_rank_zero_writes(tmp_path: Path, loss: str) -> None:
    worker = Path(__file__).with_name("distributed_worker.py")
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(free_port()),
         str(worker), str(tmp_path), loss],
        capture_output=True, text=True, timeout=300, env=environment,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    rank0 = (tmp_path / "rank0.txt").read_text().split()
    rank1 = (tmp_path / "rank1.txt").read_text().split()
    assert rank0 == rank1  # same weights (and, for cosface, class proxies) after the same steps
    assert rank0[1] == "4"
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # one writer: rank 1 logged nothing
    assert (tmp_path / "gather0.txt").read_text() == "0 0 1 1"
    assert (tmp_path / "gather1.txt").read_text() == "0 0 1 1"
