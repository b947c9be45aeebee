"""The import rule of DESIGN §6: core modules import no I/O library and open no file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "intake_bot"
CORE = ("model", "kit", "classify", "facts", "rules", "commands", "decision", "amounts", "deadlines", "cases", "digest",
        "reminders", "partners")
FORBIDDEN = frozenset({"os", "io", "pathlib", "socket", "email", "sqlite3", "sqlalchemy", "sqlmodel", "smtplib",
                       "imaplib", "imapclient", "subprocess", "shutil", "requests", "urllib", "http", "tempfile",
                       "glob", "mailbox", "logging.handlers"})
ALLOWED_SIBLINGS = frozenset(CORE) | {"errors"}  # a core module may import other core modules and the errors


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.extend(f"{base}{alias.name}" if node.level and not node.module else base for alias in node.names)
    return names


def _present() -> list[str]:
    return [name for name in CORE if (PACKAGE / f"{name}.py").exists()]


@pytest.mark.parametrize("module", _present())
def test_core_module_imports_no_io_library(module: str) -> None:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    for name in _imports(tree):
        if name.startswith("."):
            sibling = name.lstrip(".").split(".")[0]
            assert sibling in ALLOWED_SIBLINGS, f"{module} imports shell module {sibling}"
        elif name.startswith("intake_bot."):
            assert name.split(".")[1] in ALLOWED_SIBLINGS, f"{module} imports shell module {name}"
        else:
            assert name not in FORBIDDEN and name.split(".")[0] not in FORBIDDEN, f"{module} imports {name}"


@pytest.mark.parametrize("module", _present())
def test_core_module_opens_no_file(module: str) -> None:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    names = {c.func.id for c in calls}  # type: ignore[attr-defined]
    assert not names & {"open", "input", "print"}, f"{module} does I/O"


def test_the_checker_sees_forbidden_imports() -> None:
    tree = ast.parse("import os.path\nfrom email import message_from_bytes\nfrom .store import x\n"
                     "from . import wiring\n")
    assert _imports(tree) == ["os.path", "email", ".store", ".wiring"]
