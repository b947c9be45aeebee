"""Outlook's winmail.dat (TNEF) with tnefparse: the message body and the attachments it hides."""

from __future__ import annotations

import logging

from .archive import Expand
from .charset import decode
from .filename import sanitize
from .htmltext import html_to_text
from .model import Attachment, Extraction, Problem
from .problem import problem

log = logging.getLogger("intake_bot.extract")


def read_tnef(data: bytes, max_members: int, expand: Expand) -> Extraction:
    from tnefparse.tnef import TNEF

    logging.getLogger("tnefparse").setLevel(logging.CRITICAL)  # it logs every odd property as an error
    try:
        tnef = TNEF(data, do_checksum=False)
    except Exception as exc:  # noqa: BLE001 - tnefparse raises anything from struct.error to ValueError
        return Extraction(container=True, problems=(problem("tnef-unreadable", detail=str(exc)),))
    text, problems = _body(tnef)
    members: list[Attachment] = []
    for index, item in enumerate(tnef.attachments[:max_members], 1):
        name = sanitize(_name(item), f"piece-{index}")
        members.extend(expand(name, name, bytes(item.data or b"")))
    if len(tnef.attachments) > max_members:
        problems.append(problem("too-many-attachments", count=len(tnef.attachments), limit=max_members))
    return Extraction(text=text, container=True, members=tuple(members), problems=tuple(problems))


def _name(item) -> str:  # type: ignore[no-untyped-def]
    """Long file name (MAPI) when present, else the 8.3 title, decoded as Outlook wrote it (ANSI code page)."""
    try:
        name = item.long_filename()
    except (UnicodeDecodeError, ValueError):
        name = item._name  # tnefparse decodes the title as UTF-8; Outlook wrote cp1252
    if isinstance(name, bytes):
        name, _ = decode(name.rstrip(b"\x00"), "windows-1252")
    return str(name or "").rstrip("\x00")


def _body(tnef) -> tuple[str, list[Problem]]:  # type: ignore[no-untyped-def]
    body, html = tnef.body, tnef.htmlbody
    if body:
        return (decode(body, "windows-1252")[0] if isinstance(body, bytes) else str(body)).strip(), []
    if html:
        text = decode(html, "utf-8")[0] if isinstance(html, bytes) else str(html)
        return html_to_text(text), []
    if getattr(tnef, "_rtfbody", None):
        from .rtf import rtf_body_text

        text = rtf_body_text(tnef._rtfbody)  # compressed RTF, decoded here (tnefparse needs compressed_rtf)
        return (text, []) if text else ("", [problem("tnef-rtf-body")])
    return "", []
