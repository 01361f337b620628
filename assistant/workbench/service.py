"""The workbench service: what the knowledge operators' and evaluators' pages do.

- missed questions (``missed``), grouped, with one-click fixes that become drafts;
- drafts of items (``drafts``): every field, validated as ``kb validate`` does;
- previews of chosen questions on the published and the draft knowledge, side by side;
- the publish gate (``gate``) and publishing without a restart (``live``);
- every version with who, when and a field-level diff, and roll-back through the gate;
- 好差评 review tasks (``reviews``);
- evaluator runs (``evalruns``).

It stands on the running assistant and helpdesk (``assistant.wiring.Services``);
the API (``assistant/api/routes/workbench.py``) checks roles and audits.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.core.errors import Conflict, InvalidInput, KnowledgeBaseError, NotFound, XiaoShenError
from assistant.core.pii import mask
from assistant.core.settings import Settings
from assistant.core.types import OPEN_TICKET_STATUSES, DialogueState, RetrievalQuery, ServiceItem
from assistant.workbench.drafts import (
    Draft,
    DraftStore,
    VersionStore,
    apply_fields,
    check_base,
    field_diff,
    fields_view,
    parse_text,
    validate_text,
)
from assistant.workbench.evalruns import EvalRuns
from assistant.workbench.files import JsonTable, safe_name, sha, write_atomic
from assistant.workbench.gate import GateReport, run_gate
from assistant.workbench.live import LiveKnowledge, knowledge_version
from assistant.workbench.missed import group_json, group_questions, missed_questions
from assistant.workbench.reviews import FINDINGS, review_summary, review_tasks
from knowledge_base.loader import load_yaml, read_catalog, service_today

if TYPE_CHECKING:
    from assistant.wiring import Services


class GateRefused(XiaoShenError):
    """The gate found benchmark turns that the draft breaks; only a supervisor may override."""

    code = "gate_refused"
    http_status = 409

    def __init__(self, message: str, report: GateReport) -> None:
        super().__init__(message)
        self.report = report


class OverrideForbidden(XiaoShenError):
    """Someone without the supervisor role asked to publish over the gate."""

    code = "forbidden"
    http_status = 403


class DraftInvalid(XiaoShenError):
    """The draft has problems ``kb validate`` would report; they must be fixed first."""

    code = "draft_invalid"
    http_status = 422


#: seconds the dashboard's workbench figures are kept before they are read again.
INSIGHTS_TTL_S = 15.0


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class Workbench:
    """Knowledge operators' and evaluators' operations on the running server."""

    def __init__(self, settings: Settings, services: Services) -> None:
        self.settings = settings
        self.services = services
        self.assistant = services.assistant
        self.helpdesk = services.helpdesk
        self.storage = services.storage
        self.root = settings.paths.data_dir / "workbench"
        self.kb_dir = settings.paths.kb_dir
        self.drafts = DraftStore(self.root / "drafts")
        self.versions = VersionStore(self.root / "versions")
        self.marks = JsonTable(self.root / "marks.json")
        self.reviews = JsonTable(self.root / "reviews.json")
        self.runs = EvalRuns(settings, self.root)
        self.live = LiveKnowledge(settings, services.assistant, services.helpdesk)
        self._gates: dict[str, GateReport] = {}
        self._insights: tuple[float, dict[str, Any]] | None = None

    def use_services(self, services: Services) -> None:
        """Follow newly installed services (``app.state.on_install``: start-up and every
        switch to a new index artefact version, this worker's publish included)."""
        self.services = services
        self.assistant = services.assistant
        self.helpdesk = services.helpdesk
        self.storage = services.storage
        self.live.follow(services.assistant, services.helpdesk)
        self._gates.clear()
        self._insights = None

    # ------------------------------------------------------------------ items

    def catalog(self) -> list[Any] | None:
        """The service catalog, or None when the file is missing (checks then skip it)."""
        try:
            return read_catalog(self.settings.paths.catalog)
        except KnowledgeBaseError:
            return None

    def _path(self, item_id: str) -> Path:
        path = self.kb_dir / f"{safe_name(item_id, 'item id')}.yaml"
        if not path.is_file():
            raise NotFound(f"no item {item_id!r} in the knowledge base")
        return path

    def published_text(self, item_id: str) -> str:
        """The item's file as it is in the knowledge base."""
        return self._path(item_id).read_text(encoding="utf-8")

    def items(self, query: str = "") -> list[dict[str, Any]]:
        """Items of the knowledge base (all statuses), those matching ``query`` first by the retriever."""
        from knowledge_base.loader import item_files

        live = self.live.items
        drafts = {d.item_id for d in self.drafts.all()}
        rows = []
        for path in item_files(self.kb_dir):
            data = load_yaml(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                continue
            rows.append({
                "id": path.stem,
                "name": str(data.get("name", "")),
                "department": str(data.get("department", "")),
                "status": str(data.get("status", "")),
                "live": path.stem in live,
                "draft": path.stem in drafts,
                "aliases": [str(a) for a in data.get("aliases") or ()][:6],
            })
        q = query.strip()
        if not q:
            return rows
        order = {h.item_id: n for n, h in enumerate(self.live.engine.retriever.retrieve(RetrievalQuery(text=q), top_k=20))}
        lowered = q.lower()
        matched = [r for r in rows if r["id"] in order or lowered in r["id"] or lowered in r["name"].lower()
                   or any(lowered in a.lower() for a in r["aliases"])]
        return sorted(matched, key=lambda r: order.get(r["id"], 99))

    def item(self, item_id: str) -> dict[str, Any]:
        """The published item's fields, its draft (fields, problems, diff) and its versions."""
        text = self.published_text(item_id)
        out: dict[str, Any] = {"id": item_id, "published": {"fields": fields_view(text), "sha": sha(text)}, "draft": None}
        draft = self.drafts.get(item_id)
        if draft is not None:
            out["draft"] = self._draft_view(draft, text)
        out["live"] = item_id in self.live.items
        out["benchmark_questions"] = self.benchmark_questions(item_id)
        return out

    def benchmark_questions(self, item_id: str, limit: int = 10) -> list[str]:
        """Turns of the gate benchmark expecting the item (what the preview offers to try)."""
        from assistant.cases import load_benchmark

        path = self.settings.workbench.gate_benchmark
        if not path.is_file():
            return []
        bench = load_benchmark(path).for_item(item_id)
        turns = [t.user for c in bench.cases for t in c.turns if item_id in t.expect.items]
        return list(dict.fromkeys(turns))[:limit]

    def _draft_view(self, draft: Draft, published_text: str | None = None) -> dict[str, Any]:
        published_text = published_text if published_text is not None else self.published_text(draft.item_id)
        _, problems = validate_text(draft.text, draft.item_id, self.kb_dir, self.catalog())
        gate = self._gates.get(draft.item_id)
        return {
            "fields": fields_view(draft.text),
            "problems": problems,
            "diff": field_diff(load_yaml(published_text), load_yaml(draft.text)),
            "by": draft.by,
            "updated_at": draft.updated_at,
            "questions": list(draft.questions),
            "sha": draft.sha,
            "stale": draft.base_sha != sha(published_text),
            "gate": gate.to_json() if gate is not None and gate.draft_sha == draft.sha else None,
        }

    def _start_draft(self, item_id: str, by: str) -> Draft:
        draft = self.drafts.get(item_id)
        if draft is not None:
            return draft
        text = self.published_text(item_id)
        return Draft(item_id, text, sha(text), by, _now())

    def save_draft(
        self, item_id: str, changes: Mapping[str, str], *, by: str, questions: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Apply field edits to the item's draft (started from the published file when there is
        none), attach ``questions``; returns the draft with its problems and diff."""
        draft = self._start_draft(item_id, by)
        text, changed = apply_fields(draft.text, changes)
        attached = tuple(dict.fromkeys([*draft.questions, *(mask(q.strip()) for q in questions if q.strip())]))
        draft = dataclasses.replace(draft, text=text, by=by, updated_at=_now(), questions=attached)
        self.drafts.save(draft)
        self._gates.pop(item_id, None)
        return {**self._draft_view(draft), "changed": changed}

    def discard_draft(self, item_id: str) -> None:
        """Throw the draft away."""
        if self.drafts.get(item_id) is None:
            raise NotFound(f"{item_id} has no draft")
        self.drafts.delete(item_id)
        self._gates.pop(item_id, None)

    # ------------------------------------------------------------------ one-click fixes

    def fix_alias(self, item_id: str, question: str, *, by: str, group: Sequence[str] = ()) -> dict[str, Any]:
        """Add ``question`` as an alias of ``item_id`` in its draft (the group's questions attached)."""
        question = mask(question.strip())
        if not question:
            raise InvalidInput("the question is empty")
        draft = self._start_draft(item_id, by)
        data = load_yaml(draft.text) or {}
        aliases = [str(a) for a in data.get("aliases") or ()]
        if question not in aliases:
            aliases.append(question)
        return self.save_draft(item_id, {"aliases": "\n".join(aliases)}, by=by, questions=[question, *group])

    def fix_faq(
        self, item_id: str, question: str, answer: str, *, by: str, question_en: str = "", answer_en: str = "", group: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Add an FAQ (the citizen's question with the operator's answer) to ``item_id``'s draft."""
        import yaml

        question, answer = mask(question.strip()), answer.strip()
        if not question or not answer:
            raise InvalidInput("an FAQ needs the question and the answer; write the answer")
        draft = self._start_draft(item_id, by)
        data = load_yaml(draft.text) or {}
        faqs = list(data.get("faqs") or [])
        entry: dict[str, str] = {"question": question, "answer": answer}
        if question_en.strip():
            entry["question_en"] = question_en.strip()
        if answer_en.strip():
            entry["answer_en"] = answer_en.strip()
        faqs.append(entry)
        snippet = yaml.safe_dump(faqs, allow_unicode=True, sort_keys=False, width=1000)
        return self.save_draft(item_id, {"faqs": snippet}, by=by, questions=[question, *group])

    def mark(self, key: str, status: str, *, by: str, item_id: str = "") -> dict[str, Any]:
        """Mark a missed-question group ``out_of_scope`` (or clear the mark with ``open``)."""
        if status not in ("out_of_scope", "open"):
            raise InvalidInput(f"status {status!r} must be out_of_scope or open")
        if status == "open":
            self.marks.delete(key)
            return {"key": key, "mark": None}
        record = {"status": status, "by": by, "at": _now(), "item_id": item_id}
        self.marks.put(key, record)
        return {"key": key, "mark": record}

    # ------------------------------------------------------------------ missed questions

    def _window(self) -> tuple[datetime, datetime]:
        until = self.storage.clock() + timedelta(seconds=1)
        return until - timedelta(days=self.settings.workbench.window_days), until

    def inbox(self, *, sort: str = "frequent", include_marked: bool = False, limit: int = 100) -> dict[str, Any]:
        """Missed questions grouped, most frequent (or newest) first, with item suggestions."""
        since, until = self._window()
        questions = missed_questions(self.storage.reports.activity(since, until))
        embedder = getattr(self.live.engine.retriever, "embedder", None)
        groups = group_questions(questions, embedder, similarity=self.settings.workbench.group_similarity)
        marks = self.marks.all()
        if not include_marked:
            groups = [g for g in groups if g.key not in marks]
        if sort == "newest":
            groups.sort(key=lambda g: (g.newest, g.count), reverse=True)
        else:
            groups.sort(key=lambda g: (g.count, g.newest), reverse=True)
        live = self.live.items
        out = []
        for g in groups[:limit]:
            hits = self.live.engine.retriever.retrieve(RetrievalQuery(text=g.text), top_k=3)
            suggestions = [{"id": h.item_id, "name": live[h.item_id].name} for h in hits if h.item_id in live]
            out.append(group_json(g, marks, suggestions))
        return {"groups": out, "questions": len(questions), "since": since.isoformat(), "until": until.isoformat()}

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        """A conversation for the workbench: messages (masked), tickets and feedback."""
        conversation = self.assistant.store.get(conversation_id)
        tickets = self.helpdesk.store.tickets_of(conversation_id)
        return {
            "id": conversation.id,
            "lang": conversation.lang,
            "created_at": conversation.created_at.isoformat(),
            "messages": [
                {"id": t.id, "role": t.role, "text": mask(t.text), "action": t.action, "intent": t.intent,
                 "items": list(t.item_ids[:3]), "at": t.created_at.isoformat()}
                for t in conversation.turns
            ],
            "tickets": [{"id": t.id, "status": t.status, "reason": t.reason, "resolution": t.resolution} for t in tickets],
        }

    # ------------------------------------------------------------------ preview, gate, publish

    def _draft_item(self, item_id: str) -> tuple[Draft, ServiceItem]:
        draft = self.drafts.get(item_id)
        if draft is None:
            raise NotFound(f"{item_id} has no draft; edit the item first")
        item, problems = parse_text(draft.text, item_id)
        if item is None or problems:
            raise DraftInvalid(f"the draft of {item_id} does not parse: " + "; ".join(map(str, problems)))
        return draft, item

    def preview(self, item_id: str, questions: Sequence[str]) -> dict[str, Any]:
        """Each question answered by the published knowledge and by the draft, side by side."""
        questions = [q.strip() for q in questions if q.strip()][:30]
        if not questions:
            raise InvalidInput("choose at least one question to preview")
        draft, item = self._draft_item(item_id)
        candidate = self.live.candidate(item, draft.sha)
        live = self.live.engine
        rows = []
        for q in questions:
            row: dict[str, Any] = {"question": mask(q)}
            for side, engine in (("published", live), ("draft", candidate)):
                r = engine.turn(q, DialogueState(), ())
                row[side] = {
                    "action": r.answer.action.value,
                    "answer": r.answer.text,
                    "items": [h.item_id for h in r.hits[:3]],
                    "citations": sorted({c.item_id for c in r.answer.citations}),
                    "options": [o.label for o in r.answer.options],
                }
            row["changed"] = row["published"]["answer"] != row["draft"]["answer"]
            rows.append(row)
        return {"item_id": item_id, "rows": rows}

    def gate(self, item_id: str) -> GateReport:
        """Run the gate on the item's draft (cached for the same draft text)."""
        draft, item = self._draft_item(item_id)
        cached = self._gates.get(item_id)
        if cached is not None and cached.draft_sha == draft.sha:
            return cached
        from knowledge_base.loader import parse_item

        published, _ = parse_item(self._path(item_id))
        catalog = self.catalog() or []
        known = {c.id for c in catalog} | set(self.live.items)
        report = run_gate(
            self.settings, item, published, draft.sha, self.live.engine, self.live.candidate(item, draft.sha),
            questions=draft.questions, known_items=known,
        )
        self._gates[item_id] = report
        return report

    def publish(self, item_id: str, *, by: str, override_reason: str = "", can_override: bool = False, change: str = "") -> dict[str, Any]:
        """Validate, gate, write the item file, re-index only this item and switch the live
        assistant to it; the text is kept as a new version.  Refused (nothing written) when the
        draft is invalid, stale, or breaks a case without a supervisor's override."""
        with self.live.lock:
            path = self._path(item_id)
            published_text = path.read_text(encoding="utf-8")
            draft, _ = self._draft_item(item_id)
            check_base(draft, published_text)
            _, problems = validate_text(draft.text, item_id, self.kb_dir, self.catalog())
            if problems:
                raise DraftInvalid(f"{item_id} cannot be published, {len(problems)} problem(s): " + "; ".join(problems))
            report = self.gate(item_id)
            gate_info: dict[str, Any] = {"passed": report.passed, "counts": report.counts}
            if not report.passed:
                broken = [t for t in report.turns if t.change in ("newly_failing", "error")]
                listing = "; ".join(
                    f"{t.case_id} turn {t.turn + 1} ({t.user}): expected {','.join(t.expect_items) or '-'}, "
                    f"draft ranks {','.join(t.draft_top) or '-'}{' ' + t.error if t.error else ''}"
                    for t in broken[:5]
                )
                if not override_reason.strip():
                    raise GateRefused(f"the draft breaks {len(broken)} benchmark turn(s): {listing}", report)
                if not can_override:
                    raise OverrideForbidden(
                        f"only a supervisor may publish over the gate; {by} may not (the draft breaks: {listing})"
                    )
                gate_info["override"] = {"by": by, "reason": override_reason.strip()}
            before = load_yaml(published_text)
            diff = field_diff(before, load_yaml(draft.text))
            fields = ", ".join(d["field"] for d in diff) or "no field"
            what = change or f"workbench: {fields} changed"
            if draft.questions:
                what += f" ({len(draft.questions)} missed question(s))"
            if gate_info.get("override"):
                what += f"; gate overridden by {by}: {override_reason.strip()}"
            final_text = self._stamped(draft.text, by=by, change=what)
            final, problems = parse_text(final_text, item_id)
            if final is None or problems:
                raise DraftInvalid("; ".join(map(str, problems)))
            if not self.versions.list(item_id):
                self.versions.add(item_id, published_text, at=_now(), by="(knowledge base)", change="as it was before the workbench")
            today = service_today()
            items = [i for i in self.live.items.values() if i.id != item_id] + ([final] if final.is_live(today) else [])
            release = self.live.build(items)  # build the new version: only this item is re-indexed
            write_atomic(path, final_text)
            self.live.switch(release)  # then switch to it: new requests here answer from it at once
            artefact = ""
            if self.services.artefact is not None:
                # and every worker (this one too, a moment later) switches to it as a new
                # version of the index artefact (assistant.artefact, assistant.api.artefact_watch)
                from assistant.wiring import write_artefact

                written, _ = write_artefact(self.settings, list(release.items.values()))
                artefact = written.version
            version = self.versions.add(item_id, final_text, at=_now(), by=by, change=what, gate=gate_info)
            self.drafts.delete(item_id)
            self._gates.pop(item_id, None)
            for q in draft.questions:
                from assistant.helpdesk import normalise_question

                key = normalise_question(q) or q
                if self.marks.get(key) is None:
                    self.marks.put(key, {"status": "fixed", "by": by, "at": _now(), "item_id": item_id, "version": version.n})
            return {
                "item_id": item_id,
                "version": version.n,
                "knowledge_version": release.version,
                "artefact_version": artefact,
                "build_seconds": round(release.build_seconds, 2),
                "diff": diff,
                "gate": gate_info,
                "before_sha": sha(published_text),
                "after_sha": sha(final_text),
            }

    def _stamped(self, text: str, *, by: str, change: str) -> str:
        """``text`` as published: status published, updated today, one more history entry."""
        from knowledge_base.lifecycle import record_change

        data = load_yaml(text) or {}
        scalars: dict[str, object] = {"updated": service_today()}
        if data.get("status") != "published":
            scalars["status"] = "published"
            if not data.get("effective_from"):
                scalars["effective_from"] = service_today()
        with tempfile.TemporaryDirectory(prefix="xs-publish-") as tmp:
            path = Path(tmp) / "item.yaml"
            path.write_text(text, encoding="utf-8")
            record_change(path, by=by, change=change, scalars=scalars)
            return path.read_text(encoding="utf-8")

    # ------------------------------------------------------------------ history and roll-back

    def history(self, item_id: str) -> dict[str, Any]:
        """Every kept version (newest first) with who, when, what, the gate and the field-level
        diff against the version before; and the file's own history entries."""
        text = self.published_text(item_id)
        versions = self.versions.list(item_id)
        out = []
        previous = None
        for v in versions:
            data = load_yaml(self.versions.text(item_id, v.n))
            out.append({**dataclasses.asdict(v), "diff": field_diff(previous, data) if previous is not None else [],
                        "current": v.sha == sha(text)})
            previous = data
        data = load_yaml(text) or {}
        entries = [{"at": str(h.get("at")), "by": h.get("by"), "change": h.get("change")} for h in data.get("history") or []]
        return {"item_id": item_id, "versions": list(reversed(out)), "file_history": list(reversed(entries))}

    def rollback_draft(self, item_id: str, n: int, *, by: str) -> dict[str, Any]:
        """Make version ``n`` the item's draft (the history list stays the current one's);
        publishing it then goes through the gate like any edit."""
        from knowledge_base.yamledit import replace_block

        old_text = self.versions.text(item_id, n)
        current = self.published_text(item_id)
        history = (load_yaml(current) or {}).get("history") or []
        text = replace_block(old_text, "history", history) if history else old_text
        if self.drafts.get(item_id) is not None:
            raise Conflict(f"{item_id} has a draft; publish or discard it before rolling back")
        draft = Draft(item_id, text, sha(current), by, _now())
        self.drafts.save(draft)
        return self._draft_view(draft, current)

    # ------------------------------------------------------------------ 好差评 reviews

    def _tasks(self) -> list[Any]:
        since, until = self._window()
        return review_tasks(
            self.storage.reports.activity(since, until), self.reviews.all(),
            days=self.settings.workbench.review_days, tz=self.settings.helpdesk.timezone,
        )

    def review_list(self, *, status: str = "") -> dict[str, Any]:
        """Review tasks (open first, newest first) with the conversation's questions."""
        tasks = self._tasks()
        today = datetime.now(timezone.utc).date()
        rows = []
        for t in tasks:
            if status and t.status != status:
                continue
            f = t.feedback
            rows.append({
                "feedback_id": f.id, "conversation_id": f.conversation_id, "rating": f.rating,
                "comment": mask(f.comment), "rated_at": f.created_at.isoformat(), "due": t.due.isoformat(),
                "status": t.status, "overdue": t.closed is None and today > t.due, "closed": t.closed,
            })
        rows.sort(key=lambda r: r["rated_at"], reverse=True)
        rows.sort(key=lambda r: r["status"] != "open")  # open first, each newest first (a stable sort)
        return {"tasks": rows, "summary": review_summary(tasks, today=today, tz=self.settings.helpdesk.timezone),
                "findings": list(FINDINGS)}

    def close_review(self, feedback_id: int, *, finding: str, fix: str, note: str, by: str) -> dict[str, Any]:
        """Close a review: the finding, the fix, and the citizen's ticket closed with the note."""
        if finding not in FINDINGS:
            raise InvalidInput(f"finding {finding!r} must be one of {', '.join(FINDINGS)}")
        if not note.strip():
            raise InvalidInput("write the note the citizen will read")
        task = next((t for t in self._tasks() if t.feedback.id == feedback_id), None)
        if task is None:
            raise NotFound(f"no bad rating {feedback_id} in the last {self.settings.workbench.window_days} days")
        if task.closed is not None:
            raise Conflict(f"review {feedback_id} was closed by {task.closed['by']} at {task.closed['closed_at']}")
        cid = task.feedback.conversation_id
        open_tickets = [t for t in self.helpdesk.store.tickets_of(cid) if t.status in OPEN_TICKET_STATUSES]
        ticket_id = None
        if open_tickets:
            ticket = open_tickets[-1]
            self.helpdesk.claim(ticket.id, by)
            self.helpdesk.queue.resolve(ticket.id, by, resolution="processed", notice=note.strip())
            ticket_id = ticket.id
        else:
            tickets = self.helpdesk.store.tickets_of(cid)
            ticket_id = tickets[-1].id if tickets else None
            self.helpdesk.store.add_message(cid, "system", note.strip())
        record = {
            "feedback_id": feedback_id, "conversation_id": cid, "finding": finding, "fix": fix.strip(),
            "note": note.strip(), "by": by, "closed_at": _now(), "ticket_id": ticket_id,
        }
        self.reviews.put(str(feedback_id), record)
        self._insights = None
        return record

    # ------------------------------------------------------------------ dashboard

    def insights(self) -> dict[str, Any]:
        """The dashboard's workbench figures: top missed questions, intent and aspect mix
        (overall and per day), and the 好差评 review figure.  Kept for
        ``INSIGHTS_TTL_S`` seconds: the dashboard refreshes every few seconds and the
        figures read a month of conversations."""
        import time

        cached = self._insights
        if cached is not None and time.monotonic() - cached[0] < INSIGHTS_TTL_S:
            return cached[1]
        value = self._compute_insights()
        self._insights = (time.monotonic(), value)
        return value

    def _compute_insights(self) -> dict[str, Any]:
        from intents.aspects import predict_aspects

        since, until = self._window()
        activity = self.storage.reports.activity(since, until)
        hours = self.helpdesk.hours
        intents: Counter[str] = Counter()
        aspects: Counter[str] = Counter()
        by_day: dict[str, Counter[str]] = defaultdict(Counter)
        for t in activity.turns:
            if t.role != "user":
                continue
            intents[t.intent or "(none)"] += 1
            by_day[hours.local_date(t.created_at).isoformat()][t.intent or "(none)"] += 1
            for a in predict_aspects(t.text).aspects:
                aspects[a] += 1
        inbox = self.inbox(limit=10)
        tasks = self._tasks()
        return {
            "intents": dict(intents.most_common()),
            "aspects": dict(aspects.most_common()),
            "intents_by_day": {d: dict(c) for d, c in sorted(by_day.items())},
            "top_missed": [{"text": g["text"], "count": g["count"], "signals": g["signals"]} for g in inbox["groups"]],
            "reviews": review_summary(tasks, today=datetime.now(timezone.utc).date(), tz=self.settings.helpdesk.timezone),
            "review_days": self.settings.workbench.review_days,
        }

    def kb_version(self) -> str:
        """The live knowledge's fingerprint (evaluator runs record it)."""
        return knowledge_version(self.live.items)
