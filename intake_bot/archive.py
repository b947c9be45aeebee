"""ZIP archives: members listed and read in memory, sizes and ratios checked before and while inflating."""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import replace

from .filename import sanitize, sanitize_path
from .model import Attachment, Extraction, Problem
from .problem import problem

CHUNK = 1024 * 1024
# (display name, relative path, decoded bytes) -> that member and what it contains, paths relative to the archive
Expand = Callable[[str, str, bytes], list[Attachment]]


class Budget:
    """Bytes one top-level archive may still expand to (nested archives draw on the same budget)."""

    def __init__(self, total: int) -> None:
        self.total = self.remaining = total
        self.expired = False  # the time limit fired: stop reading further members


class TooLarge(Exception):
    """Inflating a member went past the archive budget, its declared size or the ratio limit."""


def open_zip(data: bytes) -> zipfile.ZipFile | None:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, KeyError, IndexError):
        return None


def package_problem(data: bytes, max_bytes: int) -> Problem | None:
    """Why an Office/OpenDocument package must not be handed to its library (bomb, encryption), if it must not."""
    archive = open_zip(data)
    if archive is None:
        return None  # the library will say it is unreadable
    with archive:
        infos = archive.infolist()
        if sum(i.file_size for i in infos) > max_bytes:
            return problem("archive-too-large", limit=max_bytes)
        if any(i.filename == "META-INF/manifest.xml" and i.file_size < 1_000_000
               and b"encryption-data" in archive.read(i) for i in infos):
            return problem("encrypted")
    return None


def read_zip(data: bytes, budget: Budget, ratio: int, max_members: int, expand: Expand) -> Extraction:
    archive = open_zip(data)
    if archive is None:
        return Extraction(container=True, problems=(problem("archive-unreadable", detail="bad zip"),))
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        declared = sum(i.file_size for i in infos if _expandable(i, ratio))  # bombs are listed, not counted
        if declared > budget.remaining:
            return Extraction(container=True, problems=(problem("archive-too-large", limit=budget.total),))
        problems: list[Problem] = []
        if len(infos) > max_members:
            problems.append(problem("too-many-attachments", count=len(infos), limit=max_members))
        members: list[Attachment] = []
        for info in infos[:max_members]:
            if budget.expired:
                break
            members.extend(_member(archive, info, budget, ratio, expand))
    return Extraction(container=True, members=tuple(members), problems=tuple(problems))


def _expandable(info: zipfile.ZipInfo, ratio: int) -> bool:
    return not info.flag_bits & 0x1 and info.file_size <= ratio * max(info.compress_size, 1)


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget, ratio: int,
            expand: Expand) -> list[Attachment]:
    path = sanitize_path(member_name(info)) or "piece"
    name = sanitize(path.rpartition("/")[2])
    unread = Attachment(name, "application/octet-stream", info.file_size, "", path=path)
    if info.flag_bits & 0x1:
        return [_with(unread, problem("encrypted", name))]
    if info.file_size > ratio * max(info.compress_size, 1):
        found = info.file_size // max(info.compress_size, 1)
        return [_with(unread, problem("zip-bomb", name, ratio=found, limit=ratio))]
    try:
        data = inflate(archive, info, budget, ratio)
    except TooLarge:
        return [_with(unread, problem("archive-too-large", name, limit=budget.total))]
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError, OSError) as exc:
        return [_with(unread, problem("unreadable", name, kind="zip", detail=str(exc)))]
    return expand(name, path, data)


def _with(attachment: Attachment, issue: Problem) -> Attachment:
    return replace(attachment, problems=(*attachment.problems, issue))


def inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget, ratio: int) -> bytes:
    """The member's bytes, counted while streaming: declared sizes can lie, the budget cannot."""
    cap = min(info.file_size, budget.remaining, ratio * max(info.compress_size, 1))
    chunks, total = [], 0
    with archive.open(info) as stream:
        while chunk := stream.read(CHUNK):
            total += len(chunk)
            if total > cap:
                raise TooLarge(info.filename)
            chunks.append(chunk)
    budget.remaining -= total
    return b"".join(chunks)


def member_name(info: zipfile.ZipInfo) -> str:
    """The member's name as its author typed it: UTF-8 without the flag (macOS, 7-Zip) or CP850 (Windows, France)."""
    name = info.filename
    if info.flag_bits & 0x800:
        return name
    try:
        raw = name.encode("cp437")
    except UnicodeEncodeError:
        return name
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp850")
