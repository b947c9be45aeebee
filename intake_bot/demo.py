"""``intake-bot demo``: the example saisines through the embedded default (Maildir, .eml outbox, SQLite)."""

from __future__ import annotations

from pathlib import Path

from . import config, report
from .errors import UsageError
from .mailbox import MaildirBox
from .wiring import build, outbox_dir

KIT = Path(__file__).resolve().parent.parent / "config" / "kit.toml"


def embedded_settings(workdir: Path, **sections: dict[str, object]) -> config.Settings:
    """The embedded default with everything under ``workdir`` (Maildir, .eml outbox, SQLite, blobs), demo staff
    addresses so every mail path is shown, and ``sections`` merged over it; the environment is ignored."""
    data: dict[str, dict[str, object]] = {
        "mailbox": {"url": "maildir://maildir"},
        "smtp": {"url": "dir://outbox"},
        "database": {"url": "sqlite:///intake.db"},
        "storage": {"blob_dir": "blobs"},
        "intake": {"kit_path": str(KIT), "staff_addresses": ["agent@numerique.gouv.fr"]},
        "digest": {"recipients": ["equipe@numerique.gouv.fr"]},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return config.from_dict(data, workdir.resolve(), env={})


def run_demo(workdir: Path, examples: Path) -> int:
    emls = sorted(examples.glob("*.eml"))
    if not emls:
        raise UsageError(f"no example saisines in {examples}: run `python -m examples.build` first")
    workdir.mkdir(parents=True, exist_ok=True)
    settings = embedded_settings(workdir)
    app = build(settings)
    inbox = MaildirBox(workdir / "maildir")
    for eml in emls:  # delivered again at every run: the second run must recognise them all
        inbox.deliver(eml.read_bytes())
    counts = app.pipeline(inbox).run_once()
    print(f"{len(emls)} example messages delivered to {workdir / 'maildir'}; processed {counts.processed}, "
          f"duplicates {counts.duplicates}, ignored (auto-replies) {counts.ignored}, quarantined {counts.quarantined}")
    print()
    for case in report.case_list(app):
        print(_case_block(case))
    out = outbox_dir(settings)
    receipts = sorted(out.glob("*.eml")) if out else []
    print(f"{len(receipts)} outgoing mail(s) in {out}")
    return 0


def _case_block(case: dict) -> str:  # type: ignore[type-arg]
    cost = f"{case['estimated_cost_eur'] / 1e6:.1f} M€" if case["estimated_cost_eur"] else "coût non lu"
    lines = [f"{case['ref']}  {case['project_name']} — {case['ministry']} ({cost})",
             f"    état : {case['state']} ; délai : {case['deadline'] or 'sans objet'}"]
    if case["state"] == "out_of_scope":
        return "\n".join(lines)
    for p in case["kit"]["present"]:
        lines.append(f"    ✓ {p['label']} — {p['evidence']}")
    for m in case["kit"]["missing"]:
        lines.append(f"    ✗ {m['label']} (manquant)")
    return "\n".join(lines)
