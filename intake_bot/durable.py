"""Renames that survive a power cut: the file's data is fsynced before the rename, its directory after it.

A rename is atomic but lives in the directory's metadata; until the directory itself is flushed, a crash can
bring back the old entry (the file "undelivered", the message back in the inbox) even though the data is safe.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (names created, renamed or removed in it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path) -> None:
    """``mkdir -p`` whose new directories stay after a crash (each parent that gained one is fsynced); new
    directories are the bot's own (0700 whatever the umask: they hold mail and personal data)."""
    if path.is_dir():
        return
    ensure_dir(path.parent)
    try:
        path.mkdir(mode=PRIVATE_DIR)
        os.chmod(path, PRIVATE_DIR)  # mkdir's mode is masked by the umask
    except FileExistsError:
        if not path.is_dir():  # a file in the way: let the caller see it
            raise
        return  # created by someone else meanwhile: theirs to flush
    fsync_dir(path.parent)


def write_temp(directory: Path, data: bytes, prefix: str = ".tmp-") -> Path:
    """``data`` in a new temporary file of ``directory``, fsynced: ready to be renamed into place."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def replace(src: Path, dest: Path) -> None:
    """``os.replace`` made durable: the destination directory is fsynced after the rename, and the source
    directory too when the file left another one. ``src`` must hold durable data already (``write_temp``, or
    a file delivered by an MDA)."""
    os.replace(src, dest)
    fsync_dir(dest.parent)
    if os.path.realpath(src.parent) != os.path.realpath(dest.parent):
        fsync_dir(src.parent)


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist (before a library creates it with 0644)."""
    ensure_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return
    os.fchmod(fd, PRIVATE_FILE)
    os.close(fd)
