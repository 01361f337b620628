"""Verdicts over the items' eligibility data, and the next question worth asking.

Deterministic and explainable: a verdict is computed from the item's own
``eligibility`` (``assistant.core.types.Eligibility``) and the profile, in
three-valued logic (``assistant.core.profile.evaluate``), and cites the item's
condition lines; nothing is guessed.  An item is

- **eligible** when every condition is met (and the conditions of one of its
  qualifying situations, if it has them);
- **not eligible** when a condition fails (or every situation fails);
- **possibly eligible** otherwise, naming what is missing: the questions not
  answered, and what only the office can check.

A question is worth asking only when some answer to it changes the verdict
on some item, for some answers to the questions still open (two facts may
only together settle an item: 稳岗补贴 needs full insurance *and* no
layoffs); of those, the one that can change the most verdicts comes first
(ties in the order of ``assistant.core.profile.FIELDS``).  When none is left,
every verdict is what it would be with all of them answered.  Fields of one group are asked together as
a checklist, which counts as one question.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Sequence

from assistant.core.profile import (
    FIELDS,
    ProfileField,
    band_label,
    describe,
    evaluate,
    field,
    fields_of,
    parse_span,
    span_text,
    value_text,
    with_value,
)
from assistant.core.types import (
    CheckupResult,
    CitedText,
    ConditionCheck,
    Criterion,
    Profile,
    ProfileAnswer,
    ProfileQuestion,
    Requirement,
    ServiceItem,
    Span,
    Verdict,
)

_ORDER = {f.key: n for n, f in enumerate(FIELDS)}


def cite(item: ServiceItem, words: str, situation: str = "") -> CitedText:
    """The line of ``item`` that contains ``words``: a condition of ``situation`` first
    (or its label), then the item's conditions, then its summary."""
    sit = item.situation(situation) if situation else None
    if sit is not None:
        for i, line in enumerate(sit.conditions):
            if words in line:
                en = sit.conditions_en[i] if i < len(sit.conditions_en) else ""
                return CitedText(f"situations.{sit.key}.conditions.{i}", line, en, sit.key, sit.label, sit.label_en)
        if words in sit.label:
            return CitedText(f"situations.{sit.key}.label", sit.label, sit.label_en, sit.key, sit.label, sit.label_en)
    for i, line in enumerate(item.conditions):
        if words in line:
            en = item.conditions_en[i] if i < len(item.conditions_en) else ""
            return CitedText(f"conditions.{i}", line, en)
    if words in item.summary:
        return CitedText("summary", item.summary, item.summary_en)
    # kb validate reports a citation that is not in the item; the words themselves stand in
    return CitedText("", words)


class CheckupEngine:
    """Verdicts for a profile over every item carrying ``eligibility``; an EligibilityChecker.

    Cheap to build (no loading); items without eligibility data are left out.
    """

    def __init__(self, items: Iterable[ServiceItem]) -> None:
        self.items: tuple[ServiceItem, ...] = tuple(i for i in items if i.eligibility is not None)
        self._answers: dict[str, tuple[ProfileAnswer, ...]] = {}
        #: relevance of open fields per item and what is known of it (small: one entry per state met)
        self._relevance: dict[tuple[object, ...], frozenset[str]] = {}

    def items_of(self, audience: str) -> tuple[ServiceItem, ...]:
        """The items checked for ``audience``, in knowledge-base order."""
        return tuple(i for i in self.items if i.eligibility is not None and i.eligibility.audience == audience)

    # ------------------------------------------------------------------ verdicts

    def assess(self, profile: Profile) -> CheckupResult:
        """The verdict on every item of the profile's audience."""
        return CheckupResult(profile.audience, tuple(self.verdict(i, profile) for i in self.items_of(profile.audience)))

    def verdict(self, item: ServiceItem, profile: Profile) -> Verdict:
        """The verdict on one item, with the checks that decide it."""
        rules = item.eligibility
        assert rules is not None, f"{item.id} has no eligibility data"
        main = [self._check(item, r, profile) for r in rules.requires if not r.procedure]
        procedures = [cite(item, r.cites) for r in rules.requires if r.procedure]
        routes = [
            (route.situation, [self._check(item, r, profile, route.situation) for r in route.requires if not r.procedure])
            for route in rules.routes
        ]
        main_out = _all(c.outcome for c in main)
        route_outs = [(key, _all(c.outcome for c in checks), checks) for key, checks in routes]
        route_out = _any(o for _, o, _ in route_outs) if routes else "met"
        chosen = next((key for key, o, _ in route_outs if o == "met"), "")
        for route in rules.routes:
            if not chosen or route.situation == chosen:
                procedures += [cite(item, r.cites, route.situation) for r in route.requires if r.procedure]
        if main_out == "unmet" or route_out == "unmet":
            reasons = [c for c in main if c.outcome == "unmet"]
            if route_out == "unmet":
                reasons += [c for _, _, checks in route_outs for c in checks if c.outcome == "unmet"]
            status = "ineligible"
        elif main_out == "met" and route_out == "met":
            reasons = list(main)
            if chosen:
                reasons += next(checks for key, _, checks in route_outs if key == chosen)
            status = "eligible"
        else:
            reasons = [c for c in main if c.outcome == "unknown"]
            if route_out == "unknown":
                reasons += [c for _, o, checks in route_outs if o == "unknown" for c in checks if c.outcome == "unknown"]
            status = "possible"
        checks = tuple(main) + tuple(c for _, checks in routes for c in checks)
        return Verdict(
            item_id=item.id,
            status=status,  # type: ignore[arg-type]
            reasons=tuple(reasons),
            checks=checks,
            route=chosen if status == "eligible" else "",
            automatic=rules.automatic,
            procedures=tuple(dict.fromkeys(procedures)),
        )

    def _check(self, item: ServiceItem, req: Requirement, profile: Profile, situation: str = "") -> ConditionCheck:
        cited = cite(item, req.cites, situation)
        if req.test is None:
            # kb validate rejects a condition with neither test nor procedure; if one slips
            # through, only the office can say
            return ConditionCheck(cited, "unknown", office=(req.cites,), office_en=(req.cites,))
        result = evaluate(req.test, profile)
        fields = req.test.fields()
        if result.outcome != "unknown":
            return ConditionCheck(cited, result.outcome, fields)
        return ConditionCheck(
            cited,
            "unknown",
            fields,
            missing=result.missing,
            office=tuple(o.office for o in result.office),
            office_en=tuple(o.office_en for o in result.office),
        )

    # ------------------------------------------------------------------ questions

    def answers(self, key: str) -> tuple[ProfileAnswer, ...]:
        """The answers a question about ``key`` offers: a choice field's choices; for a
        number field, the bands between the bounds the items test (so that every
        answer settles every test on it), and "none" where the field has it."""
        if key not in self._answers:
            f = field(key)
            if f.kind == "choice":
                out = tuple(ProfileAnswer(key, c.value, c.label, c.label_en) for c in f.choices)
            else:
                out = tuple(
                    ProfileAnswer(key, span_text(Span(low, high)), band_label(f, low, high), band_label(f, low, high, "en"))
                    for low, high in _bands(self._cuts(f))
                )
                if f.none is not None:
                    out = (ProfileAnswer(key, "none", f.none.label, f.none.label_en), *out)
            self._answers[key] = out
        return self._answers[key]

    def _cuts(self, f: ProfileField) -> tuple[int, ...]:
        """Where the tests on number field ``f`` split its range (a test ``min m`` at m, ``max m`` at m+1)."""
        cuts: set[int] = set()
        for item in self.items_of(f.audience):
            for leaf in _leaves(item):
                if leaf.field != f.key:
                    continue
                if leaf.min is not None:
                    cuts.add(leaf.min)
                if leaf.max is not None:
                    cuts.add(leaf.max + 1)
        return tuple(sorted(c for c in cuts if c > 0))

    def matters(self, profile: Profile, *, open_fields: Collection[str]) -> dict[str, tuple[str, ...]]:
        """``{field: items}`` for every field of ``open_fields`` (the questions still to come) whose
        answer changes the verdict on those items, for some answers to the other open fields.

        A field not in the map cannot change any verdict, whatever is answered
        later.  When no open field is in it, every verdict is what it would be
        with every open field answered: the check-up is done.
        """
        out: dict[str, list[str]] = {}
        for item in self.items_of(profile.audience):
            for key in self._relevant(item, profile, frozenset(open_fields)):
                out.setdefault(key, []).append(item.id)
        return {k: tuple(v) for k, v in out.items()}

    def _relevant(self, item: ServiceItem, profile: Profile, open_fields: frozenset[str]) -> frozenset[str]:
        """The open fields that matter to ``item``: tried over every combination of answers to
        the open fields it reads (at most a few hundred), the rest of ``profile`` fixed."""
        reads = self._reads(item)
        unknown = tuple(k for k in reads if k in open_fields and not profile.knows(k))
        if not unknown:
            return frozenset()
        known = tuple((k, self._band(profile, k)) for k in reads if profile.knows(k))
        declined_here = tuple(k for k in reads if k in profile.declined)
        cache_key = (item.id, known, declined_here, unknown)
        hit = self._relevance.get(cache_key)
        if hit is not None:
            return hit
        table: dict[tuple[str, ...], str] = {}
        for combo in itertools.product(*(self.answers(k) for k in unknown)):
            p = profile
            for a in combo:
                p = with_value(p, a.field, a.value)
            table[tuple(a.value for a in combo)] = self.verdict(item, p).status
        relevant = set()
        for n, key in enumerate(unknown):
            seen: dict[tuple[str, ...], str] = {}
            for values, status in table.items():
                rest = values[:n] + values[n + 1 :]
                if seen.setdefault(rest, status) != status:
                    relevant.add(key)
                    break
        result = frozenset(relevant)
        if len(self._relevance) > 100_000:
            self._relevance.clear()  # a safety bound; the states met in practice are few
        self._relevance[cache_key] = result
        return result

    def _band(self, profile: Profile, key: str) -> str:
        """The answer ``profile`` holds for ``key``; an exact number as the band that holds it
        (every test treats a band alike), so the relevance cache stays small."""
        span = profile.numbers.get(key)
        if span is None or span.none:
            return value_text(profile, key)
        for a in self.answers(key):
            band = parse_span(a.value)
            if not band.none and band.low <= span.low and (
                band.high is None or (span.high is not None and span.high <= band.high)
            ):
                return a.value
        return value_text(profile, key)

    def _reads(self, item: ServiceItem) -> tuple[str, ...]:
        """The profile fields ``item``'s conditions read, in catalog order."""
        found = {leaf.field for leaf in _leaves(item) if leaf.field}
        return tuple(f.key for f in FIELDS if f.key in found)

    def open_fields(self, profile: Profile, *, asked: Sequence[str] = ()) -> tuple[str, ...]:
        """The fields of the profile's audience that may still be asked: not answered,
        declined or ``asked`` already."""
        done = set(asked) | set(profile.declined) | set(profile.answered())
        return tuple(f.key for f in fields_of(profile.audience) if f.key not in done)

    def questions(self, profile: Profile, *, asked: Sequence[str] = ()) -> list[ProfileQuestion]:
        """Every question still worth asking, most decisive first.

        A field is worth asking when some answer to it changes some verdict, for
        some answers to the questions still open (:meth:`matters`); the more
        items it can change, the earlier (ties in catalog order).  The fields of
        a group that remain form one checklist question, scored by its most
        decisive field.
        """
        matters = self.matters(profile, open_fields=self.open_fields(profile, asked=asked))
        scored: dict[str, tuple[int, int, list[tuple[ProfileField, tuple[str, ...]]]]] = {}
        for f in fields_of(profile.audience):
            items = matters.get(f.key)
            if not items:
                continue
            key = f.group or f.key
            score, order, members = scored.get(key, (0, _ORDER[f.key], []))
            scored[key] = (max(score, len(items)), order, [*members, (f, items)])
        ranked = sorted(scored.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
        return [self._question(key, members) for key, (_, _, members) in ranked]

    def next_question(self, profile: Profile, *, asked: Sequence[str] = ()) -> ProfileQuestion | None:
        """The most decisive question still worth asking, or None: the check-up is done."""
        ranked = self.questions(profile, asked=asked)
        return ranked[0] if ranked else None

    def question_for(self, profile: Profile, fields: Sequence[str]) -> ProfileQuestion:
        """The question about ``fields`` (one field, or the rows of one checklist) as it
        is asked for ``profile``: how the reply to a pending question is read."""
        matters = self.matters(profile, open_fields=(*fields, *self.open_fields(profile)))
        members = [(field(k), matters.get(k, ())) for k in fields]
        key = members[0][0].group or members[0][0].key
        return self._question(key, members)

    def _question(self, key: str, members: list[tuple[ProfileField, tuple[str, ...]]]) -> ProfileQuestion:
        settles = tuple(dict.fromkeys(i for _, s in members for i in s))
        first = members[0][0]
        if not first.group:
            return ProfileQuestion(key, (first.key,), self.answers(first.key), settles)
        rows = tuple(ProfileAnswer(f.key, t.value, t.label, t.label_en) for f, _ in members for t in f.ticks)
        unticked = tuple(
            ProfileAnswer(f.key, f.unticked, *_labels(f, f.unticked)) for f, _ in members
        )
        return ProfileQuestion(key, tuple(f.key for f, _ in members), rows, settles, checklist=True, unticked=unticked)


def _labels(f: ProfileField, value: str) -> tuple[str, str]:
    return describe(f.key, value), describe(f.key, value, "en")


def _bands(cuts: Sequence[int]) -> list[tuple[int, int | None]]:
    """``[0, c1-1], [c1, c2-1], …, [ck, ∞)``; one band (never worth asking) without cuts."""
    bounds = [0, *cuts]
    return [(lo, (bounds[n + 1] - 1) if n + 1 < len(bounds) else None) for n, lo in enumerate(bounds)]


def _leaves(item: ServiceItem) -> list[Criterion]:
    rules = item.eligibility
    if rules is None:
        return []
    reqs = [*rules.requires, *(r for route in rules.routes for r in route.requires)]
    return [leaf for r in reqs if r.test is not None for leaf in r.test.leaves()]


def _all(outcomes: Iterable[str]) -> str:
    seen = set(outcomes)
    return "unmet" if "unmet" in seen else "unknown" if "unknown" in seen else "met"


def _any(outcomes: Iterable[str]) -> str:
    seen = set(outcomes)
    return "met" if "met" in seen else "unknown" if "unknown" in seen else "unmet"
