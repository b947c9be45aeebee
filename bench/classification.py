"""Cost of the kit classification and decision against parse + extraction (issue 3). Prints figures, asserts nothing.

    .venv/bin/python bench/classification.py [--rounds 5] [--profile]

Each round parses the 8 messages of ``examples/saisines/`` again (``parse_message``, inline extraction: no
worker), so every round classifies fresh objects, as the pipeline does. For each message it then times what
the pipeline does besides parsing and I/O: the decision, ``facts.read_facts`` and ``Applier.intake``
(kit assessment and per-piece matches). Goal: the core < 5 ms per message, pipeline <= 1.3x parse alone.
``--profile`` adds the cProfile top 15 (cumulative) of the core alone.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intake_bot import deadlines, decision, facts
from intake_bot.apply import Applier, Policy
from intake_bot.kit import Kit
from intake_bot.limits import Limits
from intake_bot.model import ParsedMessage
from intake_bot.outbox import Sender
from intake_bot.parsing import parse_message
from intake_bot.render import Renderer

EXAMPLES = sorted((ROOT / "examples" / "saisines").glob("*.eml"))
TODAY = date(2026, 11, 25)
SORT = "cumulative"


def applier() -> Applier:
    kit = Kit.from_toml((ROOT / "config" / "kit.toml").read_text(encoding="utf-8"))
    policy = Policy(frozenset({"saisine@numerique.gouv.fr"}), frozenset({"agent@numerique.gouv.fr"}), (), "",
                    (), deadlines.DeadlinePolicy())
    return Applier(None, kit, Renderer(), Sender("saisine@numerique.gouv.fr", "DINUM", 20), policy, Limits(),
                   lambda: datetime(2026, 11, 25, 9, tzinfo=UTC))


def core(app: Applier, parsed: ParsedMessage) -> None:
    """What the pipeline does with a parsed message besides I/O: decision, facts, kit report and matches."""
    decision.decide(parsed, app.context(None, parsed))
    facts.read_facts(parsed, app.kit)
    app.intake(parsed, TODAY, "bench")


def run(app: Applier, raws: list[bytes], rounds: int) -> tuple[dict[str, list[float]], list[ParsedMessage]]:
    """Seconds per message name: [parse, core] summed over the rounds; the last round's parsed messages."""
    spent = {p.name: [0.0, 0.0] for p in EXAMPLES}
    parsed: list[ParsedMessage] = []
    for _ in range(rounds):
        parsed = []
        for path, raw in zip(EXAMPLES, raws):
            start = time.perf_counter()
            msg = parse_message(raw, app.limits, inline=True)
            middle = time.perf_counter()
            core(app, msg)
            spent[path.name][0] += middle - start
            spent[path.name][1] += time.perf_counter() - middle
            parsed.append(msg)
    return spent, parsed


def report(spent: dict[str, list[float]], parsed: list[ParsedMessage], rounds: int) -> None:
    print(f"{'message':48} {'pieces':>6} {'parse ms':>9} {'core ms':>8} {'ratio':>6}")
    for (name, (p, c)), msg in zip(spent.items(), parsed):
        p, c = p / rounds * 1000, c / rounds * 1000
        print(f"{name:48} {len(msg.pieces):6d} {p:9.2f} {c:8.2f} {(p + c) / p:6.2f}")
    parse = sum(p for p, _ in spent.values()) / rounds / len(spent) * 1000
    work = sum(c for _, c in spent.values()) / rounds / len(spent) * 1000
    print(f"{'mean per message':48} {'':6} {parse:9.2f} {work:8.2f} {(parse + work) / parse:6.2f}"
          f"   (goal: core < 5 ms, ratio <= 1.3)")


def profile(app: Applier, raws: list[bytes], rounds: int) -> None:
    """The core alone under cProfile, on messages parsed again each round (outside the profile)."""
    prof = cProfile.Profile()
    for _ in range(rounds):
        parsed = [parse_message(raw, app.limits, inline=True) for raw in raws]
        prof.enable()
        for msg in parsed:
            core(app, msg)
        prof.disable()
    print(f"\ncProfile of the core alone ({rounds} x {len(raws)} messages), top 15 by {SORT} time:")
    pstats.Stats(prof, stream=sys.stdout).strip_dirs().sort_stats(SORT).print_stats(15)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="also print the cProfile top 15 of the core")
    args = ap.parse_args()
    app = applier()
    raws = [p.read_bytes() for p in EXAMPLES]
    run(app, raws, 1)  # warm-up: imports, compiled patterns
    spent, parsed = run(app, raws, args.rounds)
    report(spent, parsed, args.rounds)
    if args.profile:
        profile(app, raws, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
