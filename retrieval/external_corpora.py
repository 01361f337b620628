"""External corpora as service items: question-answer corpora and service guides.

A corpus (``shared/benchmark-format.md``, "External question-answer corpora")
is JSON Lines, one entry a line::

    {"id": "faq-0001", "answer": "...", "question": "optional", "title": "optional", "department": "optional"}

Each entry becomes a published :class:`ServiceItem` so the same retriever,
benchmark and evaluation runner work on it as on the Shanghai knowledge base.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from assistant.core.errors import KnowledgeBaseError
from assistant.core.types import FAQ, Location, Material, OnlineChannel, ServiceItem

#: The longest item name taken from the first sentence of an answer.
_NAME_CHARS = 40
_SENTENCE_END = re.compile(r"[。！？!?；;\n]")


def first_sentence(text: str, limit: int = _NAME_CHARS) -> str:
    """The first sentence of ``text`` (at most ``limit`` characters), for a name."""
    text = text.strip()
    m = _SENTENCE_END.search(text)
    head = text[: m.start()] if m and m.start() > 0 else text
    return head[:limit].strip() or text[:limit]


def json_lines(path: Path, problems: list[str], *, comments: bool) -> Iterator[tuple[int, object]]:
    """``(line number, value)`` of each non-blank line of a JSON Lines file.

    A line that is not JSON is recorded in ``problems`` (``line N: invalid
    JSON (…)``) and skipped, so a reader can list every bad line at once;
    with ``comments`` lines starting with ``#`` are skipped too.
    """
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            line = line.strip()
            if not line or (comments and line.startswith("#")):
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"line {n}: invalid JSON ({e.msg})")


def read_corpus(path: Path) -> list[dict[str, str]]:
    """The entries of a corpus file, validated; blank and ``#`` lines are skipped.

    Raises KnowledgeBaseError listing every bad line (line number and reason),
    so a corpus is never half-loaded silently.
    """
    if not path.is_file():
        raise KnowledgeBaseError(f"corpus file {str(path)!r} not found; pass an existing JSONL corpus")
    entries: list[dict[str, str]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for n, raw in json_lines(path, problems, comments=True):
        if not isinstance(raw, dict):
            problems.append(f"line {n}: must be a JSON object")
            continue
        cid = str(raw.get("id") or "").strip()
        answer = str(raw.get("answer") or "").strip()
        if not cid or not answer:
            problems.append(f"line {n}: 'id' and 'answer' are required and non-empty")
            continue
        if cid in seen:
            problems.append(f"line {n}: duplicate id {cid!r}")
            continue
        seen.add(cid)
        entries.append(
            {
                "id": cid,
                "answer": answer,
                "question": str(raw.get("question") or "").strip(),
                "title": str(raw.get("title") or "").strip(),
                "department": str(raw.get("department") or "").strip(),
            }
        )
    if problems:
        listing = "; ".join(problems[:20])
        raise KnowledgeBaseError(
            f"{len(problems)} bad line(s) in corpus {path}: {listing}; fix them (format: shared/benchmark-format.md)"
        )
    if not entries:
        raise KnowledgeBaseError(f"corpus {path} has no entry; it needs lines with 'id' and 'answer'")
    return entries


def corpus_items(path: Path | str, *, with_questions: bool = False) -> list[ServiceItem]:
    """Read a question-answer corpus as published service items.

    The item's ``summary`` is the answer; its ``name`` is the title, else the
    first sentence of the answer; ``department`` and ``domain`` come from the
    entry's department.  The entry's own ``question`` is left out by default,
    because benchmarks built from the same file (govqa_dev) ask exactly those
    questions and would otherwise measure string equality, not retrieval;
    pass ``with_questions=True`` to index a deployment's standard questions
    (as the name when there is no title, and as an FAQ).
    """
    path = Path(path)
    entries = read_corpus(path)
    # the corpus has no dates; its file date is the honest "updated"
    updated = date.fromtimestamp(path.stat().st_mtime)
    items: list[ServiceItem] = []
    for e in entries:
        question = e["question"] if with_questions else ""
        name = e["title"] or question or first_sentence(e["answer"])
        department = e["department"] or "未注明部门"
        items.append(
            ServiceItem(
                id=e["id"],
                kind="item",
                name=name,
                domain=department,
                department=department,
                summary=e["answer"],
                updated=updated,
                status="published",
                faqs=(FAQ(question=question, answer=e["answer"]),) if question else (),
            )
        )
    return items


# ---------------------------------------------------------------------- service guides (办事指南)

#: Placeholder of a guide without a counter (no in-person place to apply).
_NO_COUNTER = "无线下办理窗口"
_DAYS_RE = re.compile(r"^\s*(\d+)\s*[(（]\s*(工作日|自然日|天|日)\s*[)）]\s*$")
_PHONE_PREFIX_RE = re.compile(r"^\s*(咨询)?电话[:：]\s*")
_GUIDE_REQUIRED = ("TASK_NAME", "DEPT_NAME")


def guide_id(guide: dict[str, object]) -> str:
    """A stable id for a guide: ``gd-`` + sha1 of (area, department, name), which is unique in the file.

    The file carries no id of its own (its URLs repeat and are sometimes
    missing), and a content key survives reordering of the file.
    """
    key = "\x00".join(str(guide.get(k) or "").strip() for k in ("AREA_CODE_TEXT", "DEPT_NAME", "TASK_NAME"))
    return "gd-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]


def _days(raw: object) -> str:
    """``30(工作日)`` -> ``30个工作日``; any other text is kept as written."""
    text = str(raw or "").strip()
    m = _DAYS_RE.match(text)
    if not m:
        return text
    unit = "个工作日" if m.group(2) == "工作日" else "天"
    return f"{m.group(1)}{unit}"


def _strs(raw: object) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw.strip()] if raw.strip() else []
    return [str(x).strip() for x in raw if str(x).strip()]  # type: ignore[union-attr]


def guide_item(guide: dict[str, object], *, updated: date) -> ServiceItem:
    """One Guangdong service guide as a published ServiceItem.

    Field mapping: TASK_NAME -> name; DEPT_NAME -> department; theme_category
    -> domain; accept_standard -> conditions; material_intro -> materials;
    handle_location -> a location with the consult phone; handle_time (legal)
    and handle_time_limit (promised) -> time_limit; consult_phone -> phone;
    bear_paltform, URL and online_book -> online channel; matter_type, level,
    service objects and the complaint phone -> summary (the guide has no
    prose summary, so the summary states these facts in one sentence).
    """
    name = str(guide["TASK_NAME"]).strip()
    dept = str(guide["DEPT_NAME"]).strip()
    themes = _strs(guide.get("theme_category"))
    objects = _strs(guide.get("service_object_name"))
    matter = str(guide.get("matter_type") or "").strip()
    level = str(guide.get("matter_level") or guide.get("district") or "").strip()
    area = str(guide.get("AREA_CODE_TEXT") or "").strip()
    phone = _PHONE_PREFIX_RE.sub("", str(guide.get("consult_phone") or "")).strip()
    complain = str(guide.get("complain_phone") or "").strip()
    # 广东省 + 广东省教育厅 would read twice: name the area only when the department does not
    where = "" if dept.startswith(area.removeprefix("广东省") or area) else area
    summary_parts = [f"{where}{dept}办理的{level}{matter or '政务服务'}事项"]
    if objects:
        summary_parts.append("服务对象：" + "、".join(objects))
    if themes:
        summary_parts.append("主题：" + "、".join(themes))
    if complain:
        summary_parts.append(f"投诉电话：{complain}")
    location_text = str(guide.get("handle_location") or "").strip()
    place = re.sub(r"^办理地点[:：]\s*", "", location_text)
    locations: tuple[Location, ...] = ()
    if place and place != _NO_COUNTER:
        locations = (Location(name=place, phone=phone),)
    legal, promised = _days(guide.get("handle_time")), _days(guide.get("handle_time_limit"))
    limits = [f"法定办结时限：{legal}" if legal else "", f"承诺办结时限：{promised}" if promised else ""]
    platform = str(guide.get("bear_paltform") or "").strip()
    url = str(guide.get("URL") or "").strip()
    booking = str(guide.get("online_book") or "").strip()
    notes = [f"办理平台：{platform}" if platform else "", f"网上预约：{booking}" if booking else ""]
    if place == _NO_COUNTER:
        notes.append(_NO_COUNTER)
    online = OnlineChannel(available=bool(platform or url), web=url, note="；".join(n for n in notes if n))
    return ServiceItem(
        id=guide_id(guide),
        kind="item",
        name=name,
        domain=themes[0] if themes else (matter or dept),
        department=dept,
        summary="；".join(summary_parts) + "。",
        updated=updated,
        status="published",
        conditions=tuple(_strs(guide.get("accept_standard"))),
        materials=tuple(Material(name=m) for m in _strs(guide.get("material_intro"))),
        time_limit="；".join(x for x in limits if x),
        locations=locations,
        online=online,
        phone=phone,
    )


def guide_items(path: Path | str) -> list[ServiceItem]:
    """Read a service-guide JSONL file (Guangdong 办事指南 format) as published service items.

    Raises KnowledgeBaseError listing every bad line (invalid JSON, missing
    TASK_NAME or DEPT_NAME, a guide repeated with the same area, department
    and name), so a file is never half-loaded silently.
    """
    path = Path(path)
    if not path.is_file():
        raise KnowledgeBaseError(f"service-guide file {str(path)!r} not found; pass an existing JSONL file")
    updated = date.fromtimestamp(path.stat().st_mtime)
    items: list[ServiceItem] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for n, raw in json_lines(path, problems, comments=False):
        if not isinstance(raw, dict) or any(not str(raw.get(k) or "").strip() for k in _GUIDE_REQUIRED):
            problems.append(f"line {n}: needs non-empty {' and '.join(_GUIDE_REQUIRED)}")
            continue
        gid = guide_id(raw)
        if gid in seen:
            problems.append(f"line {n}: repeats line {seen[gid]} (same area, department and name)")
            continue
        seen[gid] = n
        items.append(guide_item(raw, updated=updated))
    if problems:
        raise KnowledgeBaseError(
            f"{len(problems)} bad line(s) in service-guide file {path}: {'; '.join(problems[:20])}; fix or remove them"
        )
    if not items:
        raise KnowledgeBaseError(f"service-guide file {path} has no guide; it needs lines with TASK_NAME and DEPT_NAME")
    return items
