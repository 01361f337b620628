"""The policy check-up for other channels: a profile in, the three lists out.

``POST /api/v1/checkup`` takes what a caller already knows about a citizen or
a company (every field optional; unknown ones stay unknown) and answers with
the verdict on every item that carries eligibility data, each with the item's
own condition lines, plus the questions still worth asking, most decisive
first, so that another channel (a phone line, a counter, a partner app) can
ask them.  Nothing is stored: the profile lives in the request only.

The profile body is built from ``assistant.core.profile.FIELDS``: choice
fields take their value keys, counted fields whole numbers (``age`` in years,
``insurance_months`` in months); ``children_ages`` lists the children's ages
([] for none) and becomes the youngest child's age.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from assistant.api.deps import AssistantDep
from assistant.core.errors import InvalidInput
from assistant.core.profile import FIELDS, FIELDS_BY_KEY, fields_of, with_value
from assistant.core.types import ConditionCheck, Profile, ProfileQuestion, ServiceItem, Verdict
from assistant.dialogue.checkup import how_to_apply

router = APIRouter(prefix="/api/v1", tags=["checkup"])


def _profile_model(audience: str) -> type[BaseModel]:
    """The profile body of ``audience``, one optional field per catalog field."""
    fields: dict[str, Any] = {}
    for f in fields_of(audience):
        if f.key == "youngest_child_age":
            fields["children_ages"] = (
                list[int] | None,
                Field(
                    None,
                    description="the children's ages in whole years; [] for no children",
                    max_length=20,
                    # what the profile accepts for the youngest child's age (checked in the route)
                    json_schema_extra={"items": {"type": "integer", "minimum": 0, "maximum": f.maximum}},
                ),
            )
            continue
        if f.kind == "choice":
            tp: Any = Literal[tuple(f.values())]  # type: ignore[valid-type]
            desc = f"{f.label_en}: " + ", ".join(f"{c.value} ({c.label_en})" for c in f.choices)
            fields[f.key] = (tp | None, Field(None, description=desc))
        else:
            unit = "months" if f.unit == "months" else "years"
            fields[f.key] = (int | None, Field(None, ge=0, le=f.maximum, description=f"{f.label_en}, in {unit}"))
    name = "CitizenProfileIn" if audience == "citizen" else "EnterpriseProfileIn"
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


CitizenProfileIn = _profile_model("citizen")
EnterpriseProfileIn = _profile_model("enterprise")
FieldKey = Literal[tuple(f.key for f in FIELDS)]  # type: ignore[valid-type]


class CheckupIn(BaseModel):
    """A check-up request: the audience, what is known, and what the person declined to say."""

    # the schema gives ``profile`` the shape of the audience's profile (checked so in the route)
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {"properties": {"audience": {"const": "enterprise"}}, "required": ["audience"]},
            "then": {
                "properties": {
                    "profile": EnterpriseProfileIn.model_json_schema(),
                    "declined": {"items": {"enum": [f.key for f in fields_of("enterprise")]}},
                }
            },
            "else": {
                "properties": {
                    "profile": CitizenProfileIn.model_json_schema(),
                    "declined": {"items": {"enum": [f.key for f in fields_of("citizen")]}},
                }
            },
        },
    )

    audience: Literal["citizen", "enterprise"] = "citizen"
    lang: Literal["zh", "en"] = "zh"
    #: the known facts; the body's shape follows ``audience`` (see the two profile schemas).
    profile: dict[str, Any] = Field(default_factory=dict)
    #: fields the person chose not to answer (they stay unknown and are not asked again).
    declined: list[FieldKey] = Field(default_factory=list, max_length=len(FIELDS))  # type: ignore[valid-type]


class CheckOut(BaseModel):
    """One condition of an item, quoted, with its outcome for the profile."""

    condition: str
    where: str
    situation: str
    outcome: Literal["met", "unmet", "unknown"]
    missing: list[str]
    office: list[str]


class VerdictOut(BaseModel):
    """The verdict on one item."""

    item_id: str
    name: str
    status: Literal["eligible", "possible", "ineligible"]
    automatic: bool
    route: str
    how_to_apply: str
    reasons: list[CheckOut]
    checks: list[CheckOut]
    procedures: list[str]
    updated: date


class AnswerOut(BaseModel):
    field: str
    value: str
    label: str


class QuestionOut(BaseModel):
    """A question still worth asking: its text, the answers on offer, the items it can change."""

    key: str
    fields: list[str]
    question: str
    checklist: bool
    answers: list[AnswerOut]
    settles: list[str]


class CheckupOut(BaseModel):
    """The three lists, and what to ask next (empty when no answer can change a verdict)."""

    audience: str
    eligible: list[VerdictOut]
    possible: list[VerdictOut]
    ineligible: list[VerdictOut]
    next_questions: list[QuestionOut]


def _profile(body: CheckupIn) -> Profile:
    model = CitizenProfileIn if body.audience == "citizen" else EnterpriseProfileIn
    try:
        known = model.model_validate(body.profile)
    except ValidationError as e:
        # the same 422 shape as a body error: each wrong field named with what is wrong
        where = "; ".join(
            f"profile.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise InvalidInput(f"{where} (the {body.audience} profile fields are in the API schema)") from e
    profile = Profile(body.audience)
    for key, value in known.model_dump(exclude_none=True).items():
        if key == "children_ages":
            key, value = "youngest_child_age", (min(value) if value else "none")
        try:
            profile = with_value(profile, key, str(value))
        except ValueError as e:
            raise InvalidInput(f"profile.{key}: {e}") from e
    declined = tuple(dict.fromkeys(body.declined))
    for key in declined:
        if FIELDS_BY_KEY[key].audience != body.audience:
            raise InvalidInput(f"declined: {key!r} is not a field of {body.audience} profiles")
        if profile.knows(key):
            raise InvalidInput(f"declined: {key!r} is also answered; send one or the other")
    return Profile(profile.audience, profile.choices, profile.numbers, declined)


def _check(c: ConditionCheck, lang: str) -> CheckOut:
    en = lang == "en"
    return CheckOut(
        condition=(c.cited.text_en or c.cited.text) if en else c.cited.text,
        where=c.cited.where,
        situation=c.cited.situation,
        outcome=c.outcome,
        missing=list(c.missing),
        office=list(c.office_en if en else c.office),
    )


def _verdict(v: Verdict, item: ServiceItem, lang: str) -> VerdictOut:
    en = lang == "en"
    return VerdictOut(
        item_id=v.item_id,
        name=(item.name_en or item.name) if en else item.name,
        status=v.status,
        automatic=v.automatic,
        route=v.route,
        how_to_apply=how_to_apply(item, v, lang) if v.status != "ineligible" else "",  # type: ignore[arg-type]
        reasons=[_check(c, lang) for c in v.reasons],
        checks=[_check(c, lang) for c in v.checks],
        procedures=[(p.text_en or p.text) if en else p.text for p in v.procedures],
        updated=item.updated,
    )


def _question(q: ProfileQuestion, lang: str) -> QuestionOut:
    en = lang == "en"
    f = FIELDS_BY_KEY[q.fields[0]]
    text = ("Tick every line that applies" if en else "以下情况，符合的请都选上") if q.checklist else (
        f.question_en if en else f.question
    )
    return QuestionOut(
        key=q.key,
        fields=list(q.fields),
        question=text,
        checklist=q.checklist,
        answers=[AnswerOut(field=a.field, value=a.value, label=a.label_en if en else a.label) for a in q.answers],
        settles=list(q.settles),
    )


@router.post("/checkup", response_model=CheckupOut)
def checkup(body: CheckupIn, assistant: AssistantDep) -> CheckupOut:
    """Policy check-up (政策体检): eligible, possibly eligible (with what is missing) and not
    eligible (with why), each citing the item's condition; plus the questions still worth
    asking.  Deterministic: the same profile always gets the same answer."""
    profile = _profile(body)
    engine = assistant.dialogue.checkup
    result = engine.assess(profile)
    items = assistant.items
    out: dict[str, list[VerdictOut]] = {"eligible": [], "possible": [], "ineligible": []}
    for v in result.verdicts:
        if v.item_id in items:
            out[v.status].append(_verdict(v, items[v.item_id], body.lang))
    questions = [_question(q, body.lang) for q in engine.questions(profile)]
    return CheckupOut(audience=result.audience, next_questions=questions, **out)
