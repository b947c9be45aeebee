"""``intake-bot status``: intake health from the daemon's health file (another process) and the database."""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session

from intake_bot import report
from intake_bot.config import load
from intake_bot.mailbox import MaildirBox
from intake_bot.tables import OutboxRow
from intake_bot.wiring import build
from tests.bot import BOT, Daemon, env, saisines, wait_until, write_config
from tests.conftest import EXAMPLES
from tests.servers import MailAccount, SmtpSink


def cli_status(config: Path, account: MailAccount) -> Any:
    """``intake-bot status --json`` in its own process, as an operator runs it."""
    res = subprocess.run([str(BOT), "-c", str(config), "status", "--json"], env=env(account), capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def status(config: Path) -> dict[str, Any]:
    """The same view in this process (quicker)."""
    return report.status(build(load(config, env={})))


def test_without_a_daemon_the_database_answers_and_uncertain_mail_is_listed(embedded: Any) -> None:
    box = MaildirBox(embedded.settings.base_dir / "maildir")
    box.deliver((EXAMPLES / "01-portalis-justice.eml").read_bytes())
    embedded.pipeline(box).run_once()
    with Session(embedded.engine) as s:  # as if the process had died in the middle of the SMTP exchange
        s.execute(update(OutboxRow).values(state="uncertain"))
        s.commit()
    data = report.status(embedded)
    assert data["daemon"] == "never started" and data["connected"] is False
    assert data["today"] == {"processed": 1, "ignored": 0, "quarantined": 0} and data["failing"] == 0
    assert data["oldest_unprocessed_age_s"] is None and data["outbox"] == {"uncertain": 1}
    (mail,) = data["uncertain"]
    assert mail["to"] == ["sg@justice.gouv.fr"] and "Accusé de réception" in mail["subject"]
    text = report.format_status(data)
    assert "NOT connected; daemon never started" in text and f"UNCERTAIN #{mail['id']}" in text


@pytest.mark.servers
def test_status_of_a_running_then_killed_daemon(tmp_path: Path, imap_account: MailAccount,
                                                smtp_sink: SmtpSink) -> None:
    good, bad = _distinct(saisines(8))
    blocker = tmp_path / "blobs" / hashlib.sha256(bad).hexdigest()[:2]
    blocker.parent.mkdir()
    blocker.write_text("not a directory")  # storing the bad message fails at every attempt
    two_hours_ago = datetime.now(timezone.utc) - timedelta(hours=2)
    imap_account.append(bad, internal_date=two_hours_ago)
    imap_account.append(good)
    config = write_config(tmp_path, imap_account, smtp_sink.port, mailbox={"max_retries": 10})
    assert status(config)["daemon"] == "never started"
    daemon = Daemon(config, imap_account, tmp_path / "bot.log").start()
    try:
        health = tmp_path / "status.json"
        wait_until(lambda: (report.read_health(health) or {}).get("idle"), 30, "the bot to idle", daemon)
        data = cli_status(config, imap_account)
        assert (data["daemon"], data["connected"], data["idle"], data["pid"]) == ("running", True, True,
                                                                                  daemon.proc.pid)  # type: ignore[union-attr]
        fetched = datetime.fromisoformat(data["last_fetch_at"])
        assert timedelta(0) <= datetime.now(timezone.utc) - fetched < timedelta(seconds=30)
        assert data["waiting"] == 1 and abs(data["oldest_unprocessed_age_s"] - 7200) < 60
        assert data["today"]["processed"] == 1 and data["failing"] == 1 and data["outbox"] == {"sent": 1}
        assert "connected, idle; daemon running" in report.format_status(status(config))
        daemon.kill()
        data = status(config)
        assert (data["daemon"], data["connected"]) == ("dead", False)
    finally:
        daemon.kill()


def _distinct(raws: list[bytes]) -> list[bytes]:
    """Two messages whose blobs go to two different directories of the blob store."""
    by_prefix = {hashlib.sha256(raw).hexdigest()[:2]: raw for raw in raws}
    return list(by_prefix.values())[:2]
