"""Settings: one TOML file, environment overrides, secrets from the environment or systemd credentials."""

from __future__ import annotations

import logging
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigError
from .limits import Limits

ENV_OVERRIDES = {
    "INTAKE_MAILBOX_URL": ("mailbox", "url"),
    "INTAKE_SMTP_URL": ("smtp", "url"),
    "INTAKE_DATABASE_URL": ("database", "url"),
}
MAILBOX_SCHEMES = ("imap", "imaps", "maildir")
SMTP_SCHEMES = ("smtp", "smtps", "dir")


@dataclass(frozen=True)
class MailboxSettings:
    url: str = "maildir://var/maildir"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    poll_interval: float = 30.0
    idle_renew: float = 25 * 60.0
    timeout: float = 30.0
    max_retries: int = 3


@dataclass(frozen=True)
class SmtpSettings:
    url: str = "dir://var/outbox"
    from_address: str = "grandsprojets.si@numerique.gouv.fr"
    from_name: str = "DINUM - Grands projets numériques"
    timeout: float = 30.0
    max_per_recipient_per_day: int = 20


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///var/intake.db"


@dataclass(frozen=True)
class StorageSettings:
    blob_dir: str = "var/blobs"


@dataclass(frozen=True)
class IntakeSettings:
    allowed_domains: tuple[str, ...] = ("gouv.fr",)
    our_addresses: tuple[str, ...] = ("grandsprojets.si@numerique.gouv.fr",)
    staff_addresses: tuple[str, ...] = ()
    authserv_id: str = ""
    kit_path: str = "config/kit.toml"
    timezone: str = "Europe/Paris"


@dataclass(frozen=True)
class DeadlineSettings:
    delay: str = "1 month"
    extend_to_working_day: bool = False
    reminder_days: tuple[int, ...] = (7, 2)


@dataclass(frozen=True)
class PartnerSettings:
    anssi: tuple[str, ...] = ()
    budget: tuple[str, ...] = ()


@dataclass(frozen=True)
class DigestSettings:
    recipients: tuple[str, ...] = ()
    hour: int = 8


@dataclass(frozen=True)
class Settings:
    mailbox: MailboxSettings = field(default_factory=MailboxSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    deadline: DeadlineSettings = field(default_factory=DeadlineSettings)
    partners: PartnerSettings = field(default_factory=PartnerSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    limits: Limits = field(default_factory=Limits)
    base_dir: Path = Path(".")  # relative paths in the file are relative to the file's directory

    def path(self, value: str) -> Path:
        """Resolve a configured path against the config file's directory."""
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p


def _coerce(section: str, name: str, default: Any, value: Any) -> Any:
    where = f"[{section}] {name}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{where}: must not be negative, got {value!r}")
        return type(default)(value)
    if isinstance(default, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(value)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _section(cls: type, name: str, data: dict[str, Any]) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"[{name}]: expected a table")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"[{name}]: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    defaults = cls()
    values = {k: _coerce(name, k, getattr(defaults, k), v) for k, v in data.items()}
    return cls(**values)


def _check_urls(settings: Settings) -> None:
    checks = ((settings.mailbox.url, MAILBOX_SCHEMES, "[mailbox] url"), (settings.smtp.url, SMTP_SCHEMES, "[smtp] url"))
    for url, schemes, where in checks:
        scheme = urlsplit(url).scheme
        if scheme not in schemes:
            raise ConfigError(f"{where}: scheme {scheme or '(none)'!r} not supported, use one of {', '.join(schemes)}")
        if scheme in ("imap", "imaps", "smtp", "smtps") and not urlsplit(url).hostname:
            raise ConfigError(f"{where}: {url!r} has no host")
    if "://" not in settings.database.url:
        raise ConfigError(f"[database] url: {settings.database.url!r} is not a SQLAlchemy URL")
    if settings.deadline.delay not in ("1 month", "30 days"):
        raise ConfigError(f"[deadline] delay: {settings.deadline.delay!r}, expected \"1 month\" or \"30 days\"")
    if not 0 <= settings.digest.hour <= 23:
        raise ConfigError(f"[digest] hour: {settings.digest.hour} is not an hour of the day")


SECTIONS = {f.name: f.default_factory for f in fields(Settings) if f.name != "base_dir"}  # type: ignore[misc]


def from_dict(data: dict[str, Any], base_dir: Path = Path("."), env: dict[str, str] | None = None) -> Settings:
    """Build settings from parsed TOML plus environment overrides; raise ConfigError naming the bad key."""
    env = dict(os.environ) if env is None else env
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for var, (section, key) in ENV_OVERRIDES.items():
        if env.get(var):
            data.setdefault(section, {})[key] = env[var]
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"unknown section [{unknown[0]}] (known: {', '.join(SECTIONS)})")
    parts = {name: _section(type(factory()), name, data.get(name, {})) for name, factory in SECTIONS.items()}
    settings = Settings(**parts, base_dir=base_dir)
    _check_urls(settings)
    return settings


def load(path: str | os.PathLike[str] | None, env: dict[str, str] | None = None) -> Settings:
    """Load a config file (or only defaults + environment when path is None)."""
    if path is None:
        return from_dict({}, Path("."), env)
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    return from_dict(data, p.resolve().parent, env)


def secret(name: str, env: dict[str, str] | None = None) -> str | None:
    """A password: $INTAKE_<NAME> or the systemd credential file $CREDENTIALS_DIRECTORY/<name>."""
    env = dict(os.environ) if env is None else env
    value = env.get("INTAKE_" + name.upper().replace("-", "_"))
    if value:
        return value
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / name).is_file():
        return (Path(cred_dir) / name).read_text(encoding="utf-8").strip()
    return None


_URL_WITH_PASSWORD = re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s:/@]*):[^\s@/]*@", re.IGNORECASE)


def redact(url: str) -> str:
    """A URL as it may be printed or logged: its password, if any, replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def redact_urls(text: str) -> str:
    """Every ``scheme://user:password@`` in a free text (an error message) with its password hidden."""
    return _URL_WITH_PASSWORD.sub(r"\1:***@", text)


class RedactingFilter(logging.Filter):
    """A logging filter: no log line carries a password from a URL (journald keeps what it is given)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_urls(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
