"""When a password may cross the network without TLS: never, unless to loopback or explicitly allowed."""

from __future__ import annotations

import ipaddress

from .errors import ConfigError

ALLOW = "cleartext"  # the URL option that allows it: ?cleartext=allow


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and the name localhost: traffic that never leaves this machine."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed(query: dict[str, str], what: str) -> bool:
    """The URL's explicit ``cleartext=allow``; any other value is a configuration error."""
    value = query.get(ALLOW, "").strip().lower()
    if value not in ("", "allow"):
        raise ConfigError(f"{what} URL: {ALLOW}={value!r}, expected {ALLOW}=allow")
    return value == "allow"


def refuse_cleartext(what: str, host: str, *, tls: bool, explicit: bool) -> None:
    """ConfigError before any connection when a password would be sent in clear to another machine."""
    if tls or explicit or is_loopback(host):
        return
    raise ConfigError(f"{what}: refusing to send a password in clear to {host}; use TLS "
                      f"(imaps://, smtps:// or ?starttls=require) or add ?{ALLOW}=allow to accept the risk")
