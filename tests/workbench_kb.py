"""A small file-based knowledge base, catalog and gate benchmark for the workbench tests.

The items are ``tests.kb_fixtures.complete_items`` (valid for publishing), the
passport item with an extra alias whose removal a benchmark case notices, and
a benchmark of real-shaped cases for a few items.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tests.kb_fixtures import complete_items, write_catalog, write_kb

#: cases of the gate benchmark (the evaluators' format).
CASES = [
    {"id": "passport-1", "turns": [{"user": "护照怎么办理", "expect": {"items": ["passport-apply"], "action": "answer"}}]},
    {"id": "passport-2", "turns": [{"user": "办护照要多少钱", "expect": {"items": ["passport-apply"], "action": "answer"}}]},
    {"id": "card-1", "turns": [{"user": "社保卡丢了怎么补办", "expect": {"items": ["social-security-card"], "action": "answer"}}]},
    {"id": "card-2", "turns": [{"user": "补社保卡去哪里", "expect": {"items": ["social-security-card"]}}]},
    {"id": "business-1", "turns": [{"user": "开公司要什么材料", "expect": {"items": ["business-establish"], "action": "answer"}}]},
]


def write_workbench_kb(root: Path) -> dict[str, Path]:
    """Item files, catalog and gate benchmark under ``root``; returns their paths."""
    items = complete_items()
    kb = write_kb(root / "items", items)
    catalog = write_catalog(root / "catalog.tsv", items)
    bench = root / "gate.jsonl"
    bench.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in CASES), encoding="utf-8")
    return {"kb_dir": kb, "catalog": catalog, "bench": bench}


def env_for(paths: dict[str, Path], data_dir: Path) -> dict[str, str]:
    """``XS_*`` variables pointing a server (and its evaluator runs) at the test knowledge base."""
    return {
        "XS_PATHS__DATA_DIR": str(data_dir),
        "XS_PATHS__KB_DIR": str(paths["kb_dir"]),
        "XS_PATHS__CATALOG": str(paths["catalog"]),
        "XS_WORKBENCH__GATE_BENCHMARK": str(paths["bench"]),
        "XS_LIMITS__ENABLED": "false",
    }


__all__ = ["CASES", "env_for", "write_workbench_kb", "dataclasses"]
