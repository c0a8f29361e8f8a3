"""`MicroBatcher`: embeds the images of concurrent requests together, in one model call per batch.

A network embeds 32 images in far less than 32 times the time of one (one pass through the layers, better
use of the CPU's vector units), so under load the service collects what arrives within a few milliseconds,
or until a batch is full, and embeds it at once. One thread runs the model: requests that arrive while a
batch is being embedded wait for the next batch, so batches grow with the load by themselves and the model
never competes with itself for the CPU cores.

The batcher is thread-based and not tied to an event loop: `submit` returns a `concurrent.futures.Future`,
which async code awaits with `asyncio.wrap_future` (see `embed`).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

# (images (N, C, H, W) uint8, branch) -> embeddings (N, D) float32
EmbedFunction = Callable[[np.ndarray, int], np.ndarray]


@dataclass
class _Request:
    images: np.ndarray
    branch: int
    future: Future[np.ndarray]


class MicroBatcher:
    """Collects embedding requests from many threads or event loops and embeds them in batches.

    Args:
        embed_function: Embeds a `uint8 (N, C, H, W)` batch through one branch; called from the batcher's thread.
        max_batch_images: A batch is embedded as soon as it holds this many images.
        max_wait_seconds: Longest wait for more requests after the first one of a batch arrived.

    Attributes:
        embed_calls: How many times `embed_function` has been called (one per batch and branch).
        embedded_images: How many images have been embedded.
    """

    def __init__(self, embed_function: EmbedFunction, max_batch_images: int = 64, max_wait_seconds: float = 0.002):
        self._embed_function = embed_function
        self._max_batch_images = max_batch_images
        self._max_wait_seconds = max_wait_seconds
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._closed = False
        self.embed_calls = 0
        self.embedded_images = 0
        self._thread = threading.Thread(target=self._run, name="siamkit-embedder", daemon=True)
        self._thread.start()

    def submit(self, images: np.ndarray, branch: int = 0) -> Future[np.ndarray]:
        """Queues images for embedding; the future resolves to their `(N, D)` embeddings, in order.

        Args:
            images: `uint8 (N, C, H, W)` preprocessed images.
            branch: Which branch of the network embeds them (1 only for a half-twin's second input).
        """
        if self._closed:
            raise RuntimeError("the micro-batcher is closed")
        future: Future[np.ndarray] = Future()
        self._queue.put(_Request(images, branch, future))
        return future

    async def embed(self, images: np.ndarray, branch: int = 0) -> np.ndarray:
        """Awaits the embeddings of `images` without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(images, branch))

    def close(self) -> None:
        """Embeds what is queued, then stops the batcher's thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            count = len(first.images)
            deadline = time.monotonic() + self._max_wait_seconds
            stopping = False
            while count < self._max_batch_images:
                remaining = deadline - time.monotonic()
                try:
                    request = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if request is None:
                    stopping = True
                    break
                batch.append(request)
                count += len(request.images)
            self._embed_batch(batch)
            if stopping:
                return

    def _embed_batch(self, batch: list[_Request]) -> None:
        # A request whose caller has gone (cancelled future) is dropped; the rest are marked running so that
        # they can no longer be cancelled between here and `set_result`.
        live = [request for request in batch if request.future.set_running_or_notify_cancel()]
        for branch in sorted({request.branch for request in live}):
            group = [request for request in live if request.branch == branch]
            try:
                images = np.concatenate([request.images for request in group])
                embeddings = np.asarray(self._embed_function(images, branch))
                self.embed_calls += 1
                self.embedded_images += len(images)
            except BaseException as error:  # delivered to every waiting request instead of killing the thread
                logger.exception("embedding a batch of %d requests failed", len(group))
                for request in group:
                    request.future.set_exception(error)
                continue
            start = 0
            for request in group:
                stop = start + len(request.images)
                request.future.set_result(embeddings[start:stop])
                start = stop
