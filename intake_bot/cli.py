"""The ``intake-bot`` command line (DESIGN §8): intake, cases and case actions, deadline, export, digest, tick."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__, config, deadlines, terminal
from .errors import IntakeError, UsageError

log = logging.getLogger("intake_bot.cli")
DEFAULT_CONFIGS = ("intake-bot.toml", "/etc/intake-bot/intake-bot.toml")


def config_path(arg: str | None) -> str | None:
    """--config, else $INTAKE_CONFIG, else ./intake-bot.toml or /etc/intake-bot/intake-bot.toml if present."""
    if arg:
        return arg
    if os.environ.get("INTAKE_CONFIG"):
        return os.environ["INTAKE_CONFIG"]
    return next((p for p in DEFAULT_CONFIGS if Path(p).is_file()), None)


def settings_of(args: argparse.Namespace) -> config.Settings:
    return config.load(config_path(args.config))


def emit(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


# -- commands --------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from .daemon import run

    return run(settings_of(args), once=args.once)


def cmd_inspect(args: argparse.Namespace) -> int:
    from .pipeline import inspect_message
    from .wiring import build_applier, system_clock

    path = Path(args.file)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    result = inspect_message(raw, build_applier(settings_of(args), None, system_clock))
    if args.json:
        emit(result)
    else:
        print(f"{path.name}: {result['decision']} — {result['reason']}")
        for a in result["attachments"]:
            print(f"  {a['name']} ({a['content_type']}, {a['size']} o) -> {a['kit_item'] or '-'}")
        print("  manquant : " + (", ".join(m["label"] for m in result["kit"]["missing"]) or "rien"))
    return 0


def cmd_cases(args: argparse.Namespace) -> int:
    from . import report
    from .wiring import build

    app = build(settings_of(args))
    if args.action == "list":
        rows = report.case_list(app)
        emit(rows) if args.json else print(report.format_list(rows))
        return 0
    if not args.ref:
        raise UsageError("cases show needs a reference, e.g. GP-2026-0001")
    data = report.case_detail(app, args.ref)
    emit(data) if args.json else print(report.format_detail(data))
    return 0


def cmd_deadline(args: argparse.Namespace) -> int:
    received = deadlines.parse_date(args.received)
    suspensions = [deadlines.parse_suspension(s) for s in args.suspension]
    policy = deadlines.DeadlinePolicy(args.delay, args.extend_to_working_day)
    today = deadlines.parse_date(args.today) if args.today else None
    data = deadlines.deadline_json(received, suspensions, policy, today)
    if args.json:
        emit(data)
    else:
        print(data["label_fr"])
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from .wiring import load_kit

    path = config_path(args.config)
    settings = config.load(path)
    kit = load_kit(settings)
    print(f"{path or '(defaults)'}: OK — mailbox {config.redact(settings.mailbox.url)}, "
          f"mail out {config.redact(settings.smtp.url)}, database {config.redact(settings.database.url)}, "
          f"kit {len(kit.items)} items")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(args.dir), Path(args.examples))


def cmd_status(args: argparse.Namespace) -> int:
    from . import report
    from .wiring import build

    data = report.status(build(settings_of(args)))
    emit(data) if args.json else print(report.format_status(data))
    return 0


def cmd_case(args: argparse.Namespace) -> int:
    from .cases import OPEN, deadline_of
    from .scheduler import today_in_paris
    from .wiring import build

    app = build(settings_of(args))
    assert app.staff is not None
    file = Path(args.file) if args.file else None
    tr = app.staff.run(args.action, args.ref, " ".join(args.text), args.by or _login(), file)
    app.dispatcher.deliver_pending()
    today = today_in_paris(app)
    label = deadline_of(tr.case, app.applier.policy.deadline, today).label_fr if tr.case.state in OPEN else tr.case.avis
    mails = ", ".join(f"{m.template} -> {', '.join(m.to)}" for m in tr.mails) or "no mail"
    print(f"{tr.case.ref}: {tr.case.state.value}{f' — {label}' if label else ''} ({mails})")
    return 0


def _login() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in a bare container
        return "cli"


def cmd_export(args: argparse.Namespace) -> int:
    from . import export
    from .scheduler import today_in_paris
    from .wiring import build

    if args.kind != "panorama" or args.format != "csv":
        raise UsageError(f"cannot export {args.kind!r} as {args.format!r}: only `export panorama --format csv`")
    app = build(settings_of(args))
    rows = export.panorama(app, today_in_paris(app))
    if not args.output:
        export.write_csv(rows, sys.stdout)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            export.write_csv(rows, out)
    except OSError as exc:
        raise UsageError(f"{args.output}: {exc.strerror}") from None
    print(f"{len(rows)} project(s) written to {args.output}", file=sys.stderr)
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from . import scheduler
    from .wiring import build

    app = build(settings_of(args))
    if not args.preview:
        print("digest sent" if scheduler.send_digest(app) else "digest: nothing to send")
        return 0
    d = scheduler.build_digest(app)
    if args.json:
        emit(asdict(d) | {"empty": d.empty})
        return 0
    parts = app.applier.renderer.blocks("staff.digest", scheduler.digest_mail(app, d).context)
    print(f"Objet : {parts['subject']}\n\n{parts['text']}")
    return 0


def cmd_tick(args: argparse.Namespace) -> int:
    from .scheduler import tick
    from .wiring import build

    done = tick(build(settings_of(args)))
    print(", ".join(f"{k} {v}" for k, v in done.items()))
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    from .wiring import build

    dispatcher = build(settings_of(args)).dispatcher
    if args.action == "list":
        rows = dispatcher.rows(args.state, args.limit)
        emit(rows) if args.json else print("\n".join(
            f"#{r['id']} {r['state']} {r['created_at']:%Y-%m-%d %H:%M} to {', '.join(r['to'])}: {r['subject']}"  # type: ignore[arg-type]
            + (f" ({r['last_error']})" if r["last_error"] else "") for r in rows) or "outbox: nothing")
        return 0
    if args.id is None:
        raise UsageError(f"outbox {args.action} needs the mail's id (see `intake-bot outbox list`)")
    (dispatcher.resend if args.action == "resend" else dispatcher.mark_sent)(args.id, args.by or _login())
    print(f"outbox #{args.id}: " + ("pending, will be sent again" if args.action == "resend" else "marked sent"))
    return 0


def _case_parsers(sub: Any) -> None:
    """The case lifecycle commands: staff actions, panorama export, digest, scheduled jobs."""
    case = sub.add_parser("case", help="act on a case: complement, avis, close, note, withdraw, hors-perimetre")
    case.add_argument("action", metavar="ACTION", help="complement | avis | close | note | withdraw | hors-perimetre")
    case.add_argument("ref", metavar="REF", help="case reference, e.g. GP-2026-0001")
    case.add_argument("text", nargs="*", help="complement: kit items or text; avis: favorable|reserves|defavorable; "
                                              "note, withdraw, hors-perimetre, close: text")
    case.add_argument("--by", help="who acts, for the audit trail (default: cli:<login>)")
    case.add_argument("--file", help="avis only: the signed avis, sent to the ministry")
    case.set_defaults(func=cmd_case)
    exp = sub.add_parser("export", help="export the panorama of projects with a positive avis")
    exp.add_argument("kind", metavar="KIND", help="panorama")
    exp.add_argument("--format", default="csv", help="csv")
    exp.add_argument("--output", "-o", help="file to write (default: standard output)")
    exp.set_defaults(func=cmd_export)
    dig = sub.add_parser("digest", help="send the staff digest now (once a day), or --preview it")
    dig.add_argument("--preview", action="store_true", help="print the digest that would be sent now")
    dig.add_argument("--json", action="store_true", help="with --preview: as JSON")
    dig.set_defaults(func=cmd_digest)
    tick = sub.add_parser("tick", help="run the scheduled jobs once now (tacit avis, reminders, digest)")
    tick.set_defaults(func=cmd_tick)
    out = sub.add_parser("outbox", help="list outgoing mail; resend or mark sent an uncertain one once checked")
    out.add_argument("action", choices=("list", "resend", "mark-sent"))
    out.add_argument("id", nargs="?", type=int, help="resend, mark-sent: the mail's id")
    out.add_argument("--state", help="list: only this state (pending, sending, committing, sent, uncertain, failed)")
    out.add_argument("--limit", type=int, default=100)
    out.add_argument("--json", action="store_true")
    out.add_argument("--by", help="who decided, for the audit trail (default: cli:<login>)")
    out.set_defaults(func=cmd_outbox)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="intake-bot", description="Intake of the saisines sent to grandsprojets.si")
    p.add_argument("--config", "-c", help="config file (default: $INTAKE_CONFIG, ./intake-bot.toml, /etc/intake-bot/)")
    p.add_argument("--verbose", "-v", action="store_true")
    p.add_argument("--version", action="version", version=f"intake-bot {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="watch the mailbox and process mail")
    run.add_argument("--once", action="store_true", help="process what is waiting, deliver, and exit")
    run.set_defaults(func=cmd_run)
    ins = sub.add_parser("inspect", help="analyse one .eml file (no database, no mail)")
    ins.add_argument("file")
    ins.add_argument("--json", action="store_true")
    ins.set_defaults(func=cmd_inspect)
    cas = sub.add_parser("cases", help="list or show cases")
    cas.add_argument("action", choices=("list", "show"))
    cas.add_argument("ref", nargs="?")
    cas.add_argument("--json", action="store_true")
    cas.set_defaults(func=cmd_cases)
    dl = sub.add_parser("deadline", help="compute a legal deadline (DESIGN §3)")
    dl.add_argument("--received", required=True, help="receipt date, YYYY-MM-DD")
    dl.add_argument("--suspension", action="append", default=[], metavar="FROM:TO", help="FROM:TO, or FROM: if open")
    dl.add_argument("--delay", default="1 month", help='"1 month" (default) or "30 days"')
    dl.add_argument("--extend-to-working-day", action="store_true")
    dl.add_argument("--today", help="reference date for days_left (default: none)")
    dl.add_argument("--json", action="store_true")
    dl.set_defaults(func=cmd_deadline)
    cfg = sub.add_parser("config", help="validate the configuration")
    cfg.add_argument("action", choices=("check",))
    cfg.set_defaults(func=cmd_config)
    st = sub.add_parser("status", help="intake health")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)
    _case_parsers(sub)
    demo = sub.add_parser("demo", help="run once over the example saisines on the embedded default")
    demo.add_argument("--dir", default="var/demo")
    demo.add_argument("--examples", default="examples/saisines")
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    os.umask(0o077)  # what the bot creates (database, blobs, status, mail written out) is for its user only
    # Subjects, names and addresses come from mail: nothing printed may drive the terminal (or the journal)
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = terminal.SafeStream(out), terminal.SafeStream(err)  # type: ignore[assignment]
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(config.RedactingFilter())
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a reader that left shows up here, not at interpreter exit
        return status
    except IntakeError as exc:
        print(f"intake-bot: error: {config.redact_urls(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `intake-bot cases list | head -1`: the reader left, nothing to say
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return 0
    finally:
        sys.stdout, sys.stderr = out, err


if __name__ == "__main__":
    sys.exit(main())
