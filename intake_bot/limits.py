"""Limits on everything that comes from outside (DESIGN §7.5): the `[limits]` section of the config."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Each field is a key of the `[limits]` TOML section; the defaults suit a ministry's dossier."""

    max_message_bytes: int = 40 * MiB  # raw size of one message; above it the body is not read
    max_attachments: int = 50  # pieces listed per message, archive members and forwarded mail included
    max_archive_depth: int = 3  # containers inside containers (zip in zip, mail in mail) before we stop
    max_uncompressed_bytes: int = 200 * MiB  # total bytes one archive (nested ones included) may expand to
    max_compression_ratio: int = 100  # uncompressed / compressed size of one archive member (zip bombs)
    max_pdf_pages: int = 500  # a PDF declaring more pages is listed but not read
    extraction_timeout_s: float = 30.0  # wall-clock budget to read one attachment (a whole archive counts as one)
    extraction_memory_mb: int = 512  # address-space cap of the extraction worker process
    max_text_chars: int = 1_000_000  # text kept per document; the rest is cut with a warning
    max_header_bytes: int = 1 * MiB  # header block of one MIME part; beyond it the rest is read as body
    max_mime_depth: int = 30  # nesting of multipart parts (not containers) before the rest is read as one part
