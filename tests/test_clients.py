"""Messages written by real mail clients (Debian's mpack, mutt, swaks), parsed back to their pieces."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from examples.documents import docx_bytes, pdf_bytes, xlsx_bytes
from intake_bot.parsing import parse_message
from tests.messages import have, tnef_bytes

SECTIONS = [("Stratégie", "Objectifs du projet Ésope."), ("Finances", "Coût complet : 12 400 000 € TTC.")]
BODY = "Madame la Directrice,\n\nVeuillez trouver ci-joint le dossier de saisine.\n\nLe secrétaire général\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {"note de synthèse.pdf": pdf_bytes("Note de synthèse", SECTIONS),
            "courrier.docx": docx_bytes("Courrier de saisine", [("Objet", "Saisine pour avis conforme")]),
            "budget détaillé.xlsx": xlsx_bytes({"Budget": [["Total", 12_400_000]]}),
            "body.txt": BODY.encode("utf-8")}
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in made}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.skipif(not have("mpack"), reason="mpack not installed")
def test_mpack(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "mpack.eml"
    pdf = files["note de synthèse.pdf"]
    subprocess.run(["mpack", "-s", "Saisine GP", "-d", str(files["body.txt"]), "-c", "application/pdf", "-o", str(out),
                    pdf.name], cwd=tmp_path, check=True)
    msg = parse_message(out.read_bytes())
    (piece,) = msg.pieces
    assert piece.filename == "note de synthèse.pdf" and piece.sha256 == sha(pdf) and "12 400 000 €" in piece.text
    assert msg.subject == "Saisine GP" and "dossier de saisine" in msg.body_text


@pytest.mark.skipif(not have("mutt"), reason="mutt not installed")
def test_mutt_batch_mode(files: dict[str, Path], tmp_path: Path) -> None:
    out, sendmail = tmp_path / "mutt.eml", tmp_path / "sendmail.sh"
    sendmail.write_text(f"#!/bin/sh\ncat > '{out}'\n")
    sendmail.chmod(0o755)
    (tmp_path / "home").mkdir()
    settings = (f'set sendmail="{sendmail}" from="Jérôme Dupont <Jerome.Dupont@Interieur.Gouv.FR>" use_from=yes '
                'copy=no record="" hostname=interieur.gouv.fr send_charset="utf-8"')
    attached = [files[n] for n in ("note de synthèse.pdf", "courrier.docx", "budget détaillé.xlsx")]
    subprocess.run(["mutt", "-n", "-F", "/dev/null", "-e", settings, "-s", "Saisine — projet Ésope",
                    "-a", *map(str, attached), "--", "grandsprojets.si@numerique.gouv.fr"],
                   stdin=files["body.txt"].open("rb"), env={**os.environ, "HOME": str(tmp_path / "home")},
                   check=True, timeout=30)
    msg = parse_message(out.read_bytes())
    assert msg.from_addr == "jerome.dupont@interieur.gouv.fr" and msg.from_name == "Jérôme Dupont"
    assert msg.subject == "Saisine — projet Ésope" and msg.body_text.startswith("Madame la Directrice")
    assert [(p.filename, p.sha256) for p in msg.pieces] == [(f.name, sha(f)) for f in attached]
    assert "Total\t12400000" in msg.pieces[2].text and "avis conforme" in msg.pieces[1].text


@pytest.mark.skipif(not have("swaks"), reason="swaks not installed")
def test_swaks_dump_mail(files: dict[str, Path], tmp_path: Path) -> None:
    winmail = tmp_path / "winmail.dat"
    winmail.write_bytes(tnef_bytes("Corps Outlook : coût 12 M€.", [("annexe.docx", files["courrier.docx"].read_bytes())]))
    pdf = files["note de synthèse.pdf"]
    dump = subprocess.run(["swaks", "--dump-mail", "--from", "sg@interieur.gouv.fr", "--to",
                           "grandsprojets.si@numerique.gouv.fr", "--header", "Subject: Saisine swaks",
                           "--header", "Auto-Submitted: no", "--body", f"@{files['body.txt']}",
                           "--attach-type", "application/pdf", "--attach-name", pdf.name, "--attach", f"@{pdf}",
                           "--attach-type", "application/ms-tnef", "--attach-name", "winmail.dat",
                           "--attach", f"@{winmail}"], check=True, capture_output=True, timeout=30).stdout
    msg = parse_message(dump)
    assert msg.subject == "Saisine swaks" and msg.header("auto-submitted") == "no"
    assert [(a.path, a.container) for a in msg.attachments] == [
        ("note de synthèse.pdf", False), ("winmail.dat", True), ("winmail.dat/annexe.docx", False)]
    assert msg.attachments[0].sha256 == sha(pdf) and "avis conforme" in msg.attachments[2].text
