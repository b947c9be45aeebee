"""What a MIME tree carries: body text, dossier pieces (forwarded mail, archives, TNEF expanded), signatures."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from email.message import Message

from . import mimepart, signature
from .charset import decode
from .extract import Read, as_attachments
from .filename import content_type_for, extension_for, sanitize
from .htmltext import html_to_text, image_sources
from .limits import Limits
from .mimepart import Part
from .model import Attachment, Extraction, Problem, Signature
from .problem import defect, problem

# (display name, content type, transfer-encoded body, its encoding, container depth) -> what the file says
Extractor = Callable[[str, str, memoryview, str, int], Read]
SIGNATURES = {"application/pkcs7-signature": "smime", "application/x-pkcs7-signature": "smime",
              "application/pgp-signature": "pgp"}
OPAQUE = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
REPORT_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status", "text/rfc822-headers",
                          "message/disposition-notification", "message/feedback-report", "message/external-body"})
_BROKEN_MULTIPART = frozenset({"no-boundary", "boundary-not-found"})
MAX_UNWRAP = 8  # opaque S/MIME signatures opened per message (a signature inside a signature inside …)


@dataclass
class Content:
    """The body text, pieces, problems and signatures found in one message (forwarded ones have their own)."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    files: list[tuple[Part, bool]] = field(default_factory=list)  # (part, inside multipart/related)
    attachments: list[Attachment] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    signatures: list[Signature] = field(default_factory=list)

    @property
    def body_text(self) -> str:
        plain = "\n\n".join(t.strip() for t in self.plain if t.strip())
        return plain or "\n\n".join(html_to_text(h) for h in self.html).strip()

    def add_problem(self, found: Problem) -> None:
        if found not in self.problems:
            self.problems.append(found)


class Walker:
    """Walks one message tree; `count` (pieces listed) is shared with the messages forwarded inside it.

    `bodies=False` only finds the file parts (`pieces`): body text and signatures are not decoded.
    """

    def __init__(self, limits: Limits, extractor: Extractor, *, bodies: bool = True) -> None:
        self.limits, self.extractor, self.bodies = limits, extractor, bodies
        self.count = self.dropped = self.unwrapped = 0

    def message(self, root: Part, depth: int) -> Content:
        content = Content()
        self._visit(root, content, related=False)
        sources = {s.lower() for h in content.html for s in image_sources(h)}
        for index, (part, related) in enumerate(content.files, 1):
            if self.count >= self.limits.max_attachments:
                self.dropped += 1
                continue
            found = self._forwarded(part, depth) if part.children else self._file(part, index, related, sources, depth)
            self.count += sum(1 for a in found if not a.inline)
            content.attachments.extend(found)
        if not content.body_text.strip():  # Outlook "rich text": the real body is inside winmail.dat
            content.plain.extend(a.text for a in content.attachments if a.content_type in TNEF_TYPES and a.text)
        if "-----BEGIN PGP SIGNATURE-----" in content.body_text:
            content.signatures.append(Signature("pgp", signature.pgp_signer(content.body_text.encode())))
        return content

    def pieces(self, root: Part, depth: int = 0) -> Iterator[Part]:
        """The parts `message` reads as files, in its order: a forwarded message, then its own pieces.

        Pieces inside files (ZIP members, winmail.dat, attached .eml) are not MIME parts: not listed.
        """
        content = Content()
        self._visit(root, content, related=False)
        for part, _ in content.files:
            yield part
            if part.children and depth + 1 <= self.limits.max_archive_depth:
                yield from self.pieces(part.children[0], depth + 1)

    def _visit(self, part: Part, content: Content, related: bool) -> None:
        for code in part.defects:
            content.add_problem(defect(code))
        ctype = part.content_type
        if ctype == "multipart/signed" and part.children:
            self._visit(part.children[0], content, related)
            for sig in part.children[1:]:
                self._signature(sig, content, related)
        elif ctype == "multipart/encrypted":
            content.add_problem(problem("encrypted-message", kind="OpenPGP"))
        elif ctype.startswith("multipart/") and (part.children or not _BROKEN_MULTIPART & set(part.defects)):
            for child in part.children:
                self._visit(child, content, related or ctype == "multipart/related")
        elif ctype in OPAQUE:
            self._opaque(part, content, related)
        elif ctype.startswith("multipart/") or _is_body(part, ctype):
            self._body(part, content, ctype)
        elif not (ctype in REPORT_PARTS and not _filename(part)):
            content.files.append((part, related))

    def _body(self, part: Part, content: Content, ctype: str) -> None:
        if not self.bodies:
            return
        data, defects = part.body()
        charset = part.param("charset")
        text, ok = decode(data, charset)
        if not ok:
            content.add_problem(problem("bad-charset", charset=charset))
        if defects:
            content.add_problem(problem("truncated-base64"))
        (content.html if ctype == "text/html" else content.plain).append(text)

    def _signature(self, part: Part, content: Content, related: bool) -> None:
        kind = SIGNATURES.get(part.content_type)
        if kind is None:
            self._visit(part, content, related)
            return
        if not self.bodies:
            return
        data, _ = part.body()
        subject = signature.smime_signer(data) if kind == "smime" else signature.pgp_signer(data)
        content.signatures.append(Signature(kind, subject))

    def _opaque(self, part: Part, content: Content, related: bool) -> None:
        """application/pkcs7-mime: signed-data holds the real message; enveloped-data is encrypted for us."""
        data, _ = part.body()
        kind = signature.cms_kind(data)
        inner = signature.smime_content(data) if kind == "signed" else None
        self.unwrapped += inner is not None
        if inner is not None and self.unwrapped <= MAX_UNWRAP:
            content.signatures.append(Signature("smime", signature.smime_signer(data)))
            self._visit(mimepart.parse(inner, self.limits), content, related)
        elif kind == "enveloped" or "enveloped" in (part.param("smime-type") or ""):
            content.add_problem(problem("encrypted-message", kind="S/MIME"))
        else:
            content.files.append((part, related))

    def _file(self, part: Part, index: int, related: bool, sources: set[str], depth: int) -> list[Attachment]:
        ctype = part.content_type
        name = sanitize(_filename(part), f"piece-{index}{extension_for(ctype)}")
        if ctype in ("application/octet-stream", "application/x-octet-stream", "binary/octet-stream"):
            ctype = content_type_for(name)
        if ctype.startswith("image/") and _shown(part, name, sources, related):
            data, _ = part.body()
            return [Attachment(name, ctype, len(data), hashlib.sha256(data).hexdigest(), path=name, inline=True)]
        body = memoryview(part.buf)[part.start:part.end]
        found, size, digest, truncated = self.extractor(name, ctype, body, part.transfer_encoding, depth)
        if truncated:
            found = replace(found, problems=(problem("truncated-base64", name), *found.problems))
        return as_attachments(name, ctype, size, digest, name, found)

    def _forwarded(self, part: Part, depth: int) -> list[Attachment]:
        """A message/rfc822 part: listed as a container, its own pieces listed under its name."""
        inner = part.children[0]
        raw = memoryview(inner.buf) if inner.buf is not part.buf else memoryview(part.buf)[part.start:part.end]
        subject = _header_text(inner, "subject")
        name = sanitize(_filename(part) or (f"{subject}.eml" if subject else ""), "message-transfere.eml")
        if depth + 1 > self.limits.max_archive_depth:
            found = Extraction(container=True, problems=(problem("archive-too-deep", limit=self.limits.max_archive_depth),))
        else:
            found = self.embedded(inner, depth + 1)
        return as_attachments(name, "message/rfc822", len(raw), hashlib.sha256(raw).hexdigest(), name, found)

    def embedded(self, root: Part, depth: int) -> Extraction:
        content = self.message(root, depth)
        head = "\n".join(f"{label} : {_header_text(root, key)}" for label, key in
                         (("De", "from"), ("Date", "date"), ("Objet", "subject")) if _header_text(root, key))
        return Extraction(text=f"{head}\n\n{content.body_text}".strip(), container=True,
                          members=tuple(content.attachments), problems=tuple(content.problems))


def _is_body(part: Part, ctype: str) -> bool:
    return ctype in ("text/plain", "text/html") and _disposition(part) != "attachment" and not _filename(part)


def _disposition(part: Part) -> str:
    return mimepart.safe(lambda: (part.headers.get_content_disposition() or ""), "")


def _filename(part: Part) -> str:
    name = mimepart.safe(lambda: part.headers.get_filename() or "", "") or part.param("name") or ""
    return _eight_bit_filename(part) or name if "\ufffd" in name else name


def _eight_bit_filename(part: Part) -> str:
    """A file name written as raw 8-bit bytes (old Outlook: Windows-1252), read again from the raw header."""
    legacy = Message()
    for header in ("content-disposition", "content-type"):
        value = mimepart.recovered(part.headers, header)
        if value is not None:
            legacy[header] = value
    return mimepart.safe(lambda: legacy.get_filename() or "", "")


def _shown(part: Part, name: str, sources: set[str], related: bool) -> bool:
    """An image the HTML body displays (cid: or name reference, or multipart/related) is not a dossier piece."""
    cid = re.sub(r"^<|>$", "", str(part.headers.get("content-id", "") or "").strip()).lower()
    if (cid and f"cid:{cid}" in sources) or name.lower() in sources:
        return True
    return related and _disposition(part) != "attachment"


def _header_text(part: Part, name: str) -> str:
    return mimepart.safe(lambda: str(part.headers.get(name, "") or ""), "").strip()


def file_parts(root: Part, limits: Limits) -> Iterator[Part]:
    """The parts a Walker reads as files (attachments, inline images, forwarded mail and their own pieces)."""
    return Walker(limits, _no_reading, bodies=False).pieces(root)


def _no_reading(name: str, ctype: str, body: memoryview, encoding: str, depth: int) -> Read:
    raise AssertionError("file_parts finds parts, it does not read them")


def read_embedded(data: bytes, limits: Limits, extractor: Extractor, depth: int) -> Extraction:
    """A .eml file found in an archive (run in the worker): the same reading as a forwarded message."""
    return Walker(limits, extractor).embedded(mimepart.parse(data, limits), depth)
