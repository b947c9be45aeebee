"""Extraction worker processes: risky documents are read in `python -m intake_bot.worker`, capped in time and memory.

Protocol on the worker's stdin/stdout: a request is an 8-byte length, a pickled header (name, type, limits,
depth, size), then the file's bytes as they are (no pickling, no copy); the answer is an 8-byte length and
a pickled (Extraction, recycle) pair. A worker serves requests until it is told to stop, dies, or is killed.
"""

from __future__ import annotations

import atexit
import io
import os
import pickle
import resource
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from .limits import Limits
from .model import Attachment, Extraction, Problem, Section
from .problem import problem

GRACE_S = 5.0  # on top of the worker's own deadline: start-up, transfer, pickling
CHUNK = 1024 * 1024
MAX_CALLS = 200  # a worker is replaced after this many documents (fragmented heaps only grow)
_ROOT = Path(__file__).resolve().parent.parent
_LENGTH = struct.Struct("<Q")


class WorkerLost(Exception):
    """The worker died or stopped answering in time."""


class _ModelUnpickler(pickle.Unpickler):
    """Answers come from a process that read hostile bytes: only our value classes may come back."""

    ALLOWED = {("intake_bot.model", c.__name__) for c in (Extraction, Attachment, Section, Problem)}

    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"unexpected class {module}.{name} from the worker")
        return super().find_class(module, name)  # type: ignore[no-any-return]


class Worker:
    """One worker process and its pipes (parent side)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "intake_bot.worker"], cwd=_ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.wfd, self.rfd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        os.set_blocking(self.wfd, False)
        self.calls = 0

    def call(self, filename: str, content_type: str, data: bytes, limits: Limits, depth: int) -> tuple[Extraction, bool]:
        """(what was read, whether the worker can be reused); raises WorkerLost."""
        self.calls += 1
        until = time.monotonic() + limits.extraction_timeout_s + GRACE_S
        header = pickle.dumps((filename, content_type, limits, depth, len(data)))
        self._send(memoryview(_LENGTH.pack(len(header)) + header), until)
        self._send(memoryview(data), until)
        size = _LENGTH.unpack(self._recv(_LENGTH.size, until))[0]
        result, recycle = _ModelUnpickler(io.BytesIO(self._recv(size, until))).load()
        return result, not recycle and self.calls < MAX_CALLS

    def _send(self, view: memoryview, until: float) -> None:
        sent = 0
        while sent < len(view):
            self._wait([], [self.wfd], until)
            try:
                sent += os.write(self.wfd, view[sent:sent + CHUNK])
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise WorkerLost(self._death()) from exc

    def _recv(self, size: int, until: float) -> bytes:
        buf = bytearray()
        while len(buf) < size:
            self._wait([self.rfd], [], until)
            chunk = os.read(self.rfd, min(CHUNK, size - len(buf)))
            if not chunk:
                raise WorkerLost(self._death())
            buf += chunk
        return bytes(buf)

    def _wait(self, readers: list[int], writers: list[int], until: float) -> None:
        remaining = until - time.monotonic()
        if remaining <= 0 or not any(select.select(readers, writers, [], remaining)):
            raise WorkerLost("timeout")

    def _death(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "no answer"
        return f"signal {-code}" if code < 0 else f"exit {code}"

    def close(self) -> None:
        self.proc.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self.proc.wait()


class Pool:
    """Reusable workers (`size` documents read at once); a dead or timed-out worker is replaced."""

    def __init__(self, size: int = 1) -> None:
        self._idle: list[Worker] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)

    def extract(self, filename: str, content_type: str, data: bytes, limits: Limits, depth: int = 0) -> Extraction:
        with self._slots:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            keep = False
            try:
                worker = worker or Worker()
                result, keep = worker.call(filename, content_type, data, limits, depth)
            except WorkerLost as lost:
                result = _lost(str(lost), limits)
            except OSError as exc:  # the worker could not be started
                result = Extraction(problems=(problem("extraction-failed", detail=str(exc)),))
            finally:
                if worker is not None:
                    self._release(worker, keep)
            return result

    def _release(self, worker: Worker, keep: bool) -> None:
        if keep:
            with self._lock:
                self._idle.append(worker)
        else:
            worker.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()


def _lost(reason: str, limits: Limits) -> Extraction:
    if reason == "timeout":
        return Extraction(problems=(problem("timeout", seconds=limits.extraction_timeout_s),))
    return Extraction(problems=(problem("extraction-failed", detail=reason),))


_POOL: Pool | None = None
_POOL_LOCK = threading.Lock()


def default_pool() -> Pool:
    """The process-wide pool, started on first use (no process is started at import)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = Pool()
            atexit.register(_POOL.close)
        return _POOL


# ----- worker side -----------------------------------------------------------------------------------------

def _serve(filename: str, content_type: str, data: bytes, limits: Limits, depth: int) -> tuple[Extraction, bool]:
    from .extract import Context, Deadline, deadline, read

    _cap_memory(limits.extraction_memory_mb * 1024 * 1024)
    try:
        with deadline(limits.extraction_timeout_s):
            return read(filename, content_type, data, Context(limits, depth)), False
    except Deadline:
        return Extraction(problems=(problem("timeout", seconds=limits.extraction_timeout_s),)), False
    except MemoryError:
        return Extraction(problems=(problem("memory", limit=limits.extraction_memory_mb),)), True
    finally:
        _cap_memory(resource.RLIM_INFINITY)


def _cap_memory(soft: int) -> None:
    """Set the soft address-space limit (RLIM_INFINITY lifts it); never above the hard limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY and (soft == resource.RLIM_INFINITY or soft > hard):
        soft = hard
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def main() -> None:
    """Serve requests on stdin/stdout until end of input."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print() must not corrupt the protocol
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    import docx, odf.opendocument, openpyxl, pypdf, tnefparse  # noqa: E401, F401 - warm up once, not per document

    from . import extract  # noqa: F401
    while (head := inp.read(_LENGTH.size)) and len(head) == _LENGTH.size:
        filename, content_type, limits, depth, size = pickle.loads(inp.read(_LENGTH.unpack(head)[0]))
        data = inp.read(size)
        if len(data) != size:
            return
        result, recycle = _serve(filename, content_type, data, limits, depth)
        del data
        payload = pickle.dumps((result, recycle), protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_LENGTH.pack(len(payload)) + payload)
        out.flush()
        if recycle:
            return


if __name__ == "__main__":
    main()
