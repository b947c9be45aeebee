"""The real-world test messages shipped with CPython (test/test_email/data): every one parses, none crashes."""

from __future__ import annotations

import email
import os
from email import policy
from pathlib import Path

import pytest

from intake_bot.content import SIGNATURES
from intake_bot.filename import sanitize
from intake_bot.model import ParsedMessage
from intake_bot.parsing import parse_message


def _corpus() -> list[Path]:
    try:
        import test  # the CPython test package; Debian and slim images often leave it out
    except ImportError:
        return []
    return sorted(Path(os.path.dirname(test.__file__), "test_email", "data").glob("msg_*.txt"))


CORPUS = _corpus()
pytestmark = pytest.mark.skipif(not CORPUS, reason="CPython's test package (test/test_email/data) is not installed")


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_every_message_gives_a_parsed_message(path: Path) -> None:
    raw = path.read_bytes()
    msg = parse_message(raw)  # worker mode, as the pipeline runs it
    assert isinstance(msg, ParsedMessage)
    assert not any("n'a pas pu être analysé" in p.fr for p in msg.problems), msg.problems  # no fallback path taken
    stdlib = email.message_from_bytes(raw, policy=policy.default)
    named = {sanitize(p.get_filename()) for p in stdlib.walk()
             if not p.is_multipart() and p.get_filename() and p.get_content_type() != "message/rfc822"
             and p.get_content_type() not in SIGNATURES}  # signatures are recorded as such, not as pieces
    assert named <= {a.filename for a in msg.attachments}, "a file the standard library sees was lost"


def test_the_corpus_is_the_one_we_expect() -> None:
    assert len(CORPUS) >= 40
