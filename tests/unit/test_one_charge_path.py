"""The saved card is charged in one place: `billing.payments.charge_saved_card` is the only code in billing that
calls the gateway's `charge_saved_card` (the desk, series visits and fees all go through it), and billing never
assigns an appointment's status (booking's use cases do)."""

from __future__ import annotations

import ast
from pathlib import Path

BILLING = Path(__file__).resolve().parents[2] / "billing"
# The gateway's own definition and implementations, not callers.
GATEWAY_SIDE = {"gateway.py", "stripe_gateway.py"}


def _sources() -> list[tuple[str, ast.Module]]:
    files = sorted(p for p in BILLING.rglob("*.py") if p.name not in GATEWAY_SIDE and "sandbox" not in p.parts)
    return [(str(p.relative_to(BILLING.parent)), ast.parse(p.read_text(), str(p))) for p in files]


def _enclosing(tree: ast.Module) -> dict[ast.AST, str]:
    owner: dict[ast.AST, str] = {}
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(func):
                owner[node] = func.name  # walked outer first: the innermost function wins
    return owner


def test_the_gateway_charge_is_called_from_one_function() -> None:
    calls = []
    for path, tree in _sources():
        owner = _enclosing(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "charge_saved_card"
                and ast.unparse(node.func.value) != "payments"  # billing's own function, not the gateway's
            ):
                calls.append((path, owner.get(node), ast.unparse(node.func.value)))
    assert calls == [("billing/payments.py", "charge_saved_card", "get_gateway()")]


def test_billing_never_assigns_an_appointment_status() -> None:
    writes = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign | ast.AugAssign)
                else []
            )
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr in {"status", "hold_expires_at"}
                    and "appointment" in ast.unparse(target.value).lower()
                ):
                    writes.append((path, node.lineno, ast.unparse(target)))
    assert writes == []
