"""No cleartext secrets, no secret printed, private files, and nothing from mail that drives a terminal or a
spreadsheet: the real CLI as a subprocess on the embedded default, and the policy functions on addresses."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from intake_bot import cleartext, config, terminal, transport
from intake_bot.errors import ConfigError
from intake_bot.export import row_of, write_csv
from intake_bot.tables import CaseRow
from tests.conftest import EXAMPLES, ROOT

KIT = ROOT / "config" / "kit.toml"
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def write_config(d: Path) -> Path:
    (d / "maildir" / "new").mkdir(parents=True, exist_ok=True)
    cfg = d / "intake-bot.toml"
    cfg.write_text(f"""
[mailbox]
url = "maildir://maildir"
[smtp]
url = "dir://outbox"
[database]
url = "sqlite:///state/intake.db"
[storage]
blob_dir = "state/blobs"
[intake]
kit_path = "{KIT}"
staff_addresses = ["agent@numerique.gouv.fr"]
[digest]
recipients = ["equipe@numerique.gouv.fr"]
""")
    return cfg


def cli(cfg: Path, *args: str, umask: int = 0o022, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    return subprocess.run([sys.executable, "-m", "intake_bot.cli", "--config", str(cfg), *args],
                          env={**clean, **(env or {})}, capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: os.umask(umask))


def deliver(d: Path, raw: bytes, name: str) -> None:
    (d / "maildir" / "new" / f"1764061200.{name}.host").write_bytes(raw)


# -- cleartext ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.3.4.5", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LOCALHOST.", True), ("192.0.2.1", False), ("10.0.0.1", False), ("mail.example.test", False),
    ("localhost.example.test", False), ("127.0.0.1.example.test", False), ("::ffff:8.8.8.8", False),
])
def test_only_loopback_is_excepted(host: str, loopback: bool) -> None:
    assert cleartext.is_loopback(host) is loopback


def test_smtp_with_credentials_to_another_machine_requires_starttls(tmp_path: Path) -> None:
    forced = transport.from_url("smtp://bot@mail.example.test:587", tmp_path, password="pw")
    assert isinstance(forced, transport.SmtpTransport) and forced.starttls == "require"
    local = transport.from_url("smtp://bot@127.0.0.1:2525", tmp_path, password="pw")
    assert isinstance(local, transport.SmtpTransport) and local.starttls == "auto"
    anonymous = transport.from_url("smtp://mail.example.test:25", tmp_path)
    assert isinstance(anonymous, transport.SmtpTransport) and anonymous.starttls == "auto"  # no password to leak
    with pytest.raises(ConfigError, match="refusing to send a password in clear to mail.example.test"):
        transport.from_url("smtp://bot@mail.example.test:587?starttls=off", tmp_path, password="pw")
    allowed = transport.from_url("smtp://bot@mail.example.test:587?starttls=off&cleartext=allow", tmp_path)
    assert isinstance(allowed, transport.SmtpTransport) and allowed.starttls == "off" and allowed.allow_cleartext


@pytest.mark.parametrize("variable, url, secret", [
    ("INTAKE_SMTP_URL", "smtp://bot@192.0.2.1:25?starttls=off", "INTAKE_SMTP_PASSWORD"),
    ("INTAKE_MAILBOX_URL", "imap://bot@192.0.2.1/INBOX?starttls=off", "INTAKE_IMAP_PASSWORD"),
])
def test_the_bot_refuses_a_cleartext_login_before_connecting(tmp_path: Path, variable: str, url: str,
                                                             secret: str) -> None:
    """192.0.2.1 (TEST-NET-1) is never contacted: the refusal comes from the configuration, at once."""
    res = cli(write_config(tmp_path), "run", "--once", env={variable: url, secret: "hunter2"})
    assert res.returncode == 2, res.stderr
    assert "refusing to send a password in clear to 192.0.2.1" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


# -- secrets printed or logged -------------------------------------------------------------------------------
def test_config_check_never_prints_a_password(tmp_path: Path) -> None:
    env = {"INTAKE_DATABASE_URL": "postgresql+psycopg://intake:hunter2@127.0.0.1:1/intake",
           "INTAKE_SMTP_URL": "smtps://bot:s3cret@127.0.0.1:465"}
    res = cli(write_config(tmp_path), "config", "check", env=env)
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    assert "hunter2" not in out and "s3cret" not in out
    assert "postgresql+psycopg://intake:***@127.0.0.1:1/intake" in out and "smtps://bot:***@127.0.0.1:465" in out


def test_log_lines_and_errors_carry_no_url_password() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(config.RedactingFilter())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    try:
        logger.warning("cannot reach %s: %s", "postgresql://intake:hunter2@db/intake", "refused")
    finally:
        logger.removeHandler(handler)
    assert "hunter2" not in stream.getvalue() and "postgresql://intake:***@db/intake" in stream.getvalue()
    assert config.redact("imaps://bot@mail.example.test/INBOX") == "imaps://bot@mail.example.test/INBOX"
    assert config.redact("postgresql://u:p%40ss@db:5432/x") == "postgresql://u:***@db:5432/x"


# -- private files --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_what_the_bot_writes_is_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    cfg = write_config(tmp_path)
    deliver(tmp_path, (EXAMPLES / "01-portalis-justice.eml").read_bytes(), "portalis")
    res = cli(cfg, "run", "--once", umask=umask)
    assert res.returncode == 0, res.stderr
    state = tmp_path / "state"
    made = [p for p in state.rglob("*")] + list((tmp_path / "outbox").rglob("*"))
    files = [p for p in made if p.is_file()]
    dirs = [state, *(p for p in made if p.is_dir())]
    assert any(p.name == "intake.db" for p in files) and any(p.suffix == ".eml" for p in files)
    assert any(p.parent.parent.name == "blobs" for p in files), files  # a stored raw message
    assert any(p.name == "status.json" for p in files) or not (state / "status.json").exists()
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    for p in dirs:
        assert stat.S_IMODE(p.stat().st_mode) == 0o700, p


# -- output hygiene -------------------------------------------------------------------------------------------
def test_escape_shows_controls_and_keeps_lines() -> None:
    assert terminal.escape("a\x1b[2Jb\tc\nd\re\u202ef\x9bg") == "a\\u001b[2Jb\tc\nd\\u000de\\u202ef\\u009bg"
    assert json.loads(json.dumps(terminal.escape("x\u202ey\x85"))) == "x\\u202ey\\u0085"


def test_cli_output_never_carries_a_control_sequence_from_mail(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    raw = (EXAMPLES / "01-portalis-justice.eml").read_bytes()
    evil = "=?utf-8?q?Saisine_=1B]0;owned=07_=1B[2J_=E2=80=AEcod.exe_projet_PORTALIS?="
    raw = re.sub(rb"(?m)^Subject: .*$", f"Subject: {evil}".encode(), raw, count=1)
    raw = re.sub(rb"(?m)^From: [^<\r\n]*<", "From: =?utf-8?q?SG_=1B[31mJustice?= <".encode(), raw, count=1)
    deliver(tmp_path, raw, "evil")
    outsider = re.sub(rb"(?m)^From: .*$", b"From: x@evil.example", raw, count=1)
    outsider = re.sub(rb"(?m)^Message-ID: <", b"Message-ID: <outsider.", outsider, count=1)
    (tmp_path / "maildir" / "new" / f"{int(time.time())}.outsider.host").write_bytes(outsider)  # today's digest
    assert cli(cfg, "run", "--once").returncode == 0
    listed = cli(cfg, "cases", "list")
    ref = re.search(r"GP-\d{4}-\d{4}", listed.stdout)
    assert ref, listed.stdout + listed.stderr
    outputs = {"cases list": listed, "cases show": cli(cfg, "cases", "show", ref[0]),
               "outbox list": cli(cfg, "outbox", "list"), "digest": cli(cfg, "digest", "--preview"),
               "status": cli(cfg, "status"), "cases json": cli(cfg, "cases", "list", "--json")}
    for name, res in outputs.items():
        assert res.returncode in (0, 1, 2) and "Traceback" not in res.stderr, (name, res.stderr)
        assert not RAW_CONTROL.search(res.stdout + res.stderr), (name, res.stdout)
    shown = "".join(r.stdout for r in outputs.values())
    assert "\\u001b" in shown  # shown, not silently dropped
    json.loads(outputs["cases json"].stdout)  # the escapes keep JSON valid


def test_csv_export_neutralises_formulas(tmp_path: Path) -> None:
    from datetime import date, datetime, timezone

    now = datetime(2026, 11, 25, tzinfo=timezone.utc)
    case = CaseRow(ref="GP-2026-0001", state="avis_rendered", project_name='=HYPERLINK("http://x.example","clic")',
                   ministry="@SUM(1+1)", received_at=now, received_on=now.date(), created_at=now, updated_at=now,
                   estimated_cost_eur=12_000_000)
    out = io.StringIO()
    write_csv([row_of(case, date(2026, 12, 1))], out)
    text = out.getvalue()
    assert "'=HYPERLINK" in text and "'@SUM" in text
    assert ",12.0," in text  # our own numbers stay numbers
    for value in ("+1", "-2", "\tx", "\rx", "=1"):
        assert terminal.cell(value) == "'" + value
    assert terminal.cell("Justice") == "Justice" and terminal.cell("") == ""
