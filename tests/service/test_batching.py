"""The micro-batcher: requests that wait together are embedded in one call, in order, errors delivered."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from siamkit.service.batching import MicroBatcher


def images(*levels: int) -> np.ndarray:
    return np.stack([np.full((1, 2, 2), level, dtype=np.uint8) for level in levels])


class RecordingEmbedder:
    """Embeds an image as its first pixel and the branch; the first call blocks until released."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[int], int]] = []
        self.first_call_started = threading.Event()
        self.release = threading.Event()

    def __call__(self, batch: np.ndarray, branch: int) -> np.ndarray:
        self.calls.append((batch[:, 0, 0, 0].tolist(), branch))
        if len(self.calls) == 1:
            self.first_call_started.set()
            assert self.release.wait(10)
        return np.stack([batch[:, 0, 0, 0].astype(np.float32), np.full(len(batch), branch, np.float32)], axis=1)


def test_requests_queued_while_the_model_is_busy_are_embedded_together() -> None:
    embedder = RecordingEmbedder()
    batcher = MicroBatcher(embedder, max_batch_images=100, max_wait_seconds=0.0)
    try:
        first = batcher.submit(images(1))
        assert embedder.first_call_started.wait(10)
        # These three arrive while the first batch is being embedded, so they form the next batch together.
        waiting = [batcher.submit(images(2, 3)), batcher.submit(images(4)), batcher.submit(images(5, 6, 7))]
        embedder.release.set()
        results = [future.result(10) for future in [first, *waiting]]
    finally:
        batcher.close()
    assert embedder.calls == [([1], 0), ([2, 3, 4, 5, 6, 7], 0)]
    assert [result[:, 0].tolist() for result in results] == [[1], [2, 3], [4], [5, 6, 7]]
    assert batcher.embed_calls == 2 and batcher.embedded_images == 7


def test_a_full_batch_is_embedded_at_once_and_branches_are_embedded_separately() -> None:
    embedder = RecordingEmbedder()
    batcher = MicroBatcher(embedder, max_batch_images=3, max_wait_seconds=5.0)
    try:
        blocker = batcher.submit(images(0, 0, 0))  # a full batch: embedded without waiting
        assert embedder.first_call_started.wait(10)
        first = batcher.submit(images(1), branch=0)
        second = batcher.submit(images(2), branch=1)
        third = batcher.submit(images(3), branch=0)
        embedder.release.set()
        # Three images fill the batch, so it does not wait the 5 seconds for more.
        results = [future.result(4) for future in (blocker, first, second, third)]
    finally:
        batcher.close()
    assert embedder.calls == [([0, 0, 0], 0), ([1, 3], 0), ([2], 1)]
    assert [result.tolist() for result in results[1:]] == [[[1, 0]], [[2, 1]], [[3, 0]]]


def test_an_embedding_error_reaches_every_request_of_the_batch_and_the_batcher_goes_on() -> None:
    calls = []

    def failing_then_working(batch: np.ndarray, branch: int) -> np.ndarray:
        calls.append(len(batch))
        if len(calls) == 1:
            raise ValueError("model exploded")
        return np.zeros((len(batch), 2), dtype=np.float32)

    batcher = MicroBatcher(failing_then_working, max_batch_images=10, max_wait_seconds=0.0)
    try:
        with pytest.raises(ValueError, match="model exploded"):
            batcher.submit(images(1)).result(10)
        assert batcher.submit(images(1, 2)).result(10).shape == (2, 2)
    finally:
        batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit(images(1))
