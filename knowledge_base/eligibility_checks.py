"""``kb validate`` checks of the items' machine-checkable conditions (``eligibility``).

An item's ``eligibility`` restates its conditions for the policy check-up
(政策体检).  These checks keep the two faithful to each other: every
requirement quotes the item's own words, every condition line of the item is
covered by a requirement, every test uses only the profile fields and values
of ``assistant.core.profile``, every routed situation exists, and an item
marked 免申即享 says so in its text.
"""

from __future__ import annotations

from assistant.core.profile import criterion_problems
from assistant.core.types import Requirement, ServiceItem


def eligibility_problems(item: ServiceItem) -> list[tuple[str, str]]:
    """Every problem of ``item.eligibility`` as ``(field path, reason)``; empty without one."""
    rules = item.eligibility
    if rules is None:
        return []
    out: list[tuple[str, str]] = []
    main_texts = (*item.conditions, item.summary)
    for i, req in enumerate(rules.requires):
        out.extend(_requirement(f"eligibility.requires.{i}", req, main_texts, rules.audience))
    for n, line in enumerate(item.conditions):
        if not any(r.cites and r.cites in line for r in rules.requires):
            out.append(("eligibility.requires", f"condition {n} ({line!r}) is not cited by any requirement; "
                        "add one (a test, an office check or a procedure) that cites its words"))
    seen: set[str] = set()
    for j, route in enumerate(rules.routes):
        path = f"eligibility.routes.{j}"
        sit = item.situation(route.situation)
        if sit is None:
            keys = [s.key for s in item.situations]
            out.append((f"{path}.situation", f"unknown situation {route.situation!r}; use one of {keys or 'none defined'}"))
            continue
        if route.situation in seen:
            out.append((f"{path}.situation", f"situation {route.situation!r} is routed twice; merge the routes"))
        seen.add(route.situation)
        texts = (*sit.conditions, sit.label, *item.conditions)
        for i, req in enumerate(route.requires):
            out.extend(_requirement(f"{path}.requires.{i}", req, texts, rules.audience))
        for n, line in enumerate(sit.conditions):
            if not any(r.cites and r.cites in line for r in route.requires):
                out.append((f"{path}.requires", f"condition {n} of situation {sit.key!r} ({line!r}) is not cited "
                            "by any requirement of the route; add one that cites its words"))
    if rules.automatic and not _says_automatic(item):
        out.append(("eligibility.automatic", "the item is marked 免申即享 but its text nowhere says so "
                    "(summary, online note or FAQs); say it there or drop automatic"))
    return out


def _requirement(path: str, req: Requirement, texts: tuple[str, ...], audience: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if not req.cites.strip():
        out.append((f"{path}.cites", "empty; quote the words of the condition this requirement checks"))
    elif not any(req.cites in t for t in texts):
        out.append((f"{path}.cites", f"{req.cites!r} is not in the item's conditions; quote them word for word"))
    if req.procedure and req.test is not None:
        out.append((path, "a procedure decides nothing: drop its test, or make it a condition (procedure: false)"))
    elif not req.procedure and req.test is None:
        out.append((path, "needs a test (a profile field, or an office check for what only the office can say) "
                    "or procedure: true"))
    if req.test is not None:
        out.extend((f"{path}.test", p) for p in criterion_problems(req.test, audience=audience))
    return out


def _says_automatic(item: ServiceItem) -> bool:
    texts = [item.summary, item.online.note, *(f.answer for f in item.faqs), *item.conditions]
    return any("免申即享" in t for t in texts)
