"""The command line as users run it: a real subprocess, JSON on stdout, one line on stderr and exit 2 on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT

EXAMPLE_CONFIG = ROOT / "config" / "intake-bot.example.toml"


def cli(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "INTAKE_CONFIG": str(EXAMPLE_CONFIG), **(env or {})}
    return subprocess.run([sys.executable, "-m", "intake_bot.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("eml", sorted(EXAMPLES.glob("*.eml")), ids=lambda p: p.name)
def test_inspect_prints_the_design_json_shape(eml):
    res = cli("inspect", str(eml), "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    for key in ("decision", "reason", "attachments", "kit", "estimated_cost_eur", "in_scope", "signatory", "kind"):
        assert key in data, key
    assert data["kind"] in ("avis_conforme", "avis_simple")
    for a in data["attachments"]:
        assert {"name", "content_type", "size", "sha256", "kit_item", "text_chars"} <= set(a)
        assert len(a["sha256"]) == 64
    assert {"present", "missing"} <= set(data["kit"])
    for ev in data["kit"]["present"]:
        assert ev["item_id"] and ev["filename"]


def test_inspect_decisions_match_the_examples():
    got = {p.name: json.loads(cli("inspect", str(p), "--json").stdout) for p in sorted(EXAMPLES.glob("*.eml"))}
    assert got["01-portalis-justice.eml"]["decision"] == "new_case_complete"
    assert got["01-portalis-justice.eml"]["estimated_cost_eur"] == 52_400_000
    assert got["04-expadon2-agriculture-sans-planning.eml"]["decision"] == "new_case_incomplete"
    assert [m["id"] for m in got["04-expadon2-agriculture-sans-planning.eml"]["kit"]["missing"]] == ["planning"]
    assert got["06-franceconnect-spm-sous-seuil.eml"]["decision"] == "out_of_scope"
    assert got["06-franceconnect-spm-sous-seuil.eml"]["in_scope"] is False
    assert got["07-reponse-automatique-justice.eml"]["decision"] == "ignore"
    assert got["08-france-sesame-finances-information.eml"]["information_only"] is True


def test_inspect_survives_garbage(tmp_path):
    junk = tmp_path / "junk.eml"
    junk.write_bytes(os.urandom(4096))
    res = cli("inspect", str(junk), "--json")
    assert res.returncode == 0 and "Traceback" not in res.stderr
    data = json.loads(res.stdout)
    assert data["decision"] == "quarantine" and data["reason"]


@pytest.mark.parametrize("args, message", [
    (("inspect", "/nonexistent.eml"), "No such file"),
    (("deadline", "--received", "2026-02-30", "--json"), ""),
    (("deadline", "--received", "2026-03-02", "--suspension", "2026-03-10", "--json"), ""),
    (("deadline", "--received", "2026-03-02", "--delay", "2 months"), ""),
    (("nosuchcommand",), "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    res = cli(*args)
    assert res.returncode == 2, res
    assert "Traceback" not in res.stderr and res.stderr.strip()
    assert message in res.stderr


def test_deadline_json_worked_example():
    res = cli("deadline", "--received", "2026-03-02", "--suspension", "2026-03-10:2026-03-20", "--json")
    data = json.loads(res.stdout)
    assert (data["due_date"], data["deemed_on"], data["suspended_days"]) == ("2026-04-13", "2026-04-14", 11)


def test_cases_on_a_fresh_database_and_unknown_case(tmp_path):
    env = {"INTAKE_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    res = cli("cases", "list", "--json", env=env)
    assert res.returncode == 0 and json.loads(res.stdout) == []
    res = cli("cases", "show", "GP-2026-9999", env=env)
    assert res.returncode == 2 and "no case GP-2026-9999" in res.stderr
