"""The JSON analysis printed by ``intake-bot inspect`` (DESIGN §8): what the bot would decide, and why."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from . import cases
from .facts import read_facts
from .decision import Decision, Route
from .model import ParsedMessage

if TYPE_CHECKING:
    from .apply import Applier


def _problems(problems: Any) -> list[dict[str, Any]]:
    return [{"code": p.code, "fr": p.fr, "en": p.en, "filename": p.filename} for p in problems]


def analysis(applier: Applier, msg: ParsedMessage, verdict: Decision) -> dict[str, Any]:
    kit = applier.kit
    intake = applier.intake(msg, date_today(applier), "inspect")
    facts = read_facts(msg, kit)
    present, missing = cases.merge_evidence(kit, (), intake.report)
    labels = {item.id: item.label for item in kit.items}
    route = verdict.route.value
    if verdict.route is Route.NEW_CASE and (facts.is_information or facts.in_scope is False):
        route = "out_of_scope"
    elif verdict.route is Route.NEW_CASE:
        route = "new_case_complete" if not missing else "new_case_incomplete"
    return {
        "message_id": msg.message_id,
        "from": msg.from_addr,
        "subject": msg.subject,
        "decision": route,
        "rule": verdict.rule,
        "reason": verdict.reason_fr,
        "case_ref": verdict.case_ref,
        "attachments": [{"name": a.filename, "path": a.path, "content_type": a.content_type, "size": a.size,
                         "sha256": a.sha256, "kit_item": intake.matches.get(a.sha256), "text_chars": len(a.text),
                         "pages": a.pages, "inline": a.inline, "container": a.container,
                         "problems": _problems(a.problems)} for a in msg.attachments],
        "kit": {"complete": not missing,
                "present": [asdict(e) for e in present],
                "missing": [{"id": m, "label": labels.get(m, m)} for m in missing],
                "missing_recommended": [{"id": i.id, "label": i.label} for i in kit.items
                                        if not i.required and i.recommended and i.id not in {e.item_id for e in present}]},
        "estimated_cost_eur": facts.estimated_cost_eur,
        "in_scope": facts.in_scope,
        "information_only": facts.is_information,
        "project_name": facts.project_name,
        "ministry": facts.ministry,
        "signatory": facts.signatory,
        "kind": facts.kind.value,
        "signatures": [asdict(sig) for sig in msg.signatures],
        "problems": _problems(msg.problems),
    }


def date_today(applier: Applier) -> Any:
    return applier.clock().date()
