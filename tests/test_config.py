"""Configuration: the example file is complete and valid, errors name the key, the environment overrides."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from intake_bot import config
from intake_bot.cli import main
from intake_bot.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "intake-bot.example.toml"


def test_example_config_loads_and_documents_every_key():
    settings = config.load(EXAMPLE, env={})
    data = tomllib.loads(EXAMPLE.read_text())
    text = EXAMPLE.read_text()
    for section, factory in config.SECTIONS.items():
        declared = {f.name for f in fields(type(factory()))}
        assert set(data.get(section, {})) == declared, f"[{section}] keys drifted from the Settings dataclass"
        for key in declared:  # every key is preceded by a comment line
            assert re.search(rf"#[^\n]*\n(#[^\n]*\n)*{key} =", text), f"[{section}] {key} has no comment"
    assert settings.mailbox.url.startswith("maildir://")


def test_environment_overrides_the_three_urls(tmp_path):
    env = {"INTAKE_MAILBOX_URL": "imaps://bot@imap.example.org/INBOX", "INTAKE_SMTP_URL": "smtp://relay:587",
           "INTAKE_DATABASE_URL": "postgresql+psycopg://intake@db/intake"}
    s = config.load(EXAMPLE, env=env)
    assert (s.mailbox.url, s.smtp.url, s.database.url) == tuple(env.values())


@pytest.mark.parametrize("toml, message", [
    ('[mailbox]\nurl = "pop3://x"', "[mailbox] url: scheme 'pop3' not supported"),
    ('[mailbox]\nurl = "imaps:///INBOX"', "has no host"),
    ('[smtp]\nurl = "ftp://x"', "[smtp] url"),
    ('[limits]\nmax_pdf_pages = "many"', "[limits] max_pdf_pages: expected a number"),
    ('[limits]\nmax_pdf_pages = -1', "must not be negative"),
    ('[intake]\nstaff = []', "unknown key 'staff'"),
    ('[mailboxes]\nurl = "x"', "unknown section [mailboxes]"),
    ('[deadline]\ndelay = "2 months"', "[deadline] delay"),
    ('[deadline]\nextend_to_working_day = "yes"', "expected true or false"),
    ('[mailbox\nurl = 1', "invalid TOML"),
])
def test_bad_config_names_the_key(tmp_path, toml, message):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.load(path, env={})


def test_config_check_exit_codes(tmp_path, capsys):
    assert main(["--config", str(EXAMPLE), "config", "check"]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[smtp]\nurl = "ftp://x"\n')
    assert main(["--config", str(bad), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[smtp] url" in err and "Traceback" not in err
    assert main(["--config", str(tmp_path / "missing.toml"), "config", "check"]) == 2
    assert "no such config file" in capsys.readouterr().err


def test_secrets_from_environment_or_systemd_credentials(tmp_path):
    (tmp_path / "imap-password").write_text("s3cret\n")
    assert config.secret("imap-password", env={"INTAKE_IMAP_PASSWORD": "envpw"}) == "envpw"
    assert config.secret("imap-password", env={"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "s3cret"
    assert config.secret("smtp-password", env={"CREDENTIALS_DIRECTORY": str(tmp_path)}) is None
