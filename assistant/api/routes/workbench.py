"""The knowledge operators' workbench and the evaluators' runs (``assistant.workbench``).

Roles: every route needs ``kb_operator`` (supervisors and admins act as one);
publishing over a failing gate needs ``supervisor`` as well.  Every change is
audited: ``kb.edit``, ``kb.publish``, ``kb.rollback``, ``kb.gate_override``,
``review.close``.  The operations dashboard's extra figures (``/insights``)
are open to any member of staff who may see the dashboard (agents too).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as FastPath
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from assistant.api.auth import Principal, audit, require_roles
from assistant.api.deps import NotReady
from assistant.core.errors import NotFound
from assistant.workbench.reviews import FINDINGS

OperatorDep = Annotated[Principal, Depends(require_roles("kb_operator"))]
SupervisorDep = Annotated[Principal, Depends(require_roles("supervisor"))]

router = APIRouter(prefix="/api/v1/workbench", tags=["workbench"])
evaluation = APIRouter(prefix="/api/v1/evaluation", tags=["evaluation"])


def _workbench(request: Request) -> Any:
    bench = getattr(request.app.state, "workbench", None)
    if bench is None:
        raise NotReady("the workbench is not ready yet; retry when GET /readyz answers 200")
    return bench


WorkbenchDep = Annotated[Any, Depends(_workbench)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: what the schema says of an item id, run id or file name (assistant.workbench.files.safe_name checks it:
#: a letter or digit first, then letters, digits, '-', '_' and single dots).
NAME_SCHEMA = {"pattern": r"^[A-Za-z0-9](?:[A-Za-z0-9_-]|\.[A-Za-z0-9_-])*\.?$", "maxLength": 128}
SafeName = Annotated[str, FastPath(json_schema_extra=NAME_SCHEMA)]


class MarkIn(_In):
    key: str = Field(..., min_length=1, max_length=400)
    status: Literal["out_of_scope", "open"]


class DraftIn(_In):
    #: field name -> the editor's text of the field (see ``assistant.workbench.drafts``).
    fields: dict[str, str] = Field(default_factory=dict)
    questions: list[str] = Field(default_factory=list, max_length=50)


class FixIn(_In):
    kind: Literal["alias", "faq"]
    question: str = Field(..., min_length=1, max_length=500)
    answer: str = Field("", max_length=4000)
    question_en: str = Field("", max_length=500)
    answer_en: str = Field("", max_length=4000)
    #: the other questions of the group, attached to the draft for the gate.
    group: list[str] = Field(default_factory=list, max_length=50)
    group_key: str = Field("", max_length=400)


class PreviewIn(_In):
    questions: list[str] = Field(..., min_length=1, max_length=30)


class PublishIn(_In):
    #: a supervisor's reason to publish although the gate found broken cases.
    override_reason: str = Field("", max_length=1000)


class RollbackIn(_In):
    version: int = Field(..., ge=0)
    override_reason: str = Field("", max_length=1000)


class CloseReviewIn(_In):
    finding: str = Field(..., min_length=1, max_length=40, json_schema_extra={"enum": list(FINDINGS)})
    fix: str = Field("", max_length=500)
    note: str = Field(..., min_length=1, max_length=2000)


class UploadIn(_In):
    name: str = Field(..., min_length=1, max_length=120, json_schema_extra=NAME_SCHEMA)
    kind: Literal["benchmark", "corpus"] = "benchmark"
    content: str


class RunIn(_In):
    benchmark: str = Field(..., min_length=1, max_length=120, json_schema_extra=NAME_SCHEMA)
    corpus: str = Field("", max_length=120, json_schema_extra={"anyOf": [{"const": ""}, NAME_SCHEMA]})
    limit: int | None = Field(None, ge=1)
    label: str = Field("", max_length=80)


class CompareIn(_In):
    a: str = Field(..., min_length=1, max_length=64, json_schema_extra=NAME_SCHEMA)
    b: str = Field(..., min_length=1, max_length=64, json_schema_extra=NAME_SCHEMA)


def _gate_refused(e: Any) -> JSONResponse:
    """The error body, with the gate's report beside it (the page shows the failing cases)."""
    body = {"error": {"code": e.code, "message": str(e)}, "gate": e.report.to_json()}
    return JSONResponse(status_code=e.http_status, content=body)


# --------------------------------------------------------------------------- missed questions


@router.get("/missed")
async def missed(
    bench: WorkbenchDep,
    _: OperatorDep,
    sort: Literal["frequent", "newest"] = "frequent",
    marked: bool = False,
) -> dict[str, Any]:
    """Missed questions grouped by similarity, counted, most frequent (or newest) first."""
    return await run_in_threadpool(bench.inbox, sort=sort, include_marked=marked)


@router.post("/missed/mark")
def mark(body: MarkIn, request: Request, bench: WorkbenchDep, who: OperatorDep) -> dict[str, Any]:
    """Mark a group out of scope (or open it again)."""
    out = bench.mark(body.key, body.status, by=who.username)
    audit(request, who, "kb.edit", f"missed:{body.key}", after={"mark": body.status})
    return out


@router.get("/conversations/{conversation_id}")
def conversation(conversation_id: str, bench: WorkbenchDep, _: OperatorDep) -> dict[str, Any]:
    """A conversation behind a missed question or a bad rating (personal data masked)."""
    return bench.conversation(conversation_id)


# --------------------------------------------------------------------------- items and drafts


@router.get("/items")
def items(bench: WorkbenchDep, _: OperatorDep, q: Annotated[str, Query(max_length=200)] = "") -> list[dict[str, Any]]:
    """Items of the knowledge base; with ``q``, the matching ones, best first."""
    return bench.items(q)


@router.get("/items/{item_id}")
def item(item_id: SafeName, bench: WorkbenchDep, _: OperatorDep) -> dict[str, Any]:
    """The published item's fields and its draft with problems, diff and gate result."""
    return bench.item(item_id)


@router.put("/items/{item_id}/draft")
def save_draft(item_id: SafeName, body: DraftIn, request: Request, bench: WorkbenchDep, who: OperatorDep) -> dict[str, Any]:
    """Save edited fields into the item's draft; returns its problems and diff."""
    out = bench.save_draft(item_id, body.fields, by=who.username, questions=body.questions)
    audit(request, who, "kb.edit", item_id, after={"fields": out["changed"], "draft": out["sha"]})
    return out


@router.delete("/items/{item_id}/draft")
def discard_draft(item_id: SafeName, request: Request, bench: WorkbenchDep, who: OperatorDep) -> dict[str, str]:
    """Throw the draft away."""
    bench.discard_draft(item_id)
    audit(request, who, "kb.edit", item_id, after={"draft": "discarded"})
    return {"item_id": item_id, "draft": "discarded"}


@router.post("/items/{item_id}/fix")
def fix(item_id: SafeName, body: FixIn, request: Request, bench: WorkbenchDep, who: OperatorDep) -> dict[str, Any]:
    """A one-click fix of a missed question: an alias or an FAQ in the item's draft."""
    if body.kind == "alias":
        out = bench.fix_alias(item_id, body.question, by=who.username, group=body.group)
    else:
        out = bench.fix_faq(
            item_id, body.question, body.answer, by=who.username,
            question_en=body.question_en, answer_en=body.answer_en, group=body.group,
        )
    audit(request, who, "kb.edit", item_id, after={"fix": body.kind, "question": body.question, "draft": out["sha"]})
    return out


@router.post("/items/{item_id}/preview")
async def preview(item_id: SafeName, body: PreviewIn, bench: WorkbenchDep, _: OperatorDep) -> dict[str, Any]:
    """The chosen questions answered by the published item and by the draft, side by side."""
    return await run_in_threadpool(bench.preview, item_id, body.questions)


@router.post("/items/{item_id}/gate")
async def gate(item_id: SafeName, bench: WorkbenchDep, _: OperatorDep) -> dict[str, Any]:
    """Run the gate on the draft: the item's benchmark cases and attached questions, before and after."""
    report = await run_in_threadpool(bench.gate, item_id)
    return report.to_json()


def _publish(request: Request, bench: Any, who: Principal, item_id: str, override: str, change: str = "") -> Any:
    from assistant.workbench import GateRefused

    try:
        out = bench.publish(
            item_id, by=who.username, override_reason=override, can_override=who.acts_as("supervisor"), change=change
        )
    except GateRefused as e:
        return _gate_refused(e)
    if out["gate"].get("override"):
        audit(request, who, "kb.gate_override", item_id, before={"gate": out["gate"]["counts"]}, after=out["gate"]["override"])
    return out


@router.post("/items/{item_id}/publish")
async def publish(item_id: SafeName, body: PublishIn, request: Request, bench: WorkbenchDep, who: OperatorDep) -> Any:
    """Publish the draft through the gate; the running server answers from it at once.

    409 with the gate report when the draft breaks a case (a supervisor may send
    ``override_reason``), 422 when the draft has problems, 409 when it is stale."""
    out = await run_in_threadpool(_publish, request, bench, who, item_id, body.override_reason)
    if isinstance(out, dict):
        audit(request, who, "kb.publish", item_id, before={"sha": out["before_sha"]},
              after={"sha": out["after_sha"], "version": out["version"], "fields": [d["field"] for d in out["diff"]]})
    return out


@router.get("/items/{item_id}/history")
def history(item_id: SafeName, bench: WorkbenchDep, _: OperatorDep) -> dict[str, Any]:
    """Every version with who, when, what and a field-level diff."""
    return bench.history(item_id)


@router.post("/items/{item_id}/rollback")
async def rollback(item_id: SafeName, body: RollbackIn, request: Request, bench: WorkbenchDep, who: OperatorDep) -> Any:
    """Roll back to a version: it becomes the draft and is published through the gate."""
    await run_in_threadpool(bench.rollback_draft, item_id, body.version, by=who.username)
    out = await run_in_threadpool(
        _publish, request, bench, who, item_id, body.override_reason, f"rollback to version {body.version}"
    )
    if isinstance(out, dict):
        audit(request, who, "kb.rollback", item_id, before={"sha": out["before_sha"]},
              after={"sha": out["after_sha"], "to_version": body.version, "version": out["version"]})
    return out


# --------------------------------------------------------------------------- 好差评 reviews


@router.get("/reviews")
def reviews(bench: WorkbenchDep, _: OperatorDep, status: Literal["", "open", "closed"] = "") -> dict[str, Any]:
    """Review tasks of bad ratings, open first, with the 5-working-day figure."""
    return bench.review_list(status=status)


@router.post("/reviews/{feedback_id}/close")
def close_review(feedback_id: int, body: CloseReviewIn, request: Request, bench: WorkbenchDep, who: OperatorDep) -> dict[str, Any]:
    """Close a review with the finding and the fix; the citizen's ticket is closed with the note."""
    out = bench.close_review(feedback_id, finding=body.finding, fix=body.fix, note=body.note, by=who.username)
    audit(request, who, "review.close", f"feedback:{feedback_id}", after=out)
    return out


@router.get("/insights")
async def insights(bench: WorkbenchDep, _: SupervisorDep) -> dict[str, Any]:
    """Top missed questions, intent and aspect mix, and bad ratings reviewed in time (the dashboard)."""
    return await run_in_threadpool(bench.insights)


# --------------------------------------------------------------------------- evaluators


@evaluation.get("/benchmarks")
def benchmarks(bench: WorkbenchDep, _: OperatorDep) -> dict[str, list[str]]:
    """Benchmarks (built in and uploaded) and corpora a run may use."""
    return bench.runs.benchmarks()


@evaluation.post("/benchmarks")
def upload(body: UploadIn, bench: WorkbenchDep, _: OperatorDep) -> dict[str, Any]:
    """Upload a benchmark (checked line by line) or a question-answer corpus."""
    known = {c.id for c in bench.catalog() or ()} | set(bench.live.items)
    report = bench.runs.upload(body.name, body.content, kind=body.kind, known_items=known)
    return {"name": report.name, "cases": report.cases, "turns": report.turns, "problems": list(report.problems)}


@evaluation.post("/runs", status_code=202)
def start_run(body: RunIn, bench: WorkbenchDep, who: OperatorDep) -> dict[str, Any]:
    """Run a benchmark in the background; poll ``GET /runs/{id}`` for its progress."""
    return bench.runs.start(
        body.benchmark, by=who.username, kb_version=bench.kb_version(), corpus=body.corpus, limit=body.limit, label=body.label
    )


@evaluation.get("/runs")
def runs(bench: WorkbenchDep, _: OperatorDep) -> list[dict[str, Any]]:
    """Every run, newest first."""
    return bench.runs.list()


@evaluation.get("/runs/{run_id}")
def run(run_id: SafeName, bench: WorkbenchDep, _: OperatorDep) -> dict[str, Any]:
    """A run with its progress, settings, knowledge version and (when done) metrics."""
    return bench.runs.get(run_id)


@evaluation.get("/runs/{run_id}/files/{name}")
def run_file(run_id: SafeName, name: SafeName, bench: WorkbenchDep, _: OperatorDep) -> FileResponse:
    """A report file: metrics.json, failures.jsonl, report.md, settings.json or a plot."""
    path = bench.runs.file(run_id, name)
    media = {"png": "image/png", "json": "application/json", "jsonl": "application/x-ndjson", "md": "text/markdown"}
    kind = media.get(name.rsplit(".", 1)[-1])
    if kind is None:
        raise NotFound(name)
    disposition = "inline" if kind == "image/png" else "attachment"
    return FileResponse(path, media_type=kind, headers={"Content-Disposition": f'{disposition}; filename="{run_id}-{name}"'})


@evaluation.post("/compare")
async def compare(body: CompareIn, bench: WorkbenchDep, _: OperatorDep) -> dict[str, Any]:
    """Metric differences and newly failing / passing cases between two runs."""
    return await run_in_threadpool(bench.runs.compare, body.a, body.b)
