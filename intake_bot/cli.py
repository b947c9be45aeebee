"""The ``intake-bot`` command line (DESIGN §8): run, inspect, cases, deadline, config check, status, demo."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__, config, deadlines
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
    print(f"{path or '(defaults)'}: OK — mailbox {settings.mailbox.url}, mail out {settings.smtp.url}, "
          f"database {settings.database.url}, kit {len(kit.items)} items")
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
    demo = sub.add_parser("demo", help="run once over the example saisines on the embedded default")
    demo.add_argument("--dir", default="var/demo")
    demo.add_argument("--examples", default="examples/saisines")
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except IntakeError as exc:
        print(f"intake-bot: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
