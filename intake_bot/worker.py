"""Extraction worker processes: risky input is read in `python -m intake_bot.worker`, capped in time and memory.

Two requests. `parse`: a whole message (up to `WHOLE_MESSAGE_BYTES`) is parsed and every document read in the
worker, which announces each document with an empty frame (the parent's deadline restarts: each document
has its own time limit); the parent process only waits on a pipe, so parsing a backlog does not compete for
its GIL with the thread that decides and commits. `read`: one document, from the base64 slice of the raw
message, for larger messages (no process then holds two copies of a 40 MB attachment) and as the fallback
when a `parse` fails: the message is then read piece by piece, and only the culprit document is lost.

Protocol on the worker's stdin/stdout: a request is an 8-byte length, a pickled header (the operation and
its arguments, with the payload size), then the payload as it is (no pickling, no copy; `read` decodes it
block by block); answers are 8-byte length frames, empty for progress, then a pickled answer tuple ending
with whether the worker retires, unpickled with only our value classes allowed. A worker serves requests
until its input ends, it asks to be recycled, or it is killed.

Subprocess rather than multiprocessing: measured here, a reused worker costs the same per call either way
(0.1-0.3 ms round trip); a forkserver replaces a dead worker faster (17 ms vs 0.4 s) but keeps one more
resident process and brings multiprocessing's __main__ re-import rules into the daemon and its CLI.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import gc
import hashlib
import io
import logging
import os
import pickle
import resource
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, ClassVar

from .extract import Read
from .limits import Limits
from .mimepart import decode, decode_chunks
from .model import Attachment, Extraction, ParsedMessage, Problem, Section, Signature
from .problem import problem

log = logging.getLogger("intake_bot.worker")
GRACE_S = 5.0  # on top of the worker's own deadline: start-up, transfer, pickling
CHUNK = 1024 * 1024
MAX_CALLS = 1000  # a worker is replaced after this many documents, or sooner when its heap has grown:
RECYCLE_RSS = 256 * 1024 * 1024  # resident bytes after a document above which the worker stops (heaps only grow)
_ROOT = Path(__file__).resolve().parent.parent
_LENGTH = struct.Struct("<Q")
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux


class WorkerLost(Exception):
    """The worker died or stopped answering in time."""


class _ModelUnpickler(pickle.Unpickler):
    """Answers come from a process that read hostile bytes: only our value classes may come back."""

    ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        [("intake_bot.model", c.__name__) for c in (Extraction, Attachment, Section, Problem, ParsedMessage, Signature)]
        + [("datetime", name) for name in ("datetime", "timezone", "timedelta")])  # ParsedMessage.date_header

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
        for fd in (self.wfd, self.rfd):  # 1 MiB pipes: fewer wake-ups per document than the 64 kB default
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, F_SETPIPE_SZ, CHUNK)
        self.calls = 0

    def call(self, request: tuple, payload: memoryview | bytes, limits: Limits) -> tuple[tuple, bool]:  # type: ignore[type-arg]
        """Send one request and its payload; (answer, whether the worker can be reused). Raises WorkerLost."""
        self.calls += 1
        until = time.monotonic() + limits.extraction_timeout_s + GRACE_S
        header = pickle.dumps(request)
        self._send(memoryview(_LENGTH.pack(len(header)) + header), until)
        self._send(memoryview(payload), until)
        while not (size := _LENGTH.unpack(self._recv(_LENGTH.size, until))[0]):  # progress: another document
            until = time.monotonic() + limits.extraction_timeout_s + GRACE_S
        try:
            *answer, recycle = _ModelUnpickler(io.BytesIO(self._recv(size, until))).load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
            self.proc.kill()
            raise WorkerLost(f"bad answer: {exc}") from exc
        return tuple(answer), not recycle and self.calls < MAX_CALLS

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
        """`extract.extract` in a worker."""
        return self.read(filename, content_type, data, "", limits, depth, digest=False).extraction

    def read(self, filename: str, content_type: str, payload: memoryview | bytes, encoding: str, limits: Limits,
             depth: int = 0, *, digest: bool = True) -> Read:
        """Decode (Content-Transfer-Encoding), hash and read one file in a worker."""
        request = ("read", filename, content_type, limits, depth, len(payload), encoding, digest)
        try:
            found = Read(*self._call(request, payload, limits))
        except WorkerLost as lost:
            return _lost(str(lost), payload, encoding, limits, digest)
        return _lost("", payload, encoding, limits, digest, found.extraction) if digest and not found.sha256 \
            else found

    def parse(self, raw: bytes, limits: Limits) -> ParsedMessage | None:
        """`parsing.parse_message` in a worker, documents included; None when the worker failed (the caller then
        reads the message piece by piece)."""
        try:
            (parsed,) = self._call(("parse", limits, len(raw)), raw, limits)
        except WorkerLost as lost:
            log.warning("worker lost parsing a message of %d bytes (%s): reading it piece by piece", len(raw), lost)
            return None
        if not isinstance(parsed, ParsedMessage):  # the parse raised in the worker: the parent's parser states it
            log.warning("the worker could not parse a message of %d bytes: reading it piece by piece", len(raw))
            return None
        return parsed

    def _call(self, request: tuple, payload: memoryview | bytes, limits: Limits) -> tuple:  # type: ignore[type-arg]
        """One request to an idle (or new) worker; a dead, timed-out or unstartable worker raises WorkerLost."""
        with self._slots:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            if worker is not None and worker.proc.poll() is not None:  # died while idle (OOM killer, admin)
                worker.close()
                worker = None
            keep = False
            try:
                worker = worker or Worker()
                answer, keep = worker.call(request, payload, limits)
                return answer
            except OSError as exc:  # the worker could not be started
                raise WorkerLost(f"start failed: {exc}") from exc
            finally:
                if worker is not None:
                    self._release(worker, keep)

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


def _lost(reason: str, payload: memoryview | bytes, encoding: str, limits: Limits, digest: bool,
          found: Extraction | None = None) -> Read:
    """No usable answer: the piece is still listed with its size and SHA-256 (computed here), and the reason."""
    if found is None and reason == "timeout":
        found = Extraction(problems=(problem("timeout", seconds=limits.extraction_timeout_s),))
    elif found is None:
        found = Extraction(problems=(problem("extraction-failed", detail=reason),))
    if not digest:
        return Read(found, len(payload), "", False)
    data, defects = decode(payload, encoding)
    return Read(found, len(data), hashlib.sha256(data).hexdigest(), bool(defects))


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

def _serve(request: tuple, inp: BinaryIO, out: BinaryIO) -> tuple[tuple, bool]:  # type: ignore[type-arg]
    """One request: (answer, stop after answering)."""
    op, *args = request
    if op == "parse":
        return _serve_parse(*args, inp=inp, out=out)
    return _serve_read(*args, inp=inp)


def _serve_parse(limits: Limits, size: int, *, inp: BinaryIO, out: BinaryIO) -> tuple[tuple, bool]:  # type: ignore[type-arg]
    """Parse a whole message here, announcing each document; (None,) when it fails: the parent reads it again
    piece by piece (and, if this was a parser bug, states it as a problem)."""
    from .parsing import parse_here

    def progress() -> None:
        out.write(_LENGTH.pack(0))
        out.flush()

    raw = _whole(inp, size)
    with _memory_capped(limits):
        try:
            parsed = parse_here(raw, limits, progress)
        except MemoryError:
            return (None,), True
        except Exception:  # noqa: BLE001 - the parent decides what a failed parse becomes
            return (None,), False
    starved = any(p.code == "memory" for a in parsed.attachments for p in a.problems)
    return (parsed,), starved


def _serve_read(filename: str, content_type: str, limits: Limits, depth: int, size: int, encoding: str, digest: bool,
                *, inp: BinaryIO) -> tuple[Read, bool]:
    """Read the payload (decoding it on the fly), hash it, read the document: (answer, stop after answering)."""
    from .extract import Context, Deadline, deadline, read

    data, sha, truncated = b"", "", False
    with _memory_capped(limits):
        try:
            data, defects = _payload(inp, size, encoding)
            sha, truncated = hashlib.sha256(data).hexdigest() if digest else "", bool(defects)
            with deadline(limits.extraction_timeout_s):
                return Read(read(filename, content_type, data, Context(limits, depth)), len(data), sha, truncated), False
        except Deadline:
            found = Extraction(problems=(problem("timeout", seconds=limits.extraction_timeout_s),))
            return Read(found, len(data), sha, truncated), False
        except MemoryError:
            found = Extraction(problems=(problem("memory", limit=limits.extraction_memory_mb),))
            return Read(found, len(data), sha, truncated), True  # sha "" if decoding itself failed: the parent hashes


def _payload(inp: BinaryIO, size: int, encoding: str) -> tuple[bytes, list[str]]:
    """The decoded payload: base64 block by block as it arrives (never held whole), anything else read whole."""
    if encoding == "base64":
        return decode_chunks(_pieces(inp, size), encoding)
    return decode(_whole(inp, size), encoding)


def _whole(inp: BinaryIO, size: int) -> bytes:
    """The payload in one allocation (chunks then a join would fault in twice its size: 1 ms per MB here)."""
    data = inp.read(size)
    if len(data) != size:
        raise EOFError("payload cut short")
    return data


def _pieces(inp: BinaryIO, size: int) -> Iterator[bytes]:
    """The payload as it arrives, CHUNK bytes at a time (base64 is decoded block by block, never held whole)."""
    while size > 0:
        piece = inp.read(min(size, CHUNK))
        if not piece:
            raise EOFError("payload cut short")
        size -= len(piece)
        yield piece


def _resident() -> int:
    """This process's resident set size in bytes (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


@contextlib.contextmanager
def _memory_capped(limits: Limits) -> Iterator[None]:
    """The worker's address space capped to `extraction_memory_mb` while it reads one request."""
    _cap_memory(limits.extraction_memory_mb * 1024 * 1024)
    try:
        yield
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
    import docx  # noqa: F401 - the libraries are imported once per worker, not per document
    import odf.opendocument  # noqa: F401
    import openpyxl  # noqa: F401
    import pypdf  # noqa: F401
    import tnefparse  # noqa: F401

    from . import extract, parsing  # noqa: F401

    gc.freeze()  # the preloaded modules never die: keep them out of every collection
    while (head := inp.read(_LENGTH.size)) and len(head) == _LENGTH.size:
        request = pickle.loads(inp.read(_LENGTH.unpack(head)[0]))  # from our parent: trusted
        answer, recycle = _serve(request, inp, out)
        recycle = recycle or _resident() > RECYCLE_RSS
        payload = pickle.dumps((*answer, recycle), protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_LENGTH.pack(len(payload)) + payload)
        out.flush()
        if recycle:
            return


if __name__ == "__main__":
    main()
