"""The layering rule: lmdesk.core never imports Qt (import-linter enforces it too, in CI)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "lmdesk" / "core"
FORBIDDEN = ("PySide6", "qasync", "lmdesk.ui")


def test_core_sources_never_import_qt() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] if node.level == 0 else []
                if node.level and node.module.startswith("ui"):
                    names = ["lmdesk.ui"]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(FORBIDDEN)]
    assert offenders == []


def test_importing_the_core_loads_no_qt() -> None:
    code = (
        "import sys, lmdesk.core.estimate, lmdesk.core.gguf, lmdesk.core.chats, "
        "lmdesk.core.gpus, lmdesk.core.settings, lmdesk.cli; "
        "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'llama_cpp'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"  # no Qt, and llama.cpp only when it is needed
