"""The dialogue engine: one user message in, one TurnResult out.

    text -> (pending clarification?) -> IntentClassifier -> Retriever (-> Reranker)
         -> ActionPolicy -> Generator (answers) / Composer (the assistant's own lines)

The engine is stateless: the DialogueState comes in with the message and the
new state goes out in the result (the ConversationStore keeps it).  The state
carries the current item (follow-ups such as 那要带什么材料？ resolve against
it), the situation slot (情形) collected by a clarifying question, the
language, how many turns in a row went unresolved and the options of a
pending clarifying question, whose answer (a button value or free text)
resolves the turn that asked it.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from assistant.checkup import CheckupEngine
from assistant.dialogue.checkup import CheckupDialogue, CheckupTurn, checkup_audience
from assistant.generators.composer import PERSON_OPTION, SITUATION_SLOT, Composer
from assistant.core.text import (
    detect_lang,
    expand_colloquial,
    is_generic,
    longer_names,
    normalize,
    plain_verbs,
    standard_words,
)
from assistant.generators.planning import AnswerPlanner
from intents.aspects import message_clauses, predict_aspects
from assistant.core.types import (
    Action,
    Answer,
    AspectPrediction,
    DialogueState,
    EligibilityChecker,
    GenerationRequest,
    Generator,
    Hit,
    IntentClassifier,
    IntentPrediction,
    Option,
    Reranker,
    RetrievalQuery,
    Retriever,
    ServiceItem,
    Turn,
    TurnResult,
)
from assistant.dialogue.policy import ActionPolicy, Decision, PolicyInput


class ItemMatcher:
    """Finds the items a message names by their official name or an alias.

    Matching is plain lower-cased substring search; a match that lies inside a
    longer match of another item is dropped (居住证 inside 居住证续办), so the
    most specific name wins; a name that several items share names them all.
    """

    #: Shortest alias that counts: single Han characters and 2-letter Latin
    #: strings are too ambiguous to name an item.
    MIN_HAN = 2
    MIN_LATIN = 4

    def __init__(self, items: Mapping[str, ServiceItem]) -> None:
        self._names: list[tuple[str, str]] = []
        for item in items.values():
            for name in {item.name, item.name_en, *item.aliases}:
                # names and messages alike read true synonyms as the knowledge base's word
                key = standard_words(name.strip().lower())
                if not key:
                    continue
                latin = all(ch.isascii() for ch in key)
                if len(key) < (self.MIN_LATIN if latin else self.MIN_HAN):
                    continue
                self._names.append((key, item.id))
        # Longest names first, so containment checks see the specific match first.
        self._names.sort(key=lambda p: -len(p[0]))
        self._cached_spans = lru_cache(maxsize=256)(self._find_spans)
        # A name inside longer names of other items (居住证 in 居住证签注, 居住证积分) may
        # mean those items too: said alone, the rest of the message decides among them.
        owners: dict[str, list[str]] = {}
        for key, item_id in self._names:
            owners.setdefault(key, []).append(item_id)
        self._family: dict[str, tuple[str, ...]] = {
            key: tuple(dict.fromkeys(i for k in longer for i in owners[k] if i not in owners[key]))
            for key, longer in longer_names(list(owners)).items()
        }

    def mentions(self, text: str) -> tuple[str, ...]:
        """Ids of the items named in ``text``, most specific (longest name) first."""
        return tuple(dict.fromkeys(item_id for _, _, item_id, _ in self._spans(text)))

    def family(self, text: str) -> tuple[str, ...]:
        """Ids of the items a name in ``text`` may also mean, not named themselves.

        居住证 is the permit's alias but lies in 居住证签注 and 居住证积分: in
        居住证快到期了 it may mean the renewal, which retrieval then tells apart.
        """
        spans = self._spans(text)
        named = {item_id for _, _, item_id, _ in spans}
        # only a name said on its own: 提公积金 inside 租房提公积金 is that longer name's part
        alone = [k for s, e, _, k in spans if not any(s2 <= s and e <= e2 and e2 - s2 > e - s for s2, e2, _, _ in spans)]
        return tuple(dict.fromkeys(i for key in alone for i in self._family.get(key, ()) if i not in named))

    def _spans(self, text: str) -> tuple[tuple[int, int, str, str], ...]:
        """(start, end, item id, name) of each name found in ``text``, longest first.

        A turn asks this of the same message several times (its names, their family,
        those of its asking clauses), so the last few messages' answers are kept.
        """
        return self._cached_spans(text)

    def _find_spans(self, text: str) -> tuple[tuple[int, int, str, str], ...]:
        lowered = plain_verbs(standard_words(text.lower()))
        spans: list[tuple[int, int, str, str]] = []
        for key, item_id in self._names:
            start = lowered.find(key)
            while start >= 0:
                end = start + len(key)
                # inside a longer name of another item; the same name shared by two
                # items (港澳台通行证) names both
                inside_other = any(
                    s <= start and end <= e and e - s > end - start and other != item_id for s, e, other, _ in spans
                )
                if not inside_other:
                    spans.append((start, end, item_id, key))
                start = lowered.find(key, start + 1)
        # Of two names that overlap (申请居住证 and 居住证积分 in 申请居住证积分), one whose
        # own part is a bare action word (申请, 办) yields: the object is the longer noun.
        # Both stay where each adds words of its own (继承房产 and 房产过户).
        return tuple(
            (s, e, i, k)
            for s, e, i, k in spans
            if not any(
                i2 != i and ((s < s2 < e < e2 and is_generic(lowered[s:s2])) or (s2 < s < e2 < e and is_generic(lowered[e2:e])))
                for s2, e2, i2, _ in spans
            )
        )


_ORDINALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5}
_ORDINAL_RE = re.compile(r"^(?:第)?([一二两三四五1-5])(?:个|项|种|条)?[。.!！]?$|^(?:option\s*)?([1-5])$")


def _bigrams(text: str) -> set[str]:
    t = re.sub(r"\s+", "", text.lower())
    return {t[i : i + 2] for i in range(len(t) - 1)} | ({t} if len(t) == 1 else set())


def resolve_option(
    text: str,
    options: Sequence[Option],
    items: Mapping[str, ServiceItem],
    matcher: ItemMatcher,
    *,
    fuzzy: bool = True,
) -> Option | None:
    """The option a reply picks: its value or label, its number, an item it names, or
    (``fuzzy``) the option whose words share the most character pairs with the reply.

    In the fuzzy match a pair counts ``1/n`` when ``n`` options share it (房子
    in 房屋买卖 and 房产继承 tells nothing), and a tie goes to the option listed
    first (the question lists them best first).  None if nothing fits.
    """
    reply = text.strip().lower()
    if not reply or not options:
        return None
    for o in options:
        if reply in (o.value.lower(), o.label.lower()):
            return o
    m = _ORDINAL_RE.match(reply)
    if m:
        n = _ORDINALS[m.group(1) or m.group(2)]
        return options[n - 1] if n <= len(options) else None
    named = [o for o in options if o.item_id and not o.situation and o.item_id in matcher.mentions(text)]
    if len(named) == 1:
        return named[0]
    contained = [o for o in options if o.label.lower() in reply or (len(reply) >= 2 and reply in o.label.lower())]
    if len(contained) == 1:
        return contained[0]
    if not fuzzy:
        return None
    # Free text: the label (or, for items, the item's aliases; for situations, their
    # conditions) in official words, compared by character pairs.
    grams = _bigrams(expand_colloquial(reply))
    option_grams: list[set[str]] = []
    for o in options:
        texts = [o.label]
        item = items.get(o.item_id)
        if item is not None and not o.situation:
            texts.extend((item.name, *item.aliases))
        if item is not None and o.situation and (sit := item.situation(o.situation)) is not None:
            texts.extend((sit.label, *sit.conditions))
        option_grams.append(set().union(*(_bigrams(t) for t in texts)) & grams)
    share = Counter(g for og in option_grams for g in og)
    scores = [sum(1.0 / share[g] for g in og) for og in option_grams]
    best = max(scores)
    if best <= 0:
        return None
    return options[scores.index(best)]


def situation_in_text(text: str, item: ServiceItem) -> str:
    """The key of the one situation of ``item`` whose label the message speaks of, else "".

    Labels are compared by character pairs after the colloquial words are
    expanded (上班 → 就业); a tie or no shared pair means the message does not say.
    """
    grams = _bigrams(expand_colloquial(text.lower()))
    scored = sorted(
        ((max(len(grams & _bigrams(label)) for label in (s.label, s.label_en) if label), s.key) for s in item.situations),
        reverse=True,
    )
    if scored and scored[0][0] > 0 and (len(scored) == 1 or scored[0][0] > scored[1][0]):
        return scored[0][1]
    return ""


#: How many stored messages back a follow-up's situation is looked for.
_EARLIER_TURNS = 6

_HAN_PAIR = re.compile(r"[\u4e00-\u9fff]{2}")
_WORD = re.compile(r"[a-z]{4,}")


def situation_named(text: str, item: ServiceItem) -> str:
    """The key of the one situation of ``item`` a question names of its own accord, else "".

    Stricter than :func:`situation_in_text`, which reads a reply to the situation
    question: here the message was not asked, so only Chinese character pairs of the
    label that the item's name does not hold count (夫妻投靠落户 names 夫妻投靠;
    居民医保 does not name 18至59周岁居民, whose 居民 is the item's own word) and English
    words of four letters or more (not letter pairs), and no other situation may share
    as many.
    """
    t = expand_colloquial(text.lower())
    own = _bigrams(item.name)
    pairs = {t[i : i + 2] for i in range(len(t) - 1)}
    words = set(_WORD.findall(t))
    negated = bool(_NEGATION.search(t))
    scored = []
    for s in item.situations:
        label_pairs = {p for p in _bigrams(s.label) if _HAN_PAIR.fullmatch(p)} - own
        shared = len(pairs & label_pairs) + len(words & set(_WORD.findall((s.label_en or "").lower())))
        # of two situations a message that says "not" names alike (已办理合同备案 / 未办理合同
        # 备案), the one that says "not" too: 合同没去备案 is the one without the filing
        agrees = 1 if shared and negated and _LABEL_NEGATION.search(s.label) else 0
        scored.append((shared, agrees, s.key))
    scored.sort(reverse=True)
    if scored and scored[0][0] >= 1 and (len(scored) == 1 or scored[0][:2] > scored[1][:2]):
        key = scored[0][2]
        named = item.situation(key)
        if (
            named is not None
            and not _LABEL_NEGATION.search(named.label)
            and _denied(t, {p for p in _bigrams(named.label) if _HAN_PAIR.fullmatch(p)} - own)
        ):
            # the message denies the situation it names (没去做公证 of 凭公证书 or 全体继承人
            # 直接申请): of two it is the other one; of more, the message does not say which
            return next(s.key for s in item.situations if s.key != key) if len(item.situations) == 2 else ""
        return key
    return ""


def _denied(text: str, pairs: set[str]) -> bool:
    """True when a negation stands just before where ``text`` says one of ``pairs`` (没去做公证)."""
    for pair in pairs:
        at = text.find(pair)
        while at >= 0:
            if _NEGATION.search(text[max(0, at - _DENIAL_REACH) : at]):
                return True
            at = text.find(pair, at + 1)
    return False


#: How many characters before a label's words a negation may stand and still deny them.
_DENIAL_REACH = 4

#: A message that says something is not so (合同没去备案, 没单位, 不到10万, 不是本市户籍).
_NEGATION = re.compile(r"没有?|未|(?<!知)无|不是|不满|不到|不在|非|\b(no|not|without|never|don't|didn't|haven't|hasn't)\b")
#: A situation label that says something is not so (未办理租赁合同备案, 无固定单位, 非本市户籍).
_LABEL_NEGATION = re.compile(r"未|无|不|非|没有")


@dataclass(frozen=True)
class PreparedTurn:
    """A turn decided but not yet written: either a generation request or a fixed answer."""

    intent: IntentPrediction
    hits: tuple[Hit, ...]
    decision: Decision
    state: DialogueState
    timings_ms: Mapping[str, float]
    #: set when the action is ``answer`` and a Generator writes the text.
    request: GenerationRequest | None = None
    #: set for every other action: the composer's fixed line.
    answer: Answer | None = None
    #: the consult aspects the message asks and whether it asks yes or no.
    aspects: AspectPrediction = field(default_factory=AspectPrediction)


class DialogueEngine:
    """Runs one turn through classifier, retriever, reranker, policy and generator."""

    def __init__(
        self,
        *,
        classifier: IntentClassifier,
        retriever: Retriever,
        reranker: Reranker | None,
        generator: Generator,
        policy: ActionPolicy,
        items: Mapping[str, ServiceItem],
        top_k: int = 10,
        planner: AnswerPlanner | None = None,
        aspect_threshold: float = 0.5,
        checkup: EligibilityChecker | None = None,
    ) -> None:
        self.classifier = classifier
        self.retriever = retriever
        self.reranker = reranker
        self.generator = generator
        self.policy = policy
        self.items = dict(items)
        self.top_k = top_k
        #: probability from which the classifier's aspect head counts an aspect as asked.
        self.aspect_threshold = aspect_threshold
        #: writes the assistant's own lines (clarify, refuse, chitchat, handoff).
        #: chooses the answer units of each answer (built and loaded by the wiring).
        self.planner = planner or AnswerPlanner()
        self.composer = Composer(self.planner)
        self.matcher = ItemMatcher(self.items)
        #: the policy check-up (政策体检): verdicts from the items' eligibility data, and its questions.
        self.checkup = checkup or CheckupEngine(self.items.values())
        self.checkups = CheckupDialogue(self.checkup, self.items)

    # ------------------------------------------------------------------ public

    def turn(self, text: str, state: DialogueState, history: Sequence[Turn] = ()) -> TurnResult:
        """Answer one message; returns the answer, the new state and per-stage timings."""
        prepared = self.prepare(text, state, history)
        started = time.perf_counter()
        answer = prepared.answer if prepared.request is None else self.generator.generate(prepared.request)
        return self._finish(prepared, answer, (time.perf_counter() - started) * 1000.0)  # type: ignore[arg-type]

    def turn_stream(self, text: str, state: DialogueState, history: Sequence[Turn] = ()) -> Iterator[str | TurnResult]:
        """Like :meth:`turn`, but yields the answer text in pieces, then the TurnResult last."""
        prepared = self.prepare(text, state, history)
        started = time.perf_counter()
        if prepared.request is None:
            assert prepared.answer is not None
            yield prepared.answer.text
            yield self._finish(prepared, prepared.answer, 0.0)
            return
        pieces: list[str] = []
        first_ms = None
        stream = self.generator.stream(prepared.request)
        for piece in stream:
            if first_ms is None:
                first_ms = (time.perf_counter() - started) * 1000.0
            pieces.append(piece)
            yield piece
        # The streamed text is the answer; citations come from the same grounded request.
        base = self.composer.generate(prepared.request)
        name = self.generator.name
        if stream.fallback:
            name = f"composer (fallback from {name}: {stream.fallback})"
        answer = replace(base, text="".join(pieces), generator=name)
        result = self._finish(prepared, answer, (time.perf_counter() - started) * 1000.0)
        if first_ms is not None:
            result = replace(result, timings_ms={**result.timings_ms, "first_token": first_ms})
        yield result

    # ------------------------------------------------------------------ steps

    def prepare(self, text: str, state: DialogueState, history: Sequence[Turn] = ()) -> PreparedTurn:
        """Classify, retrieve, decide and build the new state; no text is generated yet."""
        prepared = self._prepare(text, state, history)
        if not prepared.aspects.aspects:
            # every turn reports the aspects its message asks (a follow-up 那要多少钱 its own)
            prepared = replace(prepared, aspects=self._aspects(text, prepared.decision.intent, prepared.intent))
        return prepared

    def _prepare(self, text: str, state: DialogueState, history: Sequence[Turn] = ()) -> PreparedTurn:
        timings: dict[str, float] = {}
        context = ""
        lang = detect_lang(text, state.lang)
        state = replace(state, lang=lang)
        audience = checkup_audience(text)
        if audience is not None and not self.matcher.mentions(text):
            # 帮我看看我能享受哪些政策 (a question naming one item is answered as usual)
            return self._checkup_turn(self.checkups.start(text, audience, lang), state, timings)
        if state.checkup is not None and state.checkup.pending:
            t = time.perf_counter()
            turn = self.checkups.reply(text, state)
            timings["checkup"] = _ms(t)
            if turn is not None:
                return self._checkup_turn(turn, state, timings)
            # not an answer: the check-up steps aside (its answers stay) and this is a question of its own
            state = replace(state, checkup=replace(state.checkup, pending=()))
        asked: tuple[str, ...] = ()
        if state.pending_options:
            resolved = self._resolve_pending(text, state, history, timings)
            if resolved is not None:
                return resolved
            asked = tuple(dict.fromkeys(o.item_id for o in state.pending_options if o.item_id))
            # Not an answer to the question: a fresh turn, the question is dropped, but
            # its topic helps retrieval (我想提公积金 … 我要买房 is about 购房提取).
            context = state.pending_topic
            state = state.without_question()

        t = time.perf_counter()
        prediction = self.classifier.classify(text, state=state)
        timings["intent"] = _ms(t)

        t = time.perf_counter()
        query = RetrievalQuery(
            text=f"{context} {text}" if context else text, lang=lang, current_item=state.current_item, intent=prediction.label
        )
        hits = list(self.retriever.retrieve(query, top_k=self.top_k))
        timings["retrieval"] = _ms(t)
        if self.reranker is not None:
            t = time.perf_counter()
            hits = list(self.reranker.rerank(query, hits, top_k=self.top_k))
            timings["rerank"] = _ms(t)

        t = time.perf_counter()
        mentioned = self.matcher.mentions(text)
        bundle = life_event_bundle(text, hits, self.items, mentioned=mentioned)
        if bundle:
            hits = list(_front(hits, (bundle,)))
        # asked for the order of several steps, the bundle is the answer even where one of
        # its services matches better; 上幼儿园要办哪些手续 may still be about that service
        # (or where the words naming a service name the bundle's event too: 要开公司需要办哪些)
        named_services = [m for m in mentioned if m in self.items and self.items[m].kind != "bundle"]
        several = bundle if SEVERAL_STEPS.search(text.lower()) or len(named_services) == 1 else ""
        # the clauses that ask, when the message also has clauses that only tell (else []);
        # read as retrieval reads them (过世 as 去世), so the names it reports are found there
        norm = standard_words(normalize(text))
        clauses = message_clauses(norm)
        inp = PolicyInput(
            prediction, hits, state, self.items, mentioned, text,
            life_event=several, asked=asked, family=self.matcher.family(text), asking=self._asking_names(clauses),
        )
        decision = self.policy.decide(inp)
        if decision.action is Action.ANSWER and not decision.follow_up and decision.item_ids[:1] != (several,):
            asking = self._only_told(norm, clauses, hits, decision.item_ids[0])
            if asking:
                # the answered item was named only to tell (我爸是低保户 …): what do the
                # clauses that ask retrieve on their own?
                asking_hits = self.retriever.retrieve(replace(query, text=asking), top_k=self.top_k)
                decision = self.policy.asked_topic(inp, decision, asking_hits)
        if decision.action is Action.CLARIFY and decision.clarify_kind == "situation":
            # 我在上海上班，办居住证要带什么材料: the message already answers the question.
            item = self.items[decision.item_ids[0]]
            key = situation_in_text(text, item)
            if not key and decision.follow_up:
                # 残疾证快到期了怎么办 … 要带什么: the situation was said earlier in the
                # conversation, and asking it again would ask what the citizen already told
                key = next(
                    (k for t in reversed(history[-_EARLIER_TURNS:]) if t.role == "user" for k in [situation_in_text(t.text, item)] if k),
                    "",
                )
            if key:
                state = replace(state, current_item=item.id, slots={**state.slots, SITUATION_SLOT: key})
                decision = Decision(Action.ANSWER, decision.intent, item_ids=(item.id,), follow_up=True,
                                    why=f"situation {key} named in the message")
        timings["policy"] = _ms(t)
        return self._plan(text, state, history, prediction, hits, decision, timings, topic=query.text)

    def _checkup_turn(self, turn: CheckupTurn, state: DialogueState, timings: dict[str, float]) -> PreparedTurn:
        """A check-up question or its three lists, as a prepared turn (no generator runs)."""
        intent = "consult.conditions"
        prediction = IntentPrediction(label=intent, confidence=1.0, scores={intent: 1.0})
        decision = Decision(turn.answer.action, intent, item_ids=turn.item_ids, why="checkup")
        hits = tuple(Hit(item_id=i, score=1.0, components={"dialogue": 1.0}) for i in turn.item_ids)
        new_state = state.without_question(checkup=turn.session, unresolved_turns=0)
        aspects = AspectPrediction(("conditions",))
        return PreparedTurn(prediction, hits, decision, new_state, timings, answer=turn.answer, aspects=aspects)

    def _only_told(self, norm: str, clauses: Sequence[str], hits: Sequence[Hit], item_id: str) -> str:
        """The asking ``clauses`` of the normalised message ``norm``, joined, when ``item_id``
        was named only in its other clauses and they say the citizen already has it (刚拿到
        营业执照 税务那块在哪里办: the licence is done; 我爸是低保户: the allowance is what he
        had); else "".

        A clause that names a service without saying it is held (房产证丢了 补一本要多少钱,
        长护险居家护理 自己要付多少钱) is the topic the questions after it are about.
        """
        hit = next((h for h in hits if h.item_id == item_id), None)
        if not clauses or hit is None or not hit.name_terms:
            return ""
        if any(term in clause for term in hit.name_terms for clause in clauses):
            return ""
        told = norm
        for clause in clauses:
            told = told.replace(clause, " ")
        return " ".join(clauses) if _HELD.search(told) else ""

    def _asking_names(self, clauses: Sequence[str]) -> tuple[str, ...]:
        """Items named in a message's asking ``clauses`` (:func:`message_clauses`), or ().

        I just got my work permit. … how many days do I have to apply for the residence
        permit? asks about the residence permit; the work permit is what happened.
        """
        if not clauses:
            return ()
        named = [i for c in clauses for i in (*self.matcher.mentions(c), *self.matcher.family(c))]
        return tuple(dict.fromkeys(named))

    def _resolve_pending(
        self, text: str, state: DialogueState, history: Sequence[Turn], timings: dict[str, float]
    ) -> PreparedTurn | None:
        t = time.perf_counter()
        option = resolve_option(text, state.pending_options, self.items, self.matcher, fuzzy=False)
        if option is None:
            option = resolve_option(text, state.pending_options, self.items, self.matcher)
            if option is not None and option.item_id and not option.situation and self._points_elsewhere(text, state):
                option = None
        timings["clarify_resolution"] = _ms(t)
        if option is None:
            return None
        intent = state.pending_intent or "consult.overview"
        prediction = IntentPrediction(label=intent, confidence=1.0, scores={intent: 1.0})
        cleared = state.without_question()
        if option.value == "request_human":
            prediction = IntentPrediction(label="request_human", confidence=1.0, scores={"request_human": 1.0})
            decision = Decision(Action.HANDOFF, "request_human", handoff_reason="customer_request", why="option")
            return self._plan(text, cleared, history, prediction, [], decision, timings)
        if option.situation:
            item_id = option.item_id or state.current_item
            slots = {**cleared.slots, SITUATION_SLOT: option.situation}
            cleared = replace(cleared, current_item=item_id, slots=slots)
        else:
            item_id = option.item_id
            cleared = replace(cleared, current_item=item_id, slots={})
        if item_id not in self.items:
            return None
        others = [o.item_id for o in state.pending_options if o.item_id and o.item_id != item_id]
        # Hits made by the dialogue, not retrieval, carry the component "dialogue".
        hits = [Hit(item_id=item_id, score=1.0, components={"dialogue": 1.0})] + [
            Hit(item_id=i, score=0.0, components={"dialogue": 0.0}) for i in dict.fromkeys(others)
        ]
        inp = PolicyInput(prediction, hits, cleared, self.items, (item_id,))
        decision = self.policy.answer_item(inp, intent, item_id, follow_up=True)
        return self._plan(text, cleared, history, prediction, hits, decision, timings)

    def _points_elsewhere(self, text: str, state: DialogueState) -> bool:
        """Whether retrieval puts an item that was not offered clearly first for ``text``.

        A loose word match (房子) must not pick an offered item when the reply
        speaks of another one (是继承父母的房子 → 房产继承): that reply is a new question.
        """
        offered = {o.item_id for o in state.pending_options if o.item_id}
        hits = self.retriever.retrieve(RetrievalQuery(text=text, lang=state.lang), top_k=3)
        if not hits or hits[0].item_id in offered:
            return False
        return self.policy.evidence(hits[0]) >= self.policy.thresholds.answer_score

    def _plan(
        self,
        text: str,
        state: DialogueState,
        history: Sequence[Turn],
        prediction: IntentPrediction,
        hits: Sequence[Hit],
        decision: Decision,
        timings: dict[str, float],
        *,
        topic: str = "",
    ) -> PreparedTurn:
        lang = state.lang
        action = decision.action
        if action in (Action.HANDOFF, Action.REFUSE, Action.CHITCHAT):
            # Only convincing hits travel on (a ticket routes by them); the current item leads.
            floor = self.policy.thresholds.answer_score
            hits = [h for h in hits if "dialogue" in h.components or self.policy.evidence(h) >= floor]
            if state.current_item:
                hits = list(_front(hits, (state.current_item,)))
        ordered = _front(hits, decision.item_ids[:1]) if action is Action.ANSWER else tuple(hits)
        if action is Action.ANSWER:
            main = decision.item_ids[0]
            complaint = decision.intent == "complaint"
            new_state = state.without_question(
                current_item=main,
                slots=dict(state.slots) if decision.follow_up and main == state.current_item else {},
                unresolved_turns=0,
            )
            if complaint:
                ordered = _front(hits, decision.item_ids)
            aspects = self._aspects(text, decision.intent, prediction)
            items = tuple(self.items[i] for i in decision.item_ids)
            if items and not new_state.slots.get(SITUATION_SLOT):
                # 夫妻投靠落户要带什么: the message names its situation, so the answer is that
                # situation's (the other situations' materials are not the citizen's)
                named = situation_named(text, items[0])
                if named:
                    new_state = replace(new_state, slots={**new_state.slots, SITUATION_SLOT: named})
            if items and items[0].kind == "bundle" and LIFE_EVENT.search(text.lower()):
                # a life event asks what to do, in order: its steps, whatever nouns it names
                # (证件医保这些先办哪个 asks no materials; 到退休年龄了 no conditions)
                rest = tuple(a for a in aspects.aspects if a not in ("process", "overview", "materials", "conditions"))
                aspects = replace(aspects, aspects=("process", *rest))
            t = time.perf_counter()
            plan = None
            if not complaint and items:
                plan = self.planner.plan(
                    items[0],
                    text,
                    aspects.aspects or ("overview",),
                    yes_no=aspects.yes_no,
                    lang=lang,
                    situation=new_state.slots.get(SITUATION_SLOT, ""),
                )
            timings["planning"] = _ms(t)
            request = GenerationRequest(
                question=text,
                intent=decision.intent,
                lang=lang,
                items=items,
                action=Action.ANSWER,
                state=new_state,
                history=tuple(history),
                aspects=aspects.aspects,
                yes_no=aspects.yes_no,
                plan=plan,
            )
            return PreparedTurn(prediction, ordered, decision, new_state, timings, request=request, aspects=aspects)
        if action is Action.CLARIFY:
            if decision.clarify_kind == "situation":
                item = self.items[decision.item_ids[0]]
                question, options = self.composer.clarify_situation(item, lang)
                answer = self.composer.clarify(question, options, lang)
                current = item.id
                ordered = _front(hits, (item.id,))
            elif decision.clarify_kind == "items":
                question, options = self.composer.clarify_items([self.items[i] for i in decision.item_ids], lang)
                answer = self.composer.clarify(question, options, lang)
                current = state.current_item
            else:
                _, options = self.composer.clarify_items([self.items[i] for i in decision.item_ids], lang)
                answer = self.composer.no_match(lang, options)
                question = answer.text
                current = state.current_item
            options = tuple(options) + (PERSON_OPTION[lang],)
            answer = replace(answer, options=options)
            new_state = replace(
                state,
                current_item=current,
                unresolved_turns=state.unresolved_turns + 1,
                pending_options=options,
                pending_intent=decision.intent if decision.intent.startswith("consult.") else "consult.overview",
                pending_question=question,
                pending_topic=topic or text,
            )
            return PreparedTurn(prediction, ordered, decision, new_state, timings, answer=answer)
        if action is Action.HANDOFF:
            answer = self.composer.handoff(decision.handoff_reason, lang)
            new_state = state.without_question(handed_off=True)
            return PreparedTurn(prediction, tuple(hits), decision, new_state, timings, answer=answer)
        if action is Action.REFUSE:
            answer = self.composer.refuse(lang)
        else:
            answer = self.composer.chitchat(decision.intent, lang)
        # Refusals and small talk keep the topic: the next follow-up still has its item.
        return PreparedTurn(prediction, tuple(hits), decision, state, timings, answer=answer)

    def _aspects(self, text: str, intent: str, prediction: IntentPrediction) -> AspectPrediction:
        """The aspects a message asks: the classifier's aspect scores where it has them, else the cues.

        A turn whose intent the policy changed (an unsure refusal answered as a
        consultation) keeps the classifier's aspect scores: they read the words.
        """
        return predict_aspects(text, intent, prediction.aspect_scores, threshold=self.aspect_threshold)

    def _finish(self, prepared: PreparedTurn, answer: Answer, generation_ms: float) -> TurnResult:
        timings = dict(prepared.timings_ms)
        timings["generation"] = generation_ms
        return TurnResult(
            answer=answer,
            intent=prepared.intent if prepared.intent.label == prepared.decision.intent else replace(
                prepared.intent, label=prepared.decision.intent
            ),
            hits=prepared.hits,
            state=prepared.state,
            timings_ms=timings,
            handoff_reason=prepared.decision.handoff_reason if answer.action is Action.HANDOFF else "",
            aspects=prepared.aspects,
        )


#: Words that ask for the order of several things to do (先办哪个后办哪个, 一步步怎么走,
#: 从拍牌到上路): even a message naming one service asks about the life event around it.
#: 从拍牌到上路 spans several steps; 从浙江转到上海 (转到, 迁到, 搬到) moves one thing.
_SEVERAL_STEPS = (
    r"先后|顺序|先办|后办|先干|后干|一步一?步|整个流程|全流程|哪几步|哪些事|都要怎么办|"
    r"从.{1,12}(?<![转迁调搬寄回])到.{1,12}(要|怎么|办)|"
    r"step by step|the whole process|from .{1,40} to .{1,40}(what|how)"
)
SEVERAL_STEPS = re.compile(_SEVERAL_STEPS)
#: "What must I do after X" (刚生完孩子要办哪些事, 家里老人去世了要办什么手续), or the order of
#: several things to do: a life event, answered by its 一件事 bundle's ordered member steps.
LIFE_EVENT = re.compile(
    r"(要|需要|得|该)(办|做|处理)(哪些|什么|啥)(事|手续|业务)?|(哪些|什么)(事|手续)(要|需要|得)办|"
    r"有(哪些|什么)(事|手续)|一件事|what (\w+ )?(do|should|must) (i|we) (need to )?do|what needs to be done|"
    r"which (services|procedures|formalities)|" + _SEVERAL_STEPS
)


#: A clause saying the citizen already has what it names: the service is done (刚拿到营业执照,
#: 居住证办好了, I just got my licence) or a status held (我爸是低保户, 我有居住证).
_HELD = re.compile(
    r"(拿到|办好|办完|领到|领了|取得|有了|下来了|批了|我有|已有|持有)|(我|他|她|爸|妈|父亲|母亲|老人|家里)\S{0,2}是\S{1,6}户|"
    r"\b(i|we) (just )?(have|got|received|obtained|hold)\b|\b(i|we)'ve (got|received|obtained)\b"
)


def life_event_bundle(
    text: str,
    hits: Sequence[Hit],
    items: Mapping[str, ServiceItem],
    *,
    mentioned: Sequence[str] = (),
    within: int = 5,
    close: float = 0.5,
) -> str:
    """The 一件事 bundle a life-event question (刚生完孩子要办哪些事) is answered with, or "".

    A bundle of the top ``within`` qualifies when it scores at least ``close`` times the
    top hit (a question about one service, 上幼儿园要办哪些手续, ranks that service far
    above any bundle and keeps it first); of several, the best-scoring.  A message
    naming one single service keeps it, unless it asks for the order of several steps
    (先后要做哪几步, 一步步怎么走), which a bundle containing that service answers; one
    naming several services (从上幼儿园到上小学) is a life event.
    """
    if not hits or not LIFE_EVENT.search(text.lower()):
        return ""
    named = [items[i] for i in mentioned if i in items]
    services = [i for i in named if i.kind != "bundle"]
    several = bool(SEVERAL_STEPS.search(text.lower()))
    top = max(hits[0].score, 1e-9)
    bundles = [
        h
        for h in hits[:within]
        if h.item_id in items and items[h.item_id].kind == "bundle" and h.score >= close * top
    ]
    if len(services) == 1 and not any(i.kind == "bundle" for i in named) and not several:
        # one named service keeps it (上幼儿园要办哪些手续), unless the words that named it
        # are the event a bundle is named by too (开公司 names 企业开办 and 开公司要办哪些)
        said = [n.lower() for n in (services[0].name, *services[0].aliases) if len(n) >= 2 and n.lower() in text.lower()]
        bundles = [
            h for h in bundles if any(n in alias.lower() for n in said for alias in items[h.item_id].aliases)
        ]
        if not bundles:
            return ""
    if several and len(services) == 1:
        # the order of the steps around one named service: only a bundle it belongs to
        member = services[0].id
        bundles = [h for h in bundles if any(st.item == member for st in items[h.item_id].process)]
    if not bundles:
        return ""
    return max(bundles, key=lambda h: h.score).item_id


def _front(hits: Sequence[Hit], first: Sequence[str]) -> tuple[Hit, ...]:
    """``hits`` with the items ``first`` moved to the front (added when retrieval missed them)."""
    by_id = {h.item_id: h for h in hits}
    head = [by_id.get(i) or Hit(item_id=i, score=0.0, components={"dialogue": 1.0}) for i in first]
    return tuple(head) + tuple(h for h in hits if h.item_id not in set(first))


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
