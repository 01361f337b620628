"""The values that cross stage boundaries, and one small Protocol per stage.

Everything here is a frozen dataclass or a Protocol from the standard library:
no framework type leaks into the core.  Files, HTTP bodies and settings are
validated with pydantic at the edges and converted into these types there.

Stages (see ``assistant.wiring.build_assistant``)::

    text -> IntentClassifier -> Retriever (-> Reranker) -> policy -> Generator -> Answer
                                                            \\-> HandoffQueue
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, Protocol, runtime_checkable

import numpy as np

# pydantic reads this attribute when it validates a stdlib dataclass at an edge
# (knowledge-base files); a plain dict keeps pydantic out of the core imports.
_FORBID_EXTRA = {"extra": "forbid"}

Lang = Literal["zh", "en"]
LANGS: tuple[str, ...] = ("zh", "en")

#: The intent taxonomy of ``shared/benchmark-format.md``, in its order.
INTENTS: tuple[str, ...] = (
    "consult.overview",
    "consult.materials",
    "consult.conditions",
    "consult.process",
    "consult.fee",
    "consult.time_limit",
    "consult.location",
    "consult.online",
    "request_human",
    "complaint",
    "greeting",
    "thanks",
    "out_of_scope",
)
CONSULT_INTENTS: tuple[str, ...] = tuple(i for i in INTENTS if i.startswith("consult."))


class Action(str, enum.Enum):
    """What the assistant does with a turn."""

    ANSWER = "answer"
    CLARIFY = "clarify"
    HANDOFF = "handoff"
    REFUSE = "refuse"
    CHITCHAT = "chitchat"


ACTIONS: tuple[str, ...] = tuple(a.value for a in Action)

ItemKind = Literal["item", "policy", "bundle"]
ItemStatus = Literal["draft", "published", "retired"]
MaterialForm = Literal["original", "copy", "original_and_copy", "electronic", "form"]


# --------------------------------------------------------------------------- knowledge base


@dataclass(frozen=True)
class Material:
    """One document to bring: ``form`` says original or copy, ``count`` how many."""

    __pydantic_config__ = _FORBID_EXTRA
    name: str
    form: MaterialForm = "original"
    count: int = 1
    note: str = ""
    #: situation keys this material applies to; empty means every situation.
    situations: tuple[str, ...] = ()
    name_en: str = ""
    note_en: str = ""


@dataclass(frozen=True)
class Step:
    """One step of the procedure; for a bundle, ``item`` names the member item."""

    __pydantic_config__ = _FORBID_EXTRA
    title: str
    detail: str = ""
    item: str = ""
    #: for bundle steps: what this step needs from the citizen or a previous step.
    needs: str = ""
    title_en: str = ""
    detail_en: str = ""
    needs_en: str = ""


@dataclass(frozen=True)
class Location:
    """Where to apply in person."""

    __pydantic_config__ = _FORBID_EXTRA
    name: str
    address: str = ""
    hours: str = ""
    phone: str = ""
    note: str = ""
    name_en: str = ""
    address_en: str = ""
    hours_en: str = ""
    note_en: str = ""


@dataclass(frozen=True)
class OnlineChannel:
    """How to do it online: 一网通办 web, 随申办 app, or another official channel."""

    __pydantic_config__ = _FORBID_EXTRA
    available: bool = True
    web: str = ""
    app: str = ""
    note: str = ""
    web_en: str = ""
    app_en: str = ""
    note_en: str = ""


@dataclass(frozen=True)
class FAQ:
    """A citizen-style question with an answer drawn from the item."""

    __pydantic_config__ = _FORBID_EXTRA
    question: str
    answer: str
    lang: Lang = "zh"
    #: English of a Chinese FAQ (an FAQ whose ``lang`` is ``en`` needs none).
    question_en: str = ""
    answer_en: str = ""


@dataclass(frozen=True)
class Situation:
    """A 情形 whose conditions or materials differ (employed / studying / …).

    ``question`` is the one question that tells situations apart; every
    situation of an item carries the same question text.
    """

    __pydantic_config__ = _FORBID_EXTRA
    key: str
    label: str
    question: str = ""
    label_en: str = ""
    conditions: tuple[str, ...] = ()
    note: str = ""
    question_en: str = ""
    #: English of ``conditions``, line for line.
    conditions_en: tuple[str, ...] = ()
    note_en: str = ""


@dataclass(frozen=True)
class Benefit:
    """What a benefit pays (as opposed to ``fees``, what applying costs).

    ``amount`` states published, stable figures with the year they took
    effect (``effective``), or honestly points to the official standard where
    the figure changes every year; ``source`` names the document or channel.
    """

    __pydantic_config__ = _FORBID_EXTRA
    amount: str
    amount_en: str = ""
    effective: str = ""
    source: str = ""


Audience = Literal["citizen", "enterprise"]
AUDIENCES: tuple[str, ...] = ("citizen", "enterprise")


@dataclass(frozen=True)
class Criterion:
    """A machine-checkable test over the check-up profile (fields in ``assistant.core.profile``).

    Exactly one kind per node:

    - a ``field`` leaf: a choice field passes for the values in ``one_of``; a
      number field passes when its value lies in ``[min, max]`` (either bound
      may be absent);
    - an ``office`` leaf: what only the office can check (a standard set each
      year, an assessment, a rule too vague to check): never settled by an
      answer, so an item that needs it is at best "possibly eligible", naming it;
    - ``all`` / ``any`` of other tests.

    Evaluated in three-valued logic (``assistant.core.profile.evaluate``): an
    unanswered or declined field is unknown, and so is an office leaf.
    """

    __pydantic_config__ = _FORBID_EXTRA
    field: str = ""
    one_of: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None
    office: str = ""
    office_en: str = ""
    all: tuple[Criterion, ...] = ()
    any: tuple[Criterion, ...] = ()

    def fields(self) -> tuple[str, ...]:
        """Every profile field this test reads, in order of appearance."""
        own = (self.field,) if self.field else ()
        nested = tuple(f for t in (*self.all, *self.any) for f in t.fields())
        return tuple(dict.fromkeys(own + nested))

    def leaves(self) -> tuple[Criterion, ...]:
        """The field and office leaves, in order."""
        if self.all or self.any:
            return tuple(leaf for t in (*self.all, *self.any) for leaf in t.leaves())
        return (self,)


@dataclass(frozen=True)
class Requirement:
    """One condition of an item in machine form, beside the human text it checks.

    ``cites`` is a verbatim part of the item's condition line (or of a
    situation's condition) it stands for; a verdict quotes that whole line.
    ``test`` decides it from the profile.  A ``procedure`` is a step of applying
    or a rule of payment (本人申请, 按年申领, 每人每年一次), not a condition on the
    person: it decides nothing and is shown with how to apply.
    """

    __pydantic_config__ = _FORBID_EXTRA
    cites: str
    test: Criterion | None = None
    procedure: bool = False


@dataclass(frozen=True)
class Route:
    """One of an item's situations (情形) that qualifies by its own extra conditions."""

    __pydantic_config__ = _FORBID_EXTRA
    situation: str
    requires: tuple[Requirement, ...] = ()


@dataclass(frozen=True)
class Eligibility:
    """Who qualifies for an item, as data the policy check-up (政策体检) evaluates.

    Every one of ``requires`` must hold and, when ``routes`` are given, the
    conditions of at least one of them.  ``automatic`` (免申即享) says the item
    pays without an application, as its own text states.
    """

    __pydantic_config__ = _FORBID_EXTRA
    audience: Audience = "citizen"
    automatic: bool = False
    requires: tuple[Requirement, ...] = ()
    routes: tuple[Route, ...] = ()


@dataclass(frozen=True)
class ChangeRecord:
    """One entry of an item's history: who changed what, when."""

    __pydantic_config__ = _FORBID_EXTRA
    at: datetime
    by: str
    change: str


@dataclass(frozen=True)
class ServiceItem:
    """A service item, policy or 一件事 bundle, keyed by its catalog id."""

    __pydantic_config__ = _FORBID_EXTRA
    id: str
    kind: ItemKind
    name: str
    domain: str
    department: str
    summary: str
    updated: date
    status: ItemStatus = "draft"
    aliases: tuple[str, ...] = ()
    name_en: str = ""
    summary_en: str = ""
    situations: tuple[Situation, ...] = ()
    conditions: tuple[str, ...] = ()
    materials: tuple[Material, ...] = ()
    process: tuple[Step, ...] = ()
    fees: str = ""
    time_limit: str = ""
    #: English of ``conditions`` (line for line), ``fees`` and ``time_limit``.
    conditions_en: tuple[str, ...] = ()
    fees_en: str = ""
    time_limit_en: str = ""
    #: what the item pays a citizen or company, where it pays something.
    benefit: Benefit | None = None
    locations: tuple[Location, ...] = ()
    online: OnlineChannel = dataclasses.field(default_factory=OnlineChannel)
    legal_basis: tuple[str, ...] = ()
    phone: str = ""
    faqs: tuple[FAQ, ...] = ()
    related: tuple[str, ...] = ()
    prerequisites: tuple[str, ...] = ()
    effective_from: date | None = None
    effective_to: date | None = None
    history: tuple[ChangeRecord, ...] = ()
    #: machine-checkable conditions for the policy check-up (政策体检), if the item has them.
    eligibility: Eligibility | None = None

    def is_live(self, today: date) -> bool:
        """Published and effective on ``today``: only such items are retrievable."""
        if self.status != "published":
            return False
        if self.effective_from and today < self.effective_from:
            return False
        if self.effective_to and today > self.effective_to:
            return False
        return True

    def situation(self, key: str) -> Situation | None:
        """The situation with ``key``, or None."""
        return next((s for s in self.situations if s.key == key), None)


#: The consult aspects a message may ask, several at once (护照补办要多少钱，多久能拿到 asks
#: ``fee`` and ``time_limit``).  ``benefit`` is "how much do I get", apart from ``fee``,
#: "what does applying cost".
ASPECTS: tuple[str, ...] = (
    "overview",
    "materials",
    "conditions",
    "process",
    "fee",
    "benefit",
    "time_limit",
    "location",
    "online",
)

#: Item fields that answer each aspect, in the order an answer shows them.  The one
#: map of "what answers what": the answer planner, the composer and the reranker use it.
ASPECT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "overview": ("summary", "conditions", "process"),
    "materials": ("materials",),
    "conditions": ("conditions", "situations"),
    "process": ("process",),
    "fee": ("fees",),
    "benefit": ("benefit",),
    "time_limit": ("time_limit",),
    "location": ("locations", "phone"),
    "online": ("online",),
}

#: Item fields a consult intent asks about (the taxonomy's ``consult.fee`` covers both
#: what applying costs and what a benefit pays).
INTENT_FIELDS: Mapping[str, tuple[str, ...]] = {
    **{f"consult.{a}": fields for a, fields in ASPECT_FIELDS.items() if a != "benefit"},
    "consult.fee": ("fees", "benefit"),
}


def intent_aspect(intent: str) -> str:
    """The aspect a consult intent label names (``consult.fee`` -> ``fee``), else ``""``."""
    aspect = intent.removeprefix("consult.")
    return aspect if intent.startswith("consult.") and aspect in ASPECTS else ""


@dataclass(frozen=True)
class Chunk:
    """A piece of an item indexed for retrieval: one field (or one FAQ) as text."""

    id: str
    item_id: str
    field: str
    text: str
    lang: Lang = "zh"
    #: relative importance of the field for lexical scoring (names above body text).
    weight: float = 1.0


# --------------------------------------------------------------------------- retrieval


@dataclass(frozen=True)
class Hit:
    """A ranked item with the evidence that put it there."""

    item_id: str
    score: float
    #: the best-matching chunk of the item (field and text), if any.
    chunk_id: str = ""
    field: str = ""
    text: str = ""
    #: per-component scores (``bm25``, ``dense``, ``fused``, ``rerank``…) for reports and the
    #: policy; ``other_terms`` counts the query's topic words that do not name this item.
    components: Mapping[str, float] = dataclasses.field(default_factory=dict)
    #: words of the query found in this item's name or aliases (what the citizen
    #: called it); empty when the retriever does not report them.
    name_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetrievalQuery:
    """A question plus the dialogue context a retriever may use."""

    text: str
    lang: Lang = "zh"
    #: item the conversation is currently about (a follow-up stays on it).
    current_item: str = ""
    intent: str = ""


# --------------------------------------------------------------------------- policy check-up (政策体检)
#
# A citizen's or a company's circumstances as a small typed profile (the fields are
# listed in ``assistant.core.profile``), the items' ``Eligibility`` evaluated over it,
# and the verdicts with the item's own words.  A profile is personal data: it lives
# only in the conversation's state, and its ``repr`` never shows a value.


@dataclass(frozen=True)
class Span:
    """A whole number known to lie in ``[low, high]`` (no upper bound when ``high`` is None).

    An exact answer (67岁) is ``Span(67, 67)``; a button (65–69岁) a band.  ``none``
    says there is none of the thing counted (no child): every test on it fails.
    """

    low: int = 0
    high: int | None = None
    none: bool = False


@dataclass(frozen=True, repr=False)
class Profile:
    """What the check-up knows about a citizen or a company.

    ``choices`` holds choice and yes/no fields (value keys of
    ``assistant.core.profile.FIELDS``), ``numbers`` the counted ones; a field in
    ``declined`` was skipped (不想说) and stays unknown.
    """

    audience: Audience = "citizen"
    choices: Mapping[str, str] = dataclasses.field(default_factory=dict)
    numbers: Mapping[str, Span] = dataclasses.field(default_factory=dict)
    declined: tuple[str, ...] = ()

    def knows(self, field: str) -> bool:
        """Whether ``field`` has an answer."""
        return field in self.choices or field in self.numbers

    def answered(self) -> tuple[str, ...]:
        """The fields with an answer."""
        return (*self.choices, *self.numbers)

    def __repr__(self) -> str:
        # never the values: a profile in a log line or a traceback stays masked
        return (
            f"Profile(audience={self.audience!r}, answered={sorted(self.answered())}, "
            f"declined={sorted(self.declined)}, values=<masked>)"
        )


Outcome = Literal["met", "unmet", "unknown"]
VerdictStatus = Literal["eligible", "possible", "ineligible"]
VERDICT_STATUSES: tuple[str, ...] = ("eligible", "possible", "ineligible")


@dataclass(frozen=True)
class CitedText:
    """A line of an item's own text: ``where`` is ``conditions.1`` or ``situations.KEY.conditions.0``."""

    where: str
    text: str
    text_en: str = ""
    #: the situation (情形) the line belongs to, if any, with its label.
    situation: str = ""
    situation_label: str = ""
    situation_label_en: str = ""


@dataclass(frozen=True)
class ConditionCheck:
    """One condition of an item checked against a profile.

    An unknown outcome says what would settle it: ``missing`` names the profile
    fields not answered, ``office`` (and ``office_en``) what only the office can check.
    """

    cited: CitedText
    outcome: Outcome
    #: the profile fields the condition's test reads (the facts a reason names).
    fields: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    office: tuple[str, ...] = ()
    office_en: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """The check-up's verdict on one item, with the conditions that decide it.

    ``reasons`` are the checks that make the status: every check of an eligible
    verdict, the failing ones of an ineligible one, the unsettled ones of a
    possible one.  ``procedures`` are the item's steps of applying.
    """

    item_id: str
    status: VerdictStatus
    reasons: tuple[ConditionCheck, ...]
    checks: tuple[ConditionCheck, ...] = ()
    #: the situation that qualifies (eligible), or "" when the item has none.
    route: str = ""
    #: 免申即享: paid without an application (the item says so).
    automatic: bool = False
    procedures: tuple[CitedText, ...] = ()


@dataclass(frozen=True)
class CheckupResult:
    """Every verdict for one profile, in the order of the knowledge base."""

    audience: Audience
    verdicts: tuple[Verdict, ...]

    def of(self, status: str) -> tuple[Verdict, ...]:
        """The verdicts with ``status`` (``eligible``, ``possible``, ``ineligible``)."""
        return tuple(v for v in self.verdicts if v.status == status)

    def statuses(self) -> dict[str, str]:
        """``{item id: status}``: what an answer must change to matter."""
        return {v.item_id: v.status for v in self.verdicts}


@dataclass(frozen=True)
class ProfileAnswer:
    """One answer a check-up question offers: ``value`` for ``field`` (a choice key or a span text)."""

    field: str
    value: str
    label: str
    label_en: str = ""


@dataclass(frozen=True)
class ProfileQuestion:
    """The next question worth asking: one field, or a checklist of several (tick any).

    ``settles`` lists the items whose verdict some answer can change (why it is
    asked); for a checklist, each field left unticked takes its ``unticked`` answer.
    """

    key: str
    fields: tuple[str, ...]
    answers: tuple[ProfileAnswer, ...]
    settles: tuple[str, ...]
    checklist: bool = False
    unticked: tuple[ProfileAnswer, ...] = ()


@dataclass(frozen=True, repr=False)
class CheckupSession:
    """A check-up under way in a conversation (kept in its DialogueState, nowhere else).

    ``retries`` counts replies that answered nothing: after one, the check-up
    steps aside and the message is answered as a question of its own.
    """

    profile: Profile = dataclasses.field(default_factory=Profile)
    #: the fields asked so far, in order (a checklist asks several at once).
    asked: tuple[str, ...] = ()
    #: the fields of the question awaiting its answer; empty once the lists were given.
    pending: tuple[str, ...] = ()
    #: how many questions were asked (a checklist is one).
    questions: int = 0
    retries: int = 0

    def __repr__(self) -> str:
        return f"CheckupSession(asked={list(self.asked)}, pending={list(self.pending)}, profile={self.profile!r})"


# --------------------------------------------------------------------------- dialogue


@dataclass(frozen=True)
class IntentPrediction:
    """A label of ``INTENTS`` with a calibrated confidence and all class scores."""

    label: str
    confidence: float
    scores: Mapping[str, float] = dataclasses.field(default_factory=dict)
    #: the probability that the message asks each consult aspect (of ``ASPECTS``), from a
    #: classifier that predicts them; empty when it does not (the aspect cues decide).
    aspect_scores: Mapping[str, float] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class AspectPrediction:
    """The set of consult aspects a message asks, and whether it is a yes/no question."""

    aspects: tuple[str, ...] = ()
    yes_no: bool = False


@dataclass(frozen=True)
class AnswerUnit:
    """One answerable piece of an item: a condition, material, step, fee line, FAQ pair…

    ``field`` and ``index`` locate it in the item (``materials``, 2); ``aspect`` is
    the aspect it answers; ``situation`` the 情形 key it is specific to, if any.
    FAQ units carry their ``question``; ``text`` is the answer.
    """

    item_id: str
    field: str
    index: int
    aspect: str
    text: str
    text_en: str = ""
    situation: str = ""
    question: str = ""
    question_en: str = ""


@dataclass(frozen=True)
class PlannedUnit:
    """A unit chosen for an answer, with its score against the question and its role.

    ``role`` is ``direct`` (the unit that decides the question), ``asked``
    (answers an asked aspect) or ``support`` (detail behind them).
    """

    unit: AnswerUnit
    score: float
    role: str
    #: the sentence(s) of a long unit that answer the question, in the answer's language
    #: ("" when the whole unit is short enough to say first)
    focus: str = ""


@dataclass(frozen=True)
class AnswerPlan:
    """What an answer says, in order: the direct answer, what else was asked, the support.

    ``verdict`` is ``yes``/``no`` only where the deciding unit itself says so
    (可以/不可以, 需要/不需要); ``more`` names the fields with units left out of the
    short answer (the citizen can ask for the full list).
    """

    item_id: str
    aspects: tuple[str, ...]
    yes_no: bool
    units: tuple[PlannedUnit, ...]
    verdict: str = ""
    more: tuple[str, ...] = ()
    #: the citizen asked for the whole list (查看全部材料): entries with their notes.
    full: bool = False

    def by_role(self, role: str) -> tuple[PlannedUnit, ...]:
        """The planned units with ``role``, in plan order."""
        return tuple(u for u in self.units if u.role == role)


@dataclass(frozen=True)
class Citation:
    """Where a statement of an answer comes from."""

    item_id: str
    item_name: str
    field: str
    updated: date


@dataclass(frozen=True)
class Option:
    """A choice offered with a clarifying question (a UI button)."""

    label: str
    value: str
    item_id: str = ""
    situation: str = ""
    #: a checklist row (tick any, then confirm): the UI sends the ticked values together.
    toggle: bool = False


@dataclass(frozen=True)
class Answer:
    """What the assistant says for one turn."""

    text: str
    action: Action
    lang: Lang = "zh"
    citations: tuple[Citation, ...] = ()
    options: tuple[Option, ...] = ()
    #: which generator produced the text (``composer``, ``llm:…``).
    generator: str = "composer"


@dataclass(frozen=True)
class DialogueState:
    """What the conversation is about so far; follow-ups resolve against it."""

    current_item: str = ""
    slots: Mapping[str, str] = dataclasses.field(default_factory=dict)
    lang: Lang = "zh"
    unresolved_turns: int = 0
    #: a clarifying question waiting for its answer: the options offered.
    pending_options: tuple[Option, ...] = ()
    pending_intent: str = ""
    pending_question: str = ""
    #: the user's message the pending question asked about (我想提公积金): a reply
    #: that picks no option (我要买房) is retrieved together with it.
    pending_topic: str = ""
    handed_off: bool = False
    #: a policy check-up (政策体检) under way or finished: its profile lives here only.
    checkup: CheckupSession | None = None

    def without_question(self, **changes: object) -> DialogueState:
        """This state with no clarifying question pending (and ``changes`` applied)."""
        return dataclasses.replace(
            self, pending_options=(), pending_intent="", pending_question="", pending_topic="", **changes  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class GenerationRequest:
    """Everything a Generator may use: the question, the retrieved items, nothing else."""

    question: str
    intent: str
    lang: Lang
    items: tuple[ServiceItem, ...]
    action: Action = Action.ANSWER
    state: DialogueState = dataclasses.field(default_factory=DialogueState)
    history: tuple[Turn, ...] = ()
    #: the aspects the message asks (several at once) and whether it asks yes or no.
    aspects: tuple[str, ...] = ()
    yes_no: bool = False
    #: the planned answer units of ``items[0]``; generators write from these only.
    plan: AnswerPlan | None = None


@dataclass(frozen=True)
class TurnResult:
    """The outcome of one user message: the answer plus how it was reached."""

    answer: Answer
    intent: IntentPrediction
    hits: tuple[Hit, ...]
    state: DialogueState
    #: milliseconds per stage (``intent``, ``retrieval``, ``generation``, ``total``…).
    timings_ms: Mapping[str, float] = dataclasses.field(default_factory=dict)
    #: reason code when the action is handoff (``customer_request``, ``low_confidence``…).
    handoff_reason: str = ""
    #: the consult aspects the message asked (beside the primary ``intent``) and yes/no.
    aspects: AspectPrediction = dataclasses.field(default_factory=AspectPrediction)


# --------------------------------------------------------------------------- persistence

Role = Literal["user", "assistant", "agent", "system"]
TicketStatus = Literal["new", "claimed", "answered", "resolved", "closed"]


@dataclass(frozen=True)
class Turn:
    """One stored message of a conversation."""

    id: int
    conversation_id: str
    role: Role
    text: str
    created_at: datetime
    intent: str = ""
    action: str = ""
    item_ids: tuple[str, ...] = ()
    citations: tuple[Citation, ...] = ()
    #: clarify buttons offered with an assistant message (a reloaded chat shows them again).
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class Conversation:
    """A conversation with its turns and dialogue state."""

    id: str
    created_at: datetime
    lang: Lang
    state: DialogueState
    turns: tuple[Turn, ...] = ()
    status: str = "open"
    elder_mode: bool = False
    #: bumped by every write of ``state``; a writer passes the version it read
    #: (``expected_version``) so that a concurrent write is detected, not overwritten.
    version: int = 0


@dataclass(frozen=True)
class TicketDraft:
    """What a handoff asks the helpdesk for, before the queue numbers it."""

    reason: str
    department: str
    summary: str
    item_ids: tuple[str, ...] = ()
    priority: int = 0
    #: made outside working hours: staff answer (or call back) when the desk opens.
    callback: bool = False


@dataclass(frozen=True)
class Ticket:
    """A conversation handed to the human helpdesk."""

    id: int
    conversation_id: str
    status: TicketStatus
    reason: str
    department: str
    summary: str
    created_at: datetime
    item_ids: tuple[str, ...] = ()
    priority: int = 0
    agent: str = ""
    lease_until: datetime | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution: str = ""
    #: made outside working hours (see TicketDraft.callback).
    callback: bool = False
    #: when the current wait began (creation, reopen or transfer); queue order uses it.
    queued_at: datetime | None = None


#: Ticket statuses in which a person still owns the conversation.
OPEN_TICKET_STATUSES: tuple[TicketStatus, ...] = ("new", "claimed", "answered")
#: Ticket statuses of a finished ticket (``reopen`` puts it back to ``new``).
FINISHED_TICKET_STATUSES: tuple[TicketStatus, ...] = ("resolved", "closed")
#: The department of a ticket whose item is unknown.
GENERAL_DEPARTMENT = "一网通办综合咨询"


@dataclass(frozen=True)
class TicketEvent:
    """One step of a ticket's history (created, claimed, replied, transferred, …)."""

    id: int
    ticket_id: int
    kind: str
    agent: str
    detail: str
    created_at: datetime


#: A question asked again within this time of a conversation's last message
#: means self-service did not resolve it; reports read conversations this far
#: past the end of a window to decide the ones inside it.
REPEAT_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class ConversationRecord:
    """What the helpdesk's service-level figures need to know about one conversation."""

    id: str
    created_at: datetime
    last_at: datetime
    client_id: str
    #: user messages, oldest first.
    questions: tuple[str, ...]
    #: first item the bot answered or clarified about ("" if none).
    item_id: str
    negative_feedback: int
    positive_feedback: int
    ratings: tuple[int, ...]
    ticket_ids: tuple[int, ...] = ()
    #: created inside the reporting window (False: read only to spot repeat questions).
    in_window: bool = True


@dataclass(frozen=True)
class FeedbackRecord:
    """One stored thumbs up/down on an answer, or 1-5 rating of a conversation (好差评)."""

    id: int
    conversation_id: str
    #: the answer judged; None for a rating of the whole conversation.
    message_id: int | None
    helpful: bool | None
    rating: int | None
    comment: str
    created_at: datetime


@dataclass(frozen=True)
class Activity:
    """Everything stored about the conversations created in a window, for the workbench
    (missed questions, review tasks): their messages, feedback and tickets."""

    #: id -> (created_at, lang, elder_mode) of each conversation in the window.
    conversations: Mapping[str, tuple[datetime, Lang, bool]]
    #: every message of those conversations, oldest first within each conversation.
    turns: tuple[Turn, ...]
    feedback: tuple[FeedbackRecord, ...]
    tickets: tuple[Ticket, ...]


# --------------------------------------------------------------------------- stage protocols


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; questions and passages may differ."""

    name: str
    dim: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class Retriever(Protocol):
    """Ranks service items for a query, best first, at most ``top_k``."""

    def retrieve(self, query: RetrievalQuery, *, top_k: int = 10) -> list[Hit]: ...


@runtime_checkable
class Reranker(Protocol):
    """Reorders the hits of a Retriever."""

    def rerank(self, query: RetrievalQuery, hits: Sequence[Hit], *, top_k: int = 10) -> list[Hit]: ...


@runtime_checkable
class IntentClassifier(Protocol):
    """Labels a user message with an intent of ``INTENTS``."""

    def classify(self, text: str, *, state: DialogueState | None = None) -> IntentPrediction: ...


class AnswerStream:
    """An answer as a generator writes it: iterate for the text pieces.

    Once the pieces are read, ``fallback`` says why the grounded composer
    wrote (part of) the answer instead of the configured generator, or is ""
    when it did not; the dialogue names the answer's generator from it.
    """

    def __init__(self, pieces: Iterable[str], fallback_reasons: list[str] | None = None) -> None:
        self._pieces = iter(pieces)
        #: appended to by the generator while the pieces are read (the first reason counts).
        self._reasons = fallback_reasons if fallback_reasons is not None else []

    def __iter__(self) -> Iterator[str]:
        return self._pieces

    @property
    def fallback(self) -> str:
        """Why the composer took over ("" if it did not); final once the pieces are read."""
        return self._reasons[0] if self._reasons else ""


@runtime_checkable
class Generator(Protocol):
    """Writes the answer text from the retrieved items only."""

    name: str

    def generate(self, request: GenerationRequest) -> Answer: ...

    def stream(self, request: GenerationRequest) -> AnswerStream:
        """The same answer in pieces, with who wrote it (:class:`AnswerStream`)."""
        ...


@runtime_checkable
class EligibilityChecker(Protocol):
    """The policy check-up: verdicts for a profile, and the question most worth asking next."""

    def assess(self, profile: Profile) -> CheckupResult:
        """Every item of the profile's audience: eligible, possibly eligible or not, with the conditions."""
        ...

    def questions(self, profile: Profile, *, asked: Sequence[str] = ()) -> list[ProfileQuestion]:
        """Every question still worth asking (some answer can change a verdict), most decisive first."""
        ...

    def next_question(self, profile: Profile, *, asked: Sequence[str] = ()) -> ProfileQuestion | None:
        """The unasked question whose answer can change the most verdicts; None when no answer
        to any question could change one (the check-up is done)."""
        ...

    def question_for(self, profile: Profile, fields: Sequence[str]) -> ProfileQuestion:
        """The question about ``fields`` as asked for ``profile`` (to read the reply to it)."""
        ...


# --------------------------------------------------------------------------- storage protocols
#
# Every backend (``assistant.db.memory``, SQLite and PostgreSQL in ``assistant.db``)
# passes one contract suite (tests/test_db_contract.py).  These list every method
# the conversation service, the helpdesk and the API call: nothing reaches past them.


@runtime_checkable
class ConversationStore(Protocol):
    """Durable conversations, messages, dialogue state and feedback.

    Writes of the dialogue state are compare-and-set: a writer that read the
    conversation at ``version`` passes ``expected_version=version`` and gets
    :class:`assistant.core.errors.StaleState` (nothing written) when another
    writer changed the state in between.
    """

    def create(self, *, lang: Lang = "zh", elder_mode: bool = False, client_id: str = "") -> Conversation:
        """Open a conversation; ``client_id`` is an anonymous browser id (repeat questions)."""
        ...

    def get(self, conversation_id: str) -> Conversation:
        """The conversation with every turn, oldest first; NotFound for an unknown id."""
        ...

    def exists(self, conversation_id: str) -> bool:
        """Whether the conversation exists (no turns loaded)."""
        ...

    def record_turn(
        self,
        conversation_id: str,
        user_text: str,
        result: TurnResult,
        *,
        ticket: TicketDraft | None = None,
        expected_version: int | None = None,
        original: str | None = None,
        idempotency: IdempotentWrite | None = None,
    ) -> tuple[Turn, Turn, Ticket | None]:
        """Store the user message, the answer and the new state (and the ticket
        of a handoff) in one transaction; nothing is written if any part fails.

        ``user_text`` is the masked message; ``original`` the text as typed, kept
        encrypted when the store has a privacy key and dropped otherwise.
        ``idempotency``: the key's response is stored in the same transaction
        (AlreadyRecorded, nothing written, when the key already has one)."""
        ...

    def reveal_original(self, turn_id: int) -> str | None:
        """The typed text of a masked user message, decrypted; None when none was kept
        (no privacy key, nothing masked).  Callers audit every reveal."""
        ...

    def escalate(
        self,
        conversation_id: str,
        notice: Answer,
        state: DialogueState,
        draft: TicketDraft,
        *,
        expected_version: int | None = None,
    ) -> tuple[Turn, Ticket]:
        """A handoff the system starts: notice, state and ticket in one transaction."""
        ...

    def add_message(self, conversation_id: str, role: Role, text: str, *, agent: str = "") -> Turn:
        """Append one message (agent replies, system notices); the state is untouched."""
        ...

    def set_state(self, conversation_id: str, state: DialogueState, *, expected_version: int | None = None) -> int:
        """Replace the dialogue state; returns the new version."""
        ...

    def add_feedback(
        self,
        conversation_id: str,
        turn_id: int | None,
        *,
        helpful: bool | None = None,
        comment: str = "",
        rating: int | None = None,
    ) -> int:
        """Thumbs up/down on an answer or a 1-5 rating of the conversation; returns
        the conversation's thumbs-down count (the escalation rules read it)."""
        ...

    def messages_after(self, conversation_id: str, after_id: int) -> list[Turn]:
        """Messages with an id above ``after_id``, oldest first (live updates)."""
        ...

    def tickets_of(self, conversation_id: str) -> list[Ticket]:
        """Every ticket of the conversation, oldest first."""
        ...


@runtime_checkable
class HandoffQueue(Protocol):
    """The human helpdesk queue: enqueue, claim (atomic, leased), reply, transfer, resolve, reopen.

    Exactly one of many concurrent claimers wins a ticket; the others get Conflict.
    """

    def enqueue(
        self,
        conversation_id: str,
        *,
        reason: str,
        department: str,
        summary: str,
        item_ids: Sequence[str] = (),
        priority: int = 0,
        callback: bool = False,
    ) -> Ticket:
        """Open a ticket (one open ticket per conversation)."""
        ...

    def claim(self, ticket_id: int, agent: str) -> Ticket:
        """Claim (or renew) a ticket for ``agent``; Conflict when another agent holds a live lease."""
        ...

    def reply(self, ticket_id: int, agent: str, text: str) -> Turn:
        """The holder writes to the citizen; sets the first response time and renews the lease."""
        ...

    def release(self, ticket_id: int, agent: str) -> Ticket:
        """The holder gives the ticket back to the queue."""
        ...

    def transfer(self, ticket_id: int, agent: str, department: str, *, note: str = "") -> Ticket:
        """The holder sends the ticket to another department; its wait restarts."""
        ...

    def resolve(self, ticket_id: int, agent: str, *, resolution: str, notice: str = "") -> Ticket:
        """Finish with a resolution code; the bot takes the conversation back (state version bumps)."""
        ...

    def reopen(self, ticket_id: int, agent: str = "", *, note: str = "") -> Ticket:
        """Put a finished ticket back in the queue; the bot goes silent again (state version bumps)."""
        ...

    def get(self, ticket_id: int) -> Ticket:
        """The ticket; NotFound for an unknown id."""
        ...

    def list(self, *, status: str | None = None) -> list[Ticket]:
        """Tickets, oldest first, optionally of one status."""
        ...

    def open_tickets(self) -> list[Ticket]:
        """Tickets a person still owns (new, claimed, answered), oldest first."""
        ...

    def events(self, ticket_id: int) -> list[TicketEvent]:
        """The ticket's history, oldest first."""
        ...


@runtime_checkable
class ServiceLevelReports(Protocol):
    """Read-only queries behind the helpdesk queue view and its service-level figures."""

    def conversation_meta(self, ids: Sequence[str]) -> dict[str, tuple[bool, Lang]]:
        """``{conversation id: (elder_mode, lang)}`` for the given ids (unknown ids left out)."""
        ...

    def recent_first_response_waits(self, limit: int) -> list[float]:
        """Seconds from handoff to first human reply of the ``limit`` latest answered
        non-call-back tickets, latest first."""
        ...

    def records(self, since: datetime, until: datetime) -> tuple[list[ConversationRecord], list[Ticket]]:
        """Conversations created in ``[since, until + 24 h)`` (those before ``until``
        marked ``in_window``) and the tickets created in ``[since, until)``."""
        ...

    def activity(self, since: datetime, until: datetime) -> Activity:
        """The messages, feedback and tickets of the conversations created in ``[since, until)``."""
        ...


@dataclass(frozen=True)
class IdempotencyRecord:
    """A stored ``Idempotency-Key`` of a message post; ``response`` is None while it runs."""

    conversation_id: str
    key: str
    #: sha256 of what the first request asked.
    fingerprint: str
    claimed_at: datetime
    #: the response body (JSON) of the finished request.
    response: str | None = None


@dataclass(frozen=True)
class IdempotentWrite:
    """An ``Idempotency-Key`` completed in the same transaction as the turn it answers.

    Given to :meth:`ConversationStore.record_turn`: the turn and the key's
    response are committed together or not at all, so a retry after a crash
    anywhere finds either both (and gets the stored response) or neither (and
    runs again).  A key whose response is already stored makes ``record_turn``
    write nothing and raise :class:`assistant.core.errors.AlreadyRecorded`.
    """

    key: str
    #: sha256 of what this request asked.
    fingerprint: str
    #: the response body (JSON) made from the stored user turn, answer turn and
    #: ticket; called inside the transaction, so it must not read the database.
    render: Callable[[Turn, Turn, Ticket | None], str]


@runtime_checkable
class IdempotencyStore(Protocol):
    """Durable idempotency keys, scoped to a conversation; claims are atomic."""

    def claim(self, conversation_id: str, key: str, fingerprint: str, *, stale_after_s: float) -> IdempotencyRecord | None:
        """Claim ``key``: None when this caller now holds it (new, or a pending claim older
        than ``stale_after_s`` taken over); otherwise the record another request holds."""
        ...

    def complete(self, conversation_id: str, key: str, response: str) -> None:
        """Store the finished request's response body under its key."""
        ...

    def release(self, conversation_id: str, key: str) -> None:
        """Drop a pending claim whose request failed, so a retry runs again (done keys stay)."""
        ...


# --------------------------------------------------------------------------- staff accounts, sessions, audit
#
# Passwords, session ids and conversation tokens reach these stores only as
# hashes (``assistant.api.accounts`` / ``assistant.api.auth`` hash them); the
# stores never see a secret they could leak.


@dataclass(frozen=True)
class Account:
    """A member of staff who signs in: a person, never a shared login."""

    username: str
    #: roles held, sorted (``assistant.api.auth.ROLES``: agent, kb_operator, supervisor, admin).
    roles: tuple[str, ...]
    #: argon2id hash in its encoded form (parameters and salt included).
    password_hash: str
    disabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StaffSession:
    """A signed-in browser: the cookie holds the id, the store only its sha256."""

    id_hash: str
    username: str
    #: sent back by the browser as ``X-CSRF-Token`` on every state-changing request.
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class AuditRecord:
    """One staff action: who did what to which target, when (UTC), from where, before and after."""

    id: int
    at: datetime
    actor: str
    #: dotted lower-case name: ``auth.login``, ``ticket.claim``, ``account.role_change``…
    action: str
    target: str
    #: JSON values (personal data already masked by the writer); None when not applicable.
    before: object
    after: object
    #: the client address (``X-Forwarded-For`` only from trusted proxies).
    client: str


@runtime_checkable
class AccountStore(Protocol):
    """Staff accounts by (normalised) username.  Accounts are disabled, never deleted,
    so the audit log's actors keep meaning someone."""

    def create(self, username: str, *, password_hash: str, roles: Sequence[str]) -> Account:
        """Add an account; Conflict when the username is taken."""
        ...

    def find(self, username: str) -> Account | None:
        """The account, or None."""
        ...

    def list(self) -> list[Account]:
        """Every account, by username."""
        ...

    def set_roles(self, username: str, roles: Sequence[str]) -> Account:
        """Replace the account's roles; NotFound for an unknown username."""
        ...

    def set_disabled(self, username: str, disabled: bool) -> Account:
        """Disable (or enable again) the account; NotFound for an unknown username."""
        ...

    def set_password(self, username: str, password_hash: str) -> Account:
        """Replace the password hash; NotFound for an unknown username."""
        ...


@runtime_checkable
class SessionStore(Protocol):
    """Server-side staff sessions, keyed by the sha256 of the cookie's random id."""

    def create(self, id_hash: str, username: str, csrf_token: str) -> StaffSession:
        """Start a session now (created and last seen at the storage clock)."""
        ...

    def find(self, id_hash: str) -> StaffSession | None:
        """The session, or None (expiry is the caller's rule: it compares the times)."""
        ...

    def touch(self, id_hash: str) -> None:
        """Mark the session as seen now (its idle time restarts)."""
        ...

    def delete(self, id_hash: str) -> None:
        """End one session (sign-out); no error when it is gone already."""
        ...

    def delete_for(self, username: str) -> int:
        """End every session of an account (disabled, password reset); returns how many."""
        ...

    def purge(self, *, idle_since: datetime, created_since: datetime) -> int:
        """Delete sessions last seen before ``idle_since`` or created before ``created_since``."""
        ...


@runtime_checkable
class AuditLog(Protocol):
    """The append-only record of staff actions: no method updates or deletes one
    (the SQL backends also refuse UPDATE and DELETE on the table)."""

    def append(
        self, *, actor: str, action: str, target: str, before: object = None, after: object = None, client: str = ""
    ) -> AuditRecord:
        """Write one record at the storage clock's time."""
        ...

    def query(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[AuditRecord]:
        """Records newest first, filtered (``action`` ending in ``.*`` matches a prefix:
        ``ticket.*``); ``before_id`` continues a page (ids below it)."""
        ...


@runtime_checkable
class ConversationTokens(Protocol):
    """The hash of each web conversation's citizen token (one per conversation)."""

    def set(self, conversation_id: str, token_hash: str) -> None:
        """Store the token hash of a new conversation; Conflict if it has one already."""
        ...

    def get(self, conversation_id: str) -> str | None:
        """The stored hash, or None (unknown conversation, or one opened without a token)."""
        ...


@runtime_checkable
class Storage(Protocol):
    """One opened backend: its conversation store, queue and reports, sharing one clock."""

    conversations: ConversationStore
    queue: HandoffQueue
    reports: ServiceLevelReports
    idempotency: IdempotencyStore
    accounts: AccountStore
    sessions: SessionStore
    audit: AuditLog
    conversation_tokens: ConversationTokens
    #: returns aware UTC datetimes; every timestamp the backend writes comes from it.
    clock: Callable[[], datetime]

    def ping(self) -> None:
        """Raise if the backend cannot answer (readiness)."""
        ...

    def dispose(self) -> None:
        """Release connections; the storage is unusable afterwards."""
        ...


# --------------------------------------------------------------------------- live updates


class EventWaiter(Protocol):
    """One live stream's registration on some topics (``EventBus.waiter``)."""

    #: the topics signalled since the last ``clear()``.
    fired: set[str]

    def clear(self) -> None:
        """Forget the signals seen so far (before reading the database)."""
        ...

    async def wait(self, timeout: float) -> bool:
        """True when a topic was signalled within ``timeout`` seconds."""
        ...

    def close(self) -> None:
        """Stop receiving signals."""
        ...


@runtime_checkable
class EventBus(Protocol):
    """Live-update signals between server processes (``assistant.live``): a write signals
    a topic after it commits; the streams registered on it, in any process, wake."""

    name: str
    #: whether other processes receive this bus's signals.
    shared: bool

    def publish(self, topic: str) -> None:
        """Signal ``topic``; never raises for a backend away (the write has committed)."""
        ...

    def waiter(self, topics: Iterable[str]) -> EventWaiter:
        """Register the calling event loop's stream on ``topics``."""
        ...

    def generation(self, topic: str) -> int:
        """Signals of ``topic`` this process has received (a reading made while it stands is current)."""
        ...

    async def start(self) -> None:
        """Connect and subscribe; BackendUnavailable when the backend does not answer."""
        ...

    async def close(self) -> None:
        """Unsubscribe and close connections."""
        ...

    def ping(self) -> None:
        """Raise unless the backend answers."""
        ...

    def healthy(self) -> tuple[bool, str]:
        """(ready, why not) for /readyz."""
        ...
