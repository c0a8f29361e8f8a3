"""`GalleryWorker`: owns the service's gallery on one thread.

Python's sqlite3 connections may only be used by the thread that opened them, and the gallery's search index
is not written for concurrent writers either. So the gallery is opened, used and closed on one dedicated
thread, and every request hands it a function to run there: calls are serialised, and the event loop awaits
them without blocking. Gallery calls are cheap (the embeddings are computed beforehand by the micro-batcher),
so one thread keeps up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from siamkit.gallery import Gallery
from siamkit.model import SiameseModel

logger = logging.getLogger(__name__)

Result = TypeVar("Result")


class GalleryWorker:
    """Opens a gallery file on a dedicated thread and runs every gallery call there.

    Args:
        path: The gallery file.
        model: The served model; the gallery must have been made for it.
        create: Create the file when it does not exist (an existing file is never overwritten).

    Raises:
        GalleryError: The file is missing (and `create` is False), locked, corrupt, of another schema version,
            or made for another model.
    """

    def __init__(self, path: Path, model: SiameseModel, create: bool = True) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="siamkit-gallery")
        try:
            self._gallery = self._executor.submit(self._open, path, model, create).result()
        except BaseException:
            self._executor.shutdown()
            raise
        self.path = path
        self._closed = False

    @staticmethod
    def _open(path: Path, model: SiameseModel, create: bool) -> Gallery:
        if create and not path.exists():
            logger.info("no gallery at %s yet; creating an empty one", path)
            return Gallery.create(path, model)
        return Gallery.open(path, model)

    def call(self, function: Callable[[Gallery], Result]) -> Result:
        """Runs `function(gallery)` on the gallery's thread and returns its result (blocking)."""
        return self._executor.submit(function, self._gallery).result()

    async def run(self, function: Callable[[Gallery], Result]) -> Result:
        """Runs `function(gallery)` on the gallery's thread; awaits its result without blocking the event loop."""
        return await asyncio.wrap_future(self._executor.submit(function, self._gallery))

    def close(self) -> None:
        """Closes the gallery file (on its thread) and stops the thread; later calls do nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            self._executor.submit(self._gallery.close).result()
        finally:
            self._executor.shutdown()
