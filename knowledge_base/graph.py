"""The knowledge base as a graph: bundles, steps, prerequisites, related items, departments.

Edges come from the item files themselves (no second source of truth):

- ``step``: a 一件事 bundle -> each member item, in the bundle's order
  (``ServiceItem.process`` steps that name an ``item``, with what the step ``needs``);
- ``prerequisite``: an item -> an item that must be done first (营业执照 before 刻章);
- ``related``: an item -> an item worth mentioning alongside;
- ``department``: an item -> its department node (``dept:<name>``).

:class:`KnowledgeBase` holds the items by id and answers the graph queries
retrieval and answer composition use to follow links: "孩子出生要办什么" finds
``onething-birth``, and :meth:`KnowledgeBase.bundle_steps` lists what to do
in order; a question about 刻章 can mention its prerequisite 营业执照.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from assistant.core.errors import KnowledgeBaseError, NotFound
from assistant.core.types import ServiceItem, Step
from knowledge_base.loader import service_today

Relation = Literal["step", "prerequisite", "related", "department"]
RELATIONS: tuple[str, ...] = ("step", "prerequisite", "related", "department")

#: Prefix of department node ids, so they never collide with catalog ids.
DEPARTMENT_PREFIX = "dept:"


@dataclass(frozen=True)
class Edge:
    """A directed link of the graph; ``order`` is the step position for ``step`` edges."""

    source: str
    target: str
    relation: Relation
    order: int = 0
    #: for ``step`` edges: what the step needs (from ``Step.needs``).
    needs: str = ""


@dataclass(frozen=True)
class BundleStep:
    """One step of a 一件事 bundle, with the member item it names (None for a plain step)."""

    position: int
    step: Step
    item: ServiceItem | None


@dataclass(frozen=True)
class Link:
    """An item reached from another one, and how: the unit retrieval follows."""

    item: ServiceItem
    relation: Relation
    #: ``out`` when the start item names the link, ``in`` when the linked item names the start
    #: (an item's bundle is reached ``in`` from the bundle's step edge).
    direction: Literal["out", "in"]
    order: int = 0
    needs: str = ""


def department_node(name: str) -> str:
    """The node id of a department."""
    return f"{DEPARTMENT_PREFIX}{name}"


class KnowledgeBase:
    """Items by id plus the graph between them; immutable once built.

    ``today`` fixes the day that decides which items are live (published and
    effective); graph queries with ``live_only=True`` (the default) never return
    a draft, a retired or a not-yet-effective item, so answers only follow links
    to items that may be retrieved.
    """

    def __init__(self, items: Iterable[ServiceItem], *, today: date | None = None) -> None:
        by_id: dict[str, ServiceItem] = {}
        for item in items:
            if item.id in by_id:
                raise KnowledgeBaseError(f"item id {item.id!r} appears twice; every item needs its own id")
            by_id[item.id] = item
        self._items = by_id
        self.today = today or service_today()
        edges: list[Edge] = []
        for item in by_id.values():
            order = 0
            for step in item.process:
                if step.item:
                    order += 1
                    edges.append(Edge(item.id, step.item, "step", order, step.needs))
            edges.extend(Edge(item.id, t, "prerequisite") for t in item.prerequisites)
            edges.extend(Edge(item.id, t, "related") for t in item.related)
            if item.department:
                edges.append(Edge(item.id, department_node(item.department), "department"))
        self._edges = tuple(edges)
        self._out: dict[str, list[Edge]] = {}
        self._in: dict[str, list[Edge]] = {}
        for e in edges:
            self._out.setdefault(e.source, []).append(e)
            self._in.setdefault(e.target, []).append(e)

    # ------------------------------------------------------------------ construction

    @classmethod
    def load(cls, kb_dir: Path, *, strict: bool = True, today: date | None = None) -> KnowledgeBase:
        """Load every item file of ``kb_dir`` (see ``knowledge_base.loader.load_items``)."""
        from knowledge_base.loader import load_items

        return cls(load_items(kb_dir, strict=strict), today=today)

    # ------------------------------------------------------------------ items

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __iter__(self) -> Iterator[ServiceItem]:
        return iter(self._items.values())

    @property
    def items(self) -> dict[str, ServiceItem]:
        """Every item by id, whatever its status (a copy)."""
        return dict(self._items)

    def get(self, item_id: str) -> ServiceItem:
        """The item with ``item_id``; NotFound names close ids when there is none."""
        try:
            return self._items[item_id]
        except KeyError:
            close = difflib.get_close_matches(item_id, list(self._items), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise NotFound(f"no item {item_id!r} in the knowledge base{hint}") from None

    def is_live(self, item_id: str) -> bool:
        """Whether ``item_id`` exists and is published and effective on ``today``."""
        item = self._items.get(item_id)
        return item is not None and item.is_live(self.today)

    def live(self) -> list[ServiceItem]:
        """Published items effective on ``today``: the only retrievable ones."""
        return [i for i in self._items.values() if i.is_live(self.today)]

    def live_ids(self) -> frozenset[str]:
        """Ids of :meth:`live` items."""
        return frozenset(i.id for i in self.live())

    # ------------------------------------------------------------------ graph

    @property
    def edges(self) -> tuple[Edge, ...]:
        """Every edge, in item order then the order each item lists its links."""
        return self._edges

    def _keep(self, item_id: str, live_only: bool) -> bool:
        return item_id in self._items and (not live_only or self.is_live(item_id))

    def bundles_of(self, item_id: str, *, live_only: bool = True) -> list[ServiceItem]:
        """The 一件事 bundles that list ``item_id`` as a step."""
        self.get(item_id)
        return [
            self._items[e.source]
            for e in self._in.get(item_id, ())
            if e.relation == "step" and self._keep(e.source, live_only)
        ]

    def bundle_steps(self, bundle_id: str, *, live_only: bool = True) -> list[BundleStep]:
        """Every step of a bundle in order, with its member item.

        A step whose member item is missing (or not live with ``live_only``)
        keeps its place with ``item=None``, so the citizen still sees the step.
        """
        bundle = self.get(bundle_id)
        out: list[BundleStep] = []
        for position, step in enumerate(bundle.process, start=1):
            member = None
            if step.item and self._keep(step.item, live_only):
                member = self._items[step.item]
            out.append(BundleStep(position, step, member))
        return out

    def members(self, bundle_id: str, *, live_only: bool = True) -> list[ServiceItem]:
        """The member items of a bundle, in step order."""
        return [s.item for s in self.bundle_steps(bundle_id, live_only=live_only) if s.item is not None]

    def prerequisites(self, item_id: str, *, live_only: bool = True) -> list[ServiceItem]:
        """The direct prerequisites of ``item_id``, as the item lists them."""
        item = self.get(item_id)
        return [self._items[p] for p in item.prerequisites if self._keep(p, live_only)]

    def prerequisite_chain(self, item_id: str, *, live_only: bool = True) -> list[ServiceItem]:
        """Everything to do before ``item_id``, transitively, first things first.

        The order is a depth-first topological order: every item comes after its
        own prerequisites.  Raises KnowledgeBaseError on a prerequisite cycle
        (``xiaoshen kb validate`` reports those too).
        """
        self.get(item_id)
        order: list[str] = []
        done: set[str] = set()

        def visit(node: str, path: tuple[str, ...]) -> None:
            for nxt in self._items[node].prerequisites:
                if not self._keep(nxt, live_only):
                    continue
                if nxt in path:
                    cycle = " -> ".join((*path[path.index(nxt):], nxt))
                    raise KnowledgeBaseError(f"prerequisite cycle {cycle}; run 'xiaoshen kb validate' and break it")
                if nxt not in done:
                    visit(nxt, (*path, nxt))
                    done.add(nxt)
                    order.append(nxt)

        visit(item_id, (item_id,))
        return [self._items[i] for i in order]

    def dependents(self, item_id: str, *, live_only: bool = True) -> list[ServiceItem]:
        """Items that list ``item_id`` as a prerequisite (刻章 for 营业执照)."""
        self.get(item_id)
        return [
            self._items[e.source]
            for e in self._in.get(item_id, ())
            if e.relation == "prerequisite" and self._keep(e.source, live_only)
        ]

    def related(self, item_id: str, *, live_only: bool = True, both_ways: bool = True) -> list[ServiceItem]:
        """Items related to ``item_id``: those it lists first, then (``both_ways``) those listing it."""
        item = self.get(item_id)
        ids = [r for r in item.related if self._keep(r, live_only)]
        if both_ways:
            for e in self._in.get(item_id, ()):
                if e.relation == "related" and e.source not in ids and self._keep(e.source, live_only):
                    ids.append(e.source)
        return [self._items[i] for i in ids]

    def departments(self) -> list[str]:
        """Department names, sorted."""
        return sorted({i.department for i in self._items.values() if i.department})

    def items_of_department(self, department: str, *, live_only: bool = True) -> list[ServiceItem]:
        """Items handled by ``department`` (exact name as in the catalog), in id order."""
        if department not in self.departments():
            close = difflib.get_close_matches(department, self.departments(), n=3, cutoff=0.3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise NotFound(f"no department {department!r} in the knowledge base{hint}")
        node = department_node(department)
        ids = sorted(e.source for e in self._in.get(node, ()) if self._keep(e.source, live_only))
        return [self._items[i] for i in ids]

    def links(
        self,
        item_id: str,
        *,
        relations: Sequence[str] = ("step", "prerequisite", "related"),
        live_only: bool = True,
    ) -> list[Link]:
        """Items one hop from ``item_id``, for retrieval and answers to follow.

        Order: a bundle's steps (in order), then the bundles the item belongs
        to, then prerequisites, then related items (both directions).  Each
        item appears once, under the first relation that reaches it.
        """
        unknown = set(relations) - set(RELATIONS)
        if unknown:
            raise KnowledgeBaseError(f"unknown relation(s) {sorted(unknown)}; use {', '.join(RELATIONS)}")
        item = self.get(item_id)
        out: list[Link] = []
        seen = {item_id}

        def add(target: str, relation: Relation, direction: Literal["out", "in"], order: int = 0, needs: str = "") -> None:
            if target in seen or not self._keep(target, live_only):
                return
            seen.add(target)
            out.append(Link(self._items[target], relation, direction, order, needs))

        if "step" in relations:
            for e in self._out.get(item_id, ()):
                if e.relation == "step":
                    add(e.target, "step", "out", e.order, e.needs)
            for e in self._in.get(item_id, ()):
                if e.relation == "step":
                    add(e.source, "step", "in", e.order, e.needs)
        if "prerequisite" in relations:
            for p in item.prerequisites:
                add(p, "prerequisite", "out")
        if "related" in relations:
            for r in item.related:
                add(r, "related", "out")
            for e in self._in.get(item_id, ()):
                if e.relation == "related":
                    add(e.source, "related", "in")
        if "department" in relations:
            for other in self.items_of_department(item.department, live_only=live_only):
                add(other.id, "department", "out")
        return out

    def to_dot(self, *, live_only: bool = False) -> str:
        """The graph in Graphviz DOT (render with ``dot -Tsvg``)."""
        def q(s: str) -> str:
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

        style = {"step": "bold", "prerequisite": "solid", "related": "dashed", "department": "dotted"}
        lines = ["digraph kb {", "  rankdir=LR;", "  node [fontname=\"Noto Sans CJK SC\"];"]
        for item in self._items.values():
            if live_only and not item.is_live(self.today):
                continue
            shape = "box3d" if item.kind == "bundle" else "box"
            lines.append(f"  {q(item.id)} [label={q(item.name)}, shape={shape}];")
        for dept in self.departments():
            lines.append(f"  {q(department_node(dept))} [label={q(dept)}, shape=ellipse];")
        for e in self._edges:
            if not self._keep(e.source, live_only):
                continue
            if e.relation != "department" and not self._keep(e.target, live_only):
                continue
            label = f", label={q(str(e.order))}" if e.relation == "step" else ""
            lines.append(f"  {q(e.source)} -> {q(e.target)} [style={style[e.relation]}{label}];")
        lines.append("}")
        return "\n".join(lines) + "\n"
