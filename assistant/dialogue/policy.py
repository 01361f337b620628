"""One action policy: answer / clarify / handoff / refuse / chitchat.

The policy turns three kinds of evidence into an action: the intent
prediction (label and calibrated confidence), the retrieval ranking (how
strong the best item is and how close the runners-up are) and the dialogue
state (a current item to follow up on, how many turns in a row went
unresolved).  Every number it uses lives in :class:`PolicyThresholds`, which
``xiaoshen intents fit-policy`` fits on the development benchmark and saves
as ``assistant/dialogue/policy.json``; each field documents what it means.

Fixed rules (not thresholds, because they are promises to citizens):

- a request for a person hands off at once (reason ``customer_request``);
- a complaint is answered with the complaint channels (12345, 好差评) and an
  offer of a person;
- ``max_unresolved`` unresolved turns in a row hand off (``low_confidence``),
  but a clarifying question is not asked twice of a reply that asks something
  of its own: the best of the options offered answers it.

Which item: exactly one named item is answered, unless retrieval puts first an
item the name may also mean (its family, 居住证 in 居住证签注) or one the named
item links as related; of several named items, one named in a clause that asks
comes before one named only in a clause that tells; and an item named only in a
clause saying the citizen already has it yields to what the asking clauses name
(:meth:`ActionPolicy.asked_topic`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from assistant.core.errors import ConfigError
from assistant.core.types import Action, DialogueState, Hit, IntentPrediction, ServiceItem
from assistant.core.text import is_generic
from intents.aspects import is_yes_no

#: Hit components that count words rather than score evidence (never a ``score_key``).
WORD_COUNTS: frozenset[str] = frozenset({"other_terms"})

#: Where ``fit-policy`` saves the fitted thresholds, and where they are loaded from.
DEFAULT_POLICY_PATH = Path(__file__).resolve().parent / "policy.json"


@dataclass(frozen=True)
class PolicyThresholds:
    """The policy's tunable numbers; fitted on dev data, documented per field."""

    #: An ``out_of_scope`` label with at least this confidence is refused even when
    #: retrieval finds something (jailbreaks often wrap a real-sounding question).
    #: Below it, a strong retrieval match wins and the turn is answered.
    refuse_confidence: float = 0.5
    #: ``greeting``/``thanks`` with at least this confidence get small talk; below
    #: it the message is treated as a service question.
    chitchat_confidence: float = 0.5
    #: Least retrieval evidence (see ``score_key``) for answering a fresh question;
    #: below it the turn is unresolved (clarify, then hand off).
    answer_score: float = 0.0
    #: Relative gap ``(s1 - s_k) / s1`` under which item k is "close" to the top
    #: item; two or more close items of different ids trigger a clarifying question.
    clarify_margin: float = 0.0
    #: With a current item, a question whose top hit is another item is a topic
    #: switch only if that hit's evidence reaches this; otherwise it is a follow-up.
    switch_score: float = 0.0
    #: Close items are clarified only for messages of at most this length
    #: (:func:`message_length`: Han characters plus Latin words): a short question
    #: (社保怎么弄) is vague, a long one carries the details that retrieval already
    #: used to rank its item first.
    clarify_max_chars: int = 1000
    #: Items within this (smaller) relative gap of the top item are a tie: a tie is
    #: asked about whatever the message's length (提取公积金需要什么材料: rent, purchase
    #: and leaving score alike), because the details that would decide it are missing.
    tie_margin: float = 0.0
    #: Items within this relative gap of the top item are asked about whatever the
    #: message's length when the message's words do not tell the top item from
    #: them: every word that names the top item (in its name or aliases) names the
    #: others too (外国人办证需要什么: residence, work and visa are all 外国人…;
    #: 提取公积金: rent, purchase and leaving).  0 switches the rule off.
    undistinguished_margin: float = 0.0
    #: A message is vague when it adds at most this many topic words to the words
    #: that name its item (提取公积金要什么材料 adds none; 刚买了套二手房 公积金能取吗
    #: adds 买, 二手房: details that already chose the item and its case).  Only
    #: vague messages are asked about alike-named items or the item's situation.
    #: Read from the hit's ``other_terms`` component.
    vague_max_terms: int = 0
    #: Ask the item's situation question (情形) before answering materials or
    #: conditions of an item whose answer depends on it (:func:`depends_on_situation`),
    #: when the message is vague and names no situation.
    clarify_situations: bool = False
    #: Unresolved turns in a row (clarify, no match) after which a person takes over.
    max_unresolved: int = 2
    #: Which number of a Hit is the evidence: ``score`` or a key of ``Hit.components``.
    score_key: str = "score"
    #: Most options offered in one clarifying question.
    max_options: int = 4
    #: Items that carry the complaint channels, in the order they are shown.
    complaint_items: tuple[str, ...] = ("complaint-12345", "good-bad-review")

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        d["complaint_items"] = list(self.complaint_items)
        return d

    @classmethod
    def from_json(cls, data: Mapping[str, object], *, source: str = "policy file") -> PolicyThresholds:
        """Build from a dict; unknown keys are an error naming the key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"{source}: unknown policy keys {unknown}; the known keys are {sorted(known)}"
            )
        values = dict(data)
        if "complaint_items" in values:
            values["complaint_items"] = tuple(values["complaint_items"])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PolicyInput:
    """What the policy sees for one turn."""

    intent: IntentPrediction
    hits: Sequence[Hit]
    state: DialogueState
    items: Mapping[str, ServiceItem]
    #: items the message names explicitly (by name or alias), longest first.
    mentioned: tuple[str, ...] = ()
    #: the user's message (its length tells vague from detailed questions).
    text: str = ""
    #: the 一件事 bundle a life-event question (刚生完孩子要办哪些事) is answered with
    #: (:func:`assistant.dialogue.engine.life_event_bundle` chose it), else "".
    life_event: str = ""
    #: the items the previous turn's clarifying question offered, when this message
    #: did not pick one: they are not offered again.
    asked: tuple[str, ...] = ()
    #: items a name in the message may also mean (居住证 lies in 居住证签注 and
    #: 居住证积分): retrieval's first of them is answered over the name's own item.
    family: tuple[str, ...] = ()
    #: items named (or a name's family) in the clauses that ask, when the message also
    #: has clauses that only tell: of several named items, these come first.
    asking: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The policy's choice for a turn."""

    action: Action
    #: the intent the answer is written for (a low-confidence label may be overridden).
    intent: str
    #: items to answer from (first is the main one) or to offer as options.
    item_ids: tuple[str, ...] = ()
    #: ``items`` (close candidates), ``situation`` (情形) or ``no_match`` for clarify.
    clarify_kind: str = ""
    handoff_reason: str = ""
    #: the turn stays on the current item (a follow-up), so slots are kept.
    follow_up: bool = False
    #: the turn leaves the question unresolved (counts toward ``max_unresolved``).
    unresolved: bool = False
    #: short machine-readable reason, for reports and tests.
    why: str = ""


class ActionPolicy:
    """Chooses the action of a turn from intent, retrieval evidence and state."""

    def __init__(self, thresholds: PolicyThresholds | None = None, *, source: str = "defaults") -> None:
        self.thresholds = thresholds or PolicyThresholds()
        #: where the thresholds came from (a file path or ``defaults``), for reports.
        self.source = source

    @classmethod
    def load(cls, path: Path) -> ActionPolicy:
        """Load fitted thresholds; raises ConfigError naming the file and the fix."""
        if not path.is_file():
            raise ConfigError(
                f"policy file {str(path)!r} not found; run 'xiaoshen intents fit-policy' to create it"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"policy file {str(path)!r} is unreadable ({e}); re-run 'xiaoshen intents fit-policy'") from e
        return cls(PolicyThresholds.from_json(data.get("thresholds", data), source=str(path)), source=str(path))

    # ------------------------------------------------------------------ evidence

    def evidence(self, hit: Hit) -> float:
        """The number of ``hit`` the thresholds are about (``score_key``)."""
        key = self.thresholds.score_key
        if key == "score":
            return hit.score
        if key not in hit.components:
            raise ConfigError(
                f"policy score_key {key!r} is not among the retriever's components {sorted(hit.components)}; "
                "re-run 'xiaoshen intents fit-policy' for this retriever"
            )
        return float(hit.components[key])

    def close_items(
        self, hits: Sequence[Hit], items: Mapping[str, ServiceItem] | None = None, *, margin: float | None = None
    ) -> list[str]:
        """Ids of hits whose evidence is within ``clarify_margin`` of the top hit, top first.

        With ``items``, an item and a bundle (一件事) that contains it count as
        one candidate, the higher-ranked one: asking 退休工资 or 退休一件事? is no
        real choice, the answer names the other as related.
        """
        if not hits:
            return []
        top = self.evidence(hits[0])
        scale = abs(top) or 1.0
        out: list[str] = []
        for h in hits:
            if h.item_id in out:
                continue
            if (top - self.evidence(h)) / scale <= (self.thresholds.clarify_margin if margin is None else margin):
                if items is None or not any(_nested(items, h.item_id, o) for o in out):
                    out.append(h.item_id)
            if len(out) >= self.thresholds.max_options:
                break
        return out

    # ------------------------------------------------------------------ decision

    def decide(self, inp: PolicyInput) -> Decision:
        """The action for one turn; see the module docstring for the fixed rules."""
        t = self.thresholds
        label, conf = inp.intent.label, inp.intent.confidence
        hits = [h for h in inp.hits if h.item_id in inp.items]
        top = self.evidence(hits[0]) if hits else float("-inf")

        if label == "request_human":
            return Decision(Action.HANDOFF, label, handoff_reason="customer_request", why="asked for a person")
        if label == "complaint":
            channels = tuple(i for i in t.complaint_items if i in inp.items)
            if not channels:
                # A knowledge base without the complaint channels (an evaluator's
                # FAQ corpus): a person takes the complaint rather than nobody.
                return Decision(
                    Action.HANDOFF, label, handoff_reason="complaint", why="complaint, no channel item in this KB"
                )
            # a channel the message names (给窗口打个差评 names 好差评) comes first
            named = [c for c in channels if c in inp.mentioned]
            if named and is_yes_no(inp.text):
                # 打12345反映问题能不留名吗 / 给了差评会有人回访吗 ask about the channel, they do
                # not complain: answered from it like any question, under its likeliest topic
                consult = max(
                    (lb for lb in inp.intent.scores if lb.startswith("consult.")),
                    key=lambda lb: inp.intent.scores[lb],
                    default="consult.overview",
                )
                return self.answer_item(inp, consult, named[0], follow_up=False)
            channels = tuple(named) + tuple(c for c in channels if c not in named)
            return Decision(Action.ANSWER, label, item_ids=channels, why="complaint channel")
        if label == "out_of_scope":
            # a short continuation (and the double entry endorsement? / 那二次签注呢) in a
            # conversation about an item asks about that item: a fragment, not another topic
            continuing = (
                inp.state.current_item in inp.items
                and len(inp.text.strip()) <= _CONTINUATION_CHARS
                and bool(_CONTINUATION.search(inp.text))
            )
            if not continuing and (conf >= t.refuse_confidence or top < t.answer_score):
                return Decision(Action.REFUSE, label, why="out of scope")
            label = "consult.overview"  # an unsure refusal loses to a clear service match
        if label in ("greeting", "thanks"):
            if conf >= t.chitchat_confidence or top < t.answer_score:
                return Decision(Action.CHITCHAT, label, why="small talk")
            label = "consult.overview"

        current = inp.state.current_item if inp.state.current_item in inp.items else ""
        # A follow-up stays on the current item unless the message names another
        # item or retrieval points clearly elsewhere (a topic switch).
        if current:
            others_named = [m for m in inp.mentioned if m != current]
            switched = bool(others_named) and current not in inp.mentioned
            if not switched and hits and hits[0].item_id != current and current not in inp.mentioned:
                switched = top >= t.switch_score
            bundle = inp.items[current]
            if not switched and bundle.kind == "bundle" and hits and hits[0].item_id in _members(bundle):
                # after a 一件事 answer, a question with words of one of its services (那过户
                #登记费要多少) is about that service; a bare 那要带什么 stays on the bundle
                if not self.vague(hits[0]) or hits[0].item_id in inp.mentioned:
                    return self.answer_item(inp, label, hits[0].item_id, follow_up=False)
            if not switched and bundle.kind == "bundle" and hits and hits[0].item_id == current:
                # the bundle's own words (退休了) lead, but a service of it close behind
                # meets words of its own (公积金能一次全取出来吗): the question is that service's
                member = self._member_in_words(hits, bundle)
                if member:
                    return self.answer_item(inp, label, member, follow_up=False)
            if not switched:
                return self.answer_item(inp, label, current, follow_up=True)

        # A life event (先后要做哪几步, 要办哪些事) is answered by its bundle's ordered steps,
        # even where one of its member services is named or matches better.
        # (a bundle the message's words name, 从拍牌到上路要办哪些, needs no more evidence)
        named_event = inp.life_event in inp.mentioned or inp.life_event in inp.family
        if inp.life_event in inp.items and (top >= t.answer_score or named_event):
            return self.answer_item(inp, label, inp.life_event, follow_up=False)
        # An item the message names by its name or alias is the strongest evidence:
        # exactly one named item is answered even when retrieval ranks it lower.
        named = [m for m in inp.mentioned if m in inp.items]
        if len(named) == 1:
            first = hits[0].item_id if hits else ""
            sibling = first in inp.family or first in inp.items[named[0]].related
            if sibling and inp.items[first].kind != "bundle":
                # 居住证快到期了: the name 居住证 lies in the renewal's 居住证到期, and the rest
                # of the message put the renewal first (a bundle is a life event's answer, above)
                return self.answer_item(inp, label, first, follow_up=False)
            return self.answer_item(inp, label, named[0], follow_up=False)
        told = [m for m in named if m not in inp.asking]
        if told and len(told) < len(named) and hits and top >= t.answer_score:
            # several items named, some only in a clause that tells (I just got my work
            # permit. … how many days do I have to apply for the residence permit?): the
            # question is about one the asking clause names, or a name's family there
            asked_about = next((h.item_id for h in hits[:3] if h.item_id in inp.asking), "")
            if asked_about:
                return self.answer_item(inp, label, asked_about, follow_up=False)
        if not hits or top < t.answer_score:
            return self._unresolved(inp, label, Decision(
                Action.CLARIFY, label, item_ids=tuple(h.item_id for h in hits[: t.max_options]),
                clarify_kind="no_match", unresolved=True, why=f"weak retrieval {top:.3f} < {t.answer_score:.3f}",
            ))
        close = self.close_items(hits, inp.items)
        named_close = [m for m in named if m in close]
        candidates, why = self._clarify_candidates(inp, hits, close)
        repeated = [h.item_id for h in hits if h.item_id in candidates and h.item_id in inp.asked]
        if len(repeated) >= 2 and label.startswith("consult.") and label != "consult.overview":
            # the citizen answered "which one?" with a question of their own (居住证弄丢了 …
            # 补领要多久): asking again would not help, and its words weighed in retrieval.
            # A reply that says nothing (嗯嗯嗯) is still unresolved.
            return self.answer_item(inp, label, repeated[0], follow_up=False)
        if len(candidates) >= 2 and len([m for m in named if m in candidates]) != 1:
            return self._unresolved(inp, label, Decision(
                Action.CLARIFY, label, item_ids=tuple(candidates), clarify_kind="items", unresolved=True,
                why=f"{len(candidates)} items {why}",
            ))
        # of several close items the message names (拖欠工资 and 法律援助 in one message), the
        # one retrieval ranks first: it weighed the rest of the message too
        main = next(h.item_id for h in hits if h.item_id in named_close) if named_close else hits[0].item_id
        if not named_close:
            main = self._member_over_bundle(hits, inp.items, main)
        return self.answer_item(inp, label, main, follow_up=False)

    def _clarify_candidates(
        self, inp: PolicyInput, hits: Sequence[Hit], close: Sequence[str]
    ) -> tuple[list[str], str]:
        """The close items worth a clarifying question, and why (empty: answer the top item).

        A short message is vague, so all close items are asked about.  A longer
        one is asked about only when its words do not tell the top item from
        the others (:func:`undistinguished`) or when they tie.
        """
        t = self.thresholds
        if message_length(inp.text) <= t.clarify_max_chars:
            return list(close), f"within margin {t.clarify_margin:.3f}"
        if t.undistinguished_margin > 0 and hits and self.vague(hits[0]):
            # bundles are not merged with their members here: 孩子报名的事情 names
            # 入学一件事, 幼儿园 and 小学 alike, and which one is the citizen's to say
            pool = self.close_items(hits, margin=t.undistinguished_margin)
            # an item the message names by a name it shares with the top item
            # (港澳台通行证) is a candidate however far retrieval ranks it
            pool += [h.item_id for h in hits if h.item_id in inp.mentioned and h.item_id not in pool]
            same = undistinguished(hits, pool)
            if len(same) >= 2:
                return same, f"within margin {t.undistinguished_margin:.3f}, named alike by the message"
        if t.tie_margin > 0:
            return self.close_items(hits, inp.items, margin=t.tie_margin), f"within margin {t.tie_margin:.3f} (a tie)"
        return [], ""

    def _member_in_words(self, hits: Sequence[Hit], bundle: ServiceItem) -> str:
        """The best service of ``bundle`` within the clarify margin of the top hit whose words
        the message meets beyond naming it (not :meth:`vague`), else ""."""
        top = self.evidence(hits[0])
        scale = abs(top) or 1.0
        members = _members(bundle)
        for h in hits[1:]:
            if (top - self.evidence(h)) / scale > self.thresholds.clarify_margin:
                break
            if h.item_id in members and not self.vague(h):
                return h.item_id
        return ""

    def _member_over_bundle(self, hits: Sequence[Hit], items: Mapping[str, ServiceItem], main: str) -> str:
        """A member service instead of the top bundle when its own evidence is stronger.

        孩子出生了想报户口 ranks 新生儿一件事 first, but 报户口 is one of its services
        and matches that service's words better: the citizen asks about the
        service.  A bundle stays the answer when it matches best (要办哪些手续).
        """
        bundle = items.get(main)
        if bundle is None or bundle.kind != "bundle":
            return main
        top = self.evidence(hits[0])
        scale = abs(top) or 1.0
        best, best_evidence = main, self.evidence(next(h for h in hits if h.item_id == main))
        for h in hits:
            if (top - self.evidence(h)) / scale > self.thresholds.clarify_margin:
                continue
            if h.item_id in _members(bundle) and self.evidence(h) > best_evidence:
                best, best_evidence = h.item_id, self.evidence(h)
        return best

    def asked_topic(self, inp: PolicyInput, decision: Decision, asking_hits: Sequence[Hit]) -> Decision:
        """The decision again, when the item it answers was named only in a clause that tells.

        我爸是低保户 走了以后火化的钱能补多少 names 低保 to say who the father was; the
        question is the cremation subsidy its asking clause is about.  ``asking_hits``
        ranks the items for the asking clauses alone.  The item they put first (of their
        first three) and name in words of their own is answered when the whole message
        ranks it among its first five too (the telling clause is context, not noise) and
        the asking clauses do not also point at the decided item.  A bundle is a life
        event's answer and is not chosen here, nor is anything when the asking clauses
        retrieve weakly (能领多少 has no topic of its own: the told item is what it is
        about).
        """
        if decision.action is not Action.ANSWER or not decision.item_ids or not asking_hits:
            return decision
        current = decision.item_ids[0]
        first = [h for h in asking_hits[:3] if h.item_id in inp.items]
        if not first or self.evidence(first[0]) < self.thresholds.answer_score:
            return decision
        if current in {h.item_id for h in first}:
            return decision
        pool = [h.item_id for h in inp.hits[:5]]
        # the asking clause must name the item in words of its own (火化, 税务): 能提前换新的吗
        # retrieves something for any service, and names none
        chosen = next(
            (
                h.item_id
                for h in first
                if h.item_id in pool
                and inp.items[h.item_id].kind != "bundle"
                and any(not is_generic(term) for term in h.name_terms)
            ),
            "",
        )
        if not chosen:
            return decision
        answered = self.answer_item(inp, decision.intent, chosen, follow_up=False)
        return replace(answered, why=f"{answered.why}; asked about in the asking clause, {current} only told")

    def answer_item(self, inp: PolicyInput, label: str, item_id: str, *, follow_up: bool) -> Decision:
        """Answer from ``item_id``, unless its situations must be asked first."""
        t = self.thresholds
        item = inp.items[item_id]
        slots = inp.state.slots if follow_up else {}
        hit = next((h for h in inp.hits if h.item_id == item_id), None)
        vague = hit is None or self.vague(hit)
        if t.clarify_situations and vague and not slots.get("situation") and depends_on_situation(item, label):
            return self._unresolved(inp, label, Decision(
                Action.CLARIFY, label, item_ids=(item_id,), clarify_kind="situation",
                follow_up=follow_up, unresolved=True, why="answer depends on the situation",
            ))
        return Decision(Action.ANSWER, label, item_ids=(item_id,), follow_up=follow_up,
                        why="follow-up on current item" if follow_up else "top item")

    def vague(self, hit: Hit) -> bool:
        """Whether the message adds at most ``vague_max_terms`` topic words to those naming ``hit``.

        A retriever that does not report ``other_terms`` gives no evidence of
        details, so its messages count as vague.
        """
        extra = hit.components.get("other_terms")
        return extra is None or extra <= self.thresholds.vague_max_terms

    def _unresolved(self, inp: PolicyInput, label: str, decision: Decision) -> Decision:
        if inp.state.unresolved_turns + 1 >= self.thresholds.max_unresolved:
            return Decision(
                Action.HANDOFF, label, item_ids=decision.item_ids, handoff_reason="low_confidence",
                unresolved=True, why=f"{self.thresholds.max_unresolved} unresolved turns in a row",
            )
        return decision


def message_length(text: str) -> int:
    """Han characters plus Latin words: comparable lengths for Chinese and English messages."""
    han = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return han + len(re.findall(r"[A-Za-z0-9]+", text))


#: How a follow-up fragment opens (and…, what about…, 那…, 还有…); only a short one counts.
_CONTINUATION = re.compile(r"^\s*(?:(?:and|what about|how about|also)\b|那|还有|另外)", re.IGNORECASE)
_CONTINUATION_CHARS = 40


def _members(item: ServiceItem) -> set[str]:
    return {step.item for step in item.process if step.item}


def _nested(items: Mapping[str, ServiceItem], a: str, b: str) -> bool:
    """Whether one of the two items is a bundle that contains the other."""
    ia, ib = items.get(a), items.get(b)
    if ia is None or ib is None:
        return False
    return (ia.kind == "bundle" and b in _members(ia)) or (ib.kind == "bundle" and a in _members(ib))


def undistinguished(hits: Sequence[Hit], close: Sequence[str]) -> list[str]:
    """The top item and the close items the message names at least as fully.

    Each hit carries the message's words found in its name or aliases
    (``Hit.name_terms``).  When another close item is named by every word that
    names the top item, nothing in the message chose between them: 外国人办证
    names 外国人居留许可, 外国人工作许可 and 外国人签证延期 alike.  A message
    that names the top item by a word of its own (失业**登记**) is not ambiguous.
    Without name terms (a retriever that does not report them) nothing is
    returned: the rule needs that evidence.
    """
    if not close:
        return []
    terms = {h.item_id: set(h.name_terms) for h in hits}
    top = terms.get(close[0], set())
    if not top:
        return []
    return [close[0], *(c for c in close[1:] if terms.get(c, set()) >= top)]


def depends_on_situation(item: ServiceItem, label: str) -> bool:
    """Whether the answer to ``label`` differs between the item's situations (情形).

    Materials differ when every situation has a material of its own (居住证:
    the employed bring a labour contract, students a student card), so no list
    fits all; conditions differ when every situation carries conditions of its
    own.  An item with one exceptional case (新生儿户口登记, where only a
    parent from outside Shanghai brings more) is answered with the common list
    and the case noted, without asking.
    """
    if len(item.situations) < 2:
        return False
    if label == "consult.materials":
        return any(m.situations for m in item.materials) and all(
            any(s.key in m.situations for m in item.materials) for s in item.situations
        )
    if label == "consult.conditions":
        return all(s.conditions for s in item.situations)
    return False


def load_policy(path: Path | None) -> ActionPolicy:
    """The policy from ``path``, else the committed fitted file ``assistant/dialogue/policy.json``.

    A missing file is an error with the fix, never a silent fall-back to defaults.
    """
    return ActionPolicy.load(path or DEFAULT_POLICY_PATH)


__all__ = [
    "ActionPolicy",
    "Decision",
    "PolicyInput",
    "PolicyThresholds",
    "DEFAULT_POLICY_PATH",
    "WORD_COUNTS",
    "depends_on_situation",
    "undistinguished",
    "message_length",
    "load_policy",
]
