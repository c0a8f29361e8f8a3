"""Decoding many images at once, in parallel, into one preallocated `uint8` array.

Small images (Omniglot's 105x105 PNGs) spend most of their decoding time in Pillow's Python code, which
holds the GIL, so threads do not speed them up; large loads on Linux therefore use a forked process pool.
Small loads, and platforms without a safe `fork`, use threads, which still help when decoding big images
(Pillow releases the GIL inside its C decoders and resizers).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from siamkit.data.preprocessing import ImageSource, PreprocessingConfig, load_image_array
from siamkit.errors import DataError

# Images per task: large enough to amortise scheduling and pickling, small enough for a smooth progress bar.
_CHUNK = 256
# Below this many images, starting processes costs more than it saves.
_PROCESS_THRESHOLD = 1000


@dataclass(frozen=True)
class ZipMember:
    """An image stored in a zip archive, read in place (never extracted).

    Attributes:
        archive: Path of the zip file.
        member: The member's name inside the archive ("cedar/3/original_3_1.png").
    """

    archive: str
    member: str


class _ZipReaders:
    """Open zip archives by path, shared by the threads of one process.

    Opening a zip parses its whole central directory (tens of milliseconds for Omniglot's 19,280 entries),
    so each archive is opened once per process, not once per image.
    """

    def __init__(self) -> None:
        self._archives: dict[str, zipfile.ZipFile] = {}
        self._lock = threading.Lock()

    def read(self, member: ZipMember) -> bytes:
        # One file handle per archive: reads must not interleave. Decoding happens outside the lock.
        with self._lock:
            archive = self._archives.get(member.archive)
            if archive is None:
                archive = self._archives[member.archive] = zipfile.ZipFile(member.archive)
            return archive.read(member.member)

    def close(self) -> None:
        with self._lock:
            for archive in self._archives.values():
                archive.close()
            self._archives.clear()


DecodableSource = ImageSource | ZipMember

# The zip readers of a pool worker process, created by `_start_worker` after the fork.
_worker_readers: _ZipReaders | None = None


def _start_worker() -> None:
    global _worker_readers
    _worker_readers = _ZipReaders()


def _decode(
    sources: Sequence[DecodableSource],
    names: Sequence[str | None],
    config: PreprocessingConfig,
    readers: _ZipReaders,
) -> np.ndarray:
    height, width = config.image_size
    output = np.empty((len(sources), config.channels, height, width), dtype=np.uint8)
    for index, (source, name) in enumerate(zip(sources, names, strict=True)):
        if isinstance(source, ZipMember):
            name = name or f"{source.archive}/{source.member}"
            try:
                source = readers.read(source)
            except (OSError, RuntimeError, KeyError, zipfile.BadZipFile, zlib.error) as error:
                # Encrypted members raise RuntimeError, bad CRCs BadZipFile, missing members KeyError.
                raise DataError(f"{name}: cannot read it from the zip ({error})") from None
        output[index] = load_image_array(source, config, name)
    return output


def _decode_in_worker(
    sources: Sequence[DecodableSource], names: Sequence[str | None], config: PreprocessingConfig
) -> np.ndarray:
    assert _worker_readers is not None, "the pool initializer sets the worker's zip readers"
    return _decode(sources, names, config, _worker_readers)


def _can_fork() -> bool:
    # fork is safe here because workers only run Pillow and NumPy; macOS and Windows lack a safe fork, and
    # daemonic processes (DataLoader workers) may not start children.
    return (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    )


def default_workers() -> int:
    """The CPUs this process may use, at most 8."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        available = os.cpu_count() or 1
    return max(1, min(8, available))


def load_image_arrays(
    sources: Sequence[DecodableSource],
    config: PreprocessingConfig,
    names: Sequence[str] | None = None,
    *,
    workers: int | None = None,
    show_progress: bool = False,
    description: str = "Decoding images",
) -> np.ndarray:
    """Decodes and preprocesses many images into one `uint8` array `(N, channels, height, width)`.

    Args:
        sources: Anything `open_image` accepts, or `ZipMember`s.
        config: The preprocessing every image gets (see `load_image_array`).
        names: What to call each image in errors (defaults to its path).
        workers: Parallel workers; defaults to the usable CPUs (at most 8). 1 decodes in this thread.
        show_progress: Show a rich progress bar (for the CLI; the library is otherwise silent).
        description: Label of the progress bar.

    Raises:
        DataError: naming the first image, in order, that cannot be decoded.
    """
    count = len(sources)
    if names is not None and len(names) != count:
        raise ValueError(f"got {count} sources but {len(names)} names")
    all_names: Sequence[str | None] = names if names is not None else [None] * count
    workers = workers or default_workers()
    height, width = config.image_size
    output = np.empty((count, config.channels, height, width), dtype=np.uint8)
    chunks = [(start, min(start + _CHUNK, count)) for start in range(0, count, _CHUNK)]
    readers = _ZipReaders()
    executor: Executor | None = None
    if workers > 1 and count >= _PROCESS_THRESHOLD and _can_fork():
        executor = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker
        )
    elif workers > 1 and len(chunks) > 1:
        executor = ThreadPoolExecutor(workers)

    def results() -> Iterator[np.ndarray]:
        if executor is None:
            for start, stop in chunks:
                yield _decode(sources[start:stop], all_names[start:stop], config, readers)
        elif isinstance(executor, ProcessPoolExecutor):
            yield from executor.map(
                _decode_in_worker,
                [sources[start:stop] for start, stop in chunks],
                [all_names[start:stop] for start, stop in chunks],
                [config] * len(chunks),
            )
        else:
            yield from executor.map(
                lambda span: _decode(sources[span[0] : span[1]], all_names[span[0] : span[1]], config, readers),
                chunks,
            )

    progress = None
    if show_progress:
        from rich.progress import Progress  # imported lazily: only the CLI shows progress

        progress = Progress(transient=True)
        progress.start()
    try:
        task = progress.add_task(description, total=count) if progress is not None else None
        for (start, stop), decoded in zip(chunks, results(), strict=True):
            output[start:stop] = decoded
            if progress is not None and task is not None:
                progress.advance(task, stop - start)
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        readers.close()
        if progress is not None:
            progress.stop()
    return output
