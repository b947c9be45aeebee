"""Outgoing mail rendering: strict Jinja2 templates (subject, text and HTML blocks) into RFC 5322 messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from .errors import ConfigError

BLOCKS = ("subject", "text", "html")


def default_template_dir() -> Path:
    """Templates shipped in the wheel, else the repository's templates/emails."""
    packaged = Path(__file__).parent / "templates" / "emails"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "templates" / "emails"


def _date_fr(value: Any) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def _euros(value: int | None) -> str:
    if value is None:
        return "non indiqué"
    if value >= 1_000_000:
        return f"{value / 1_000_000:,.1f} M€".replace(",", "\u202f").replace(".", ",")
    return f"{value:,} €".replace(",", "\u202f")


class Renderer:
    """Renders ``NAME.j2`` (blocks subject / text / html) into an EmailMessage ready for the outbox."""

    def __init__(self, template_dir: Path | None = None) -> None:
        self.env = Environment(loader=FileSystemLoader(str(template_dir or default_template_dir())),
                               undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True,
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters["date_fr"] = _date_fr
        self.env.filters["euros"] = _euros
        self.env.globals["m"] = self.env.get_template("_macros.j2").module  # shared macros, HTML ones escape

    def names(self) -> list[str]:
        return sorted(n[:-3] for n in self.env.list_templates(extensions=["j2"]) if not n.startswith("_"))

    def blocks(self, name: str, context: dict[str, Any]) -> dict[str, str]:
        try:
            template = self.env.get_template(f"{name}.j2")
        except TemplateNotFound:
            raise ConfigError(f"email template {name!r} not found") from None
        ctx = template.new_context(context)
        return {b: "".join(template.blocks[b](ctx)).strip() for b in BLOCKS if b in template.blocks}

    def message(self, name: str, context: dict[str, Any], *, sender: Address, to: list[str], domain: str,
                now: datetime, auto_submitted: str = "auto-replied", in_reply_to: str | None = None,
                references: list[str] | None = None) -> EmailMessage:
        parts = self.blocks(name, context)
        msg = EmailMessage()
        msg["Subject"] = " ".join(parts["subject"].split())
        msg["From"] = sender
        msg["To"] = ", ".join(to)
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = f"<{uuid.uuid4().hex}@{domain}>"
        msg["Auto-Submitted"] = auto_submitted  # RFC 3834: no auto-reply loops
        msg["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office replies to us
        msg["Precedence"] = "bulk" if auto_submitted == "auto-generated" else "auto_reply"
        if in_reply_to:
            msg["In-Reply-To"] = in_reply_to
            msg["References"] = " ".join((references or []) + [in_reply_to])
        msg.set_content(parts["text"] + "\n", charset="utf-8")
        if parts.get("html"):
            msg.add_alternative(parts["html"], subtype="html", charset="utf-8")
        return msg
