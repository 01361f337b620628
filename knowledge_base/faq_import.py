"""Import question-answer collections (JSONL, CSV, XLSX) as FAQ entries.

Two destinations:

- attached to an item: appended to the item file's ``faqs:`` (with a history
  entry and ``updated`` set to today), see :func:`attach_to_item`;
- a separate collection in the corpus format of ``shared/benchmark-format.md``
  (JSON Lines ``{"id", "answer", "question", "title", "department"}``), under
  ``knowledge_base/faq/<name>.jsonl`` by default, see :func:`write_collection`;
  ``xiaoshen eval run --faq-corpus`` and the retrieval benchmark read that.

Columns are mapped with ``question=Q,answer=A,id=…,title=…,department=…``;
unmapped fields are looked up under their own name and common Chinese headers
(问题, 答案, 标题, 部门 …).  Bad rows are reported with their line (JSONL,
CSV) or sheet row (XLSX) number and skipped; good rows still import.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from assistant.core.errors import InvalidInput
from knowledge_base.lifecycle import item_path, load_one, record_change
from knowledge_base.loader import Problem, service_today

Format = Literal["jsonl", "csv", "xlsx"]
FORMATS: tuple[str, ...] = ("jsonl", "csv", "xlsx")
FIELDS: tuple[str, ...] = ("id", "question", "answer", "title", "department")

#: Header names recognised when a field is not mapped explicitly (lower-cased).
DEFAULT_HEADERS: Mapping[str, tuple[str, ...]] = {
    "id": ("id", "编号", "序号"),
    "question": ("question", "q", "问题", "标准问题", "提问"),
    "answer": ("answer", "a", "答案", "回答", "答复", "官方答复"),
    "title": ("title", "标题", "事项", "事项名称"),
    "department": ("department", "dept", "部门", "办理部门", "答复部门"),
}

_SUFFIX_FORMAT = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".xlsx": "xlsx"}
_COLLECTION_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class FaqRow:
    """One good row of an imported collection."""

    line: int
    question: str
    answer: str
    id: str = ""
    title: str = ""
    department: str = ""


@dataclass(frozen=True)
class BadRow:
    """A row that was not imported, and why; ``line`` is the file line or sheet row."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class ReadResult:
    """Rows read from a file: the good ones and the bad ones."""

    rows: tuple[FaqRow, ...]
    bad: tuple[BadRow, ...]


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote."""

    destination: Path
    added: int
    replaced: int
    skipped: tuple[BadRow, ...] = ()


def parse_mapping(spec: str | None) -> dict[str, str]:
    """``question=Q,answer=A`` -> {"question": "Q", "answer": "A"}; rejects unknown fields."""
    if not spec:
        return {}
    out: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InvalidInput(f"--map entry {part!r} needs the form field=COLUMN (e.g. question=问题)")
        field, column = (x.strip() for x in part.split("=", 1))
        if field not in FIELDS:
            raise InvalidInput(f"--map field {field!r} is unknown; use {', '.join(FIELDS)}")
        if not column:
            raise InvalidInput(f"--map field {field!r} has no column name")
        out[field] = column
    return out


def detect_format(path: Path, fmt: str | None) -> Format:
    """The format given, or the one the file suffix says."""
    if fmt:
        if fmt not in FORMATS:
            raise InvalidInput(f"--format {fmt!r} is unknown; use {', '.join(FORMATS)}")
        return fmt  # type: ignore[return-value]
    guessed = _SUFFIX_FORMAT.get(path.suffix.lower())
    if guessed is None:
        raise InvalidInput(f"cannot tell the format of {path.name!r} from its suffix; pass --format jsonl|csv|xlsx")
    return guessed  # type: ignore[return-value]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # spreadsheet ids like 12.0
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value).strip()


def _resolve_columns(headers: Sequence[str], mapping: Mapping[str, str], where: str) -> dict[str, str]:
    """field -> actual header for a table; explicit mappings must exist."""
    present = {h.strip(): h for h in headers if h is not None}
    lowered = {h.strip().lower(): h for h in headers if h is not None}
    out: dict[str, str] = {}
    for field, column in mapping.items():
        if column.strip() not in present:
            raise InvalidInput(
                f"--map {field}={column}: no column {column!r} in {where}; columns are {', '.join(map(str, present)) or 'none'}"
            )
        out[field] = present[column.strip()]
    for field in FIELDS:
        if field in out:
            continue
        for name in DEFAULT_HEADERS[field]:
            if name in lowered:
                out[field] = lowered[name]
                break
    if "answer" not in out:
        raise InvalidInput(
            f"no answer column in {where} (columns: {', '.join(map(str, present)) or 'none'}); pass --map answer=COLUMN"
        )
    return out


def _row(line: int, record: Mapping[str, object], columns: Mapping[str, str]) -> FaqRow | BadRow:
    values = {f: _cell(record.get(c)) for f, c in columns.items()}
    if not values.get("answer"):
        return BadRow(line, f"missing or empty answer (column {columns.get('answer', 'answer')!r})")
    return FaqRow(
        line=line,
        question=values.get("question", ""),
        answer=values["answer"],
        id=values.get("id", ""),
        title=values.get("title", ""),
        department=values.get("department", ""),
    )


def _read_jsonl(path: Path, mapping: Mapping[str, str], encoding: str) -> Iterator[FaqRow | BadRow]:
    with path.open(encoding=encoding) as f:
        for line_no, line in enumerate(f, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as e:
                yield BadRow(line_no, f"invalid JSON ({e.msg} at column {e.colno})")
                continue
            if not isinstance(record, dict):
                yield BadRow(line_no, "a line must hold one JSON object")
                continue
            columns = {f: mapping.get(f, f) for f in FIELDS}
            for field in FIELDS:
                if field not in mapping and field not in record:
                    found = next((h for h in DEFAULT_HEADERS[field] if h in record), None)
                    if found:
                        columns[field] = found
            bad_type = [c for c in columns.values() if isinstance(record.get(c), (dict, list))]
            if bad_type:
                yield BadRow(line_no, f"field {bad_type[0]!r} must be text, not {type(record[bad_type[0]]).__name__}")
                continue
            yield _row(line_no, record, columns)


def _read_csv(path: Path, mapping: Mapping[str, str], encoding: str) -> Iterator[FaqRow | BadRow]:
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as e:
        raise InvalidInput(
            f"{path.name} is not {encoding} (byte {e.start}); pass --encoding gbk or save it as UTF-8"
        ) from e
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        headers = next(reader)
    except StopIteration:
        return
    columns = _resolve_columns(headers, mapping, path.name)
    index = {h: i for i, h in enumerate(headers)}
    start = reader.line_num + 1
    for cells in reader:
        line_no, start = start, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(headers):
            yield BadRow(line_no, f"{len(cells)} cells but the header has {len(headers)}; check quoting and commas")
            continue
        record = {h: cells[i] for h, i in index.items()}
        yield _row(line_no, record, columns)


def _read_xlsx(path: Path, mapping: Mapping[str, str], sheet: str | None) -> Iterator[FaqRow | BadRow]:
    try:
        import openpyxl
    except ImportError as e:  # pragma: no cover - openpyxl is a dependency
        raise InvalidInput("reading XLSX needs openpyxl: pip install 'openpyxl>=3.1'") from e
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises several unrelated types for a bad file
        raise InvalidInput(f"{path.name} is not a readable XLSX workbook ({e})") from e
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise InvalidInput(f"no sheet {sheet!r} in {path.name}; sheets are {', '.join(book.sheetnames)}")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        try:
            header_cells = next(rows)
        except StopIteration:
            return
        headers = [_cell(h) for h in header_cells]
        columns = _resolve_columns(headers, mapping, f"{path.name} sheet {ws.title!r}")
        index = {h: i for i, h in enumerate(headers) if h}
        for row_no, cells in enumerate(rows, start=2):
            if all(_cell(c) == "" for c in cells):
                continue
            record = {h: (cells[i] if i < len(cells) else None) for h, i in index.items()}
            yield _row(row_no, record, columns)
    finally:
        book.close()


def read_rows(
    path: Path,
    *,
    fmt: str | None = None,
    mapping: Mapping[str, str] | None = None,
    encoding: str = "utf-8-sig",
    sheet: str | None = None,
) -> ReadResult:
    """Read a question-answer file; every bad row is reported, never raised.

    Raises InvalidInput only for problems of the whole file (unreadable, no
    answer column, a mapped column that does not exist).  Rows repeating an
    earlier id are bad rows.
    """
    if not path.is_file():
        raise InvalidInput(f"file {str(path)!r} does not exist")
    kind = detect_format(path, fmt)
    mapping = dict(mapping or {})
    if kind == "jsonl":
        try:
            produced = list(_read_jsonl(path, mapping, encoding))
        except UnicodeDecodeError as e:
            raise InvalidInput(f"{path.name} is not {encoding}; pass --encoding or save it as UTF-8") from e
    elif kind == "csv":
        produced = list(_read_csv(path, mapping, encoding))
    else:
        produced = list(_read_xlsx(path, mapping, sheet))
    rows: list[FaqRow] = []
    bad: list[BadRow] = []
    seen: dict[str, int] = {}
    for r in produced:
        if isinstance(r, BadRow):
            bad.append(r)
        elif r.id and r.id in seen:
            bad.append(BadRow(r.line, f"id {r.id!r} repeats line {seen[r.id]}"))
        else:
            if r.id:
                seen[r.id] = r.line
            rows.append(r)
    return ReadResult(tuple(rows), tuple(bad))


def _is_english(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and sum(ch.isascii() for ch in letters) / len(letters) > 0.7


def attach_to_item(
    kb_dir: Path,
    item_id: str,
    rows: Sequence[FaqRow],
    *,
    by: str,
    source: str,
    today: date | None = None,
    at: datetime | None = None,
) -> ImportResult:
    """Append ``rows`` to the item's ``faqs:``; rows without a question or whose
    question the item already has are skipped (returned in ``skipped``).

    One history entry records the import; ``updated`` becomes today because
    the item's content changed.
    """
    path = item_path(kb_dir, item_id)
    item = load_one(kb_dir, item_id)
    existing = {f.question.strip() for f in item.faqs}
    entries: list[dict[str, object]] = []
    skipped: list[BadRow] = []
    for r in rows:
        if not r.question:
            skipped.append(BadRow(r.line, "no question; an item FAQ needs one"))
            continue
        if r.question in existing:
            skipped.append(BadRow(r.line, f"the item already has the question {r.question!r}"))
            continue
        existing.add(r.question)
        entry: dict[str, object] = {"question": r.question, "answer": r.answer}
        if _is_english(r.question + r.answer):
            entry["lang"] = "en"
        entries.append(entry)
    if entries:
        record_change(
            path,
            by=by,
            change=f"imported {len(entries)} FAQ(s) from {source}",
            at=at,
            scalars={"updated": today or service_today()},
            append={"faqs": entries},
        )
        load_one(kb_dir, item_id)  # the schema must still accept the item
    return ImportResult(path, len(entries), 0, tuple(skipped))


def collection_id(name: str, row: FaqRow) -> str:
    """A stable id for a row without one: the collection name plus a content hash."""
    digest = hashlib.sha1(f"{row.question}\n{row.answer}".encode("utf-8")).hexdigest()[:10]
    return f"{name}-{digest}"


def check_collection_name(name: str) -> str:
    """Collection names become file names: lower-case letters, digits, '-' and '_'."""
    if not _COLLECTION_NAME.match(name):
        raise InvalidInput(
            f"collection name {name!r} must be lower-case letters, digits, '-' or '_' (e.g. hotline-2026)"
        )
    return name


def write_collection(path: Path, name: str, rows: Sequence[FaqRow]) -> ImportResult:
    """Merge ``rows`` into the corpus-format JSONL at ``path`` (created if absent).

    Entries are keyed by id: a row with an existing id replaces that entry in
    place, new ids are appended, so re-importing a file is idempotent.
    ``#`` comment lines of an existing file are kept at its top.
    """
    entries: dict[str, dict[str, str]] = {}
    # comment lines (allowed by the corpus format) are kept, at the top
    comments: list[str] = []
    if path.exists():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            if line.lstrip().startswith("#"):
                comments.append(line.rstrip() + "\n")
                continue
            try:
                record = json.loads(line)
                entries[str(record["id"])] = record
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise InvalidInput(
                    f"existing collection {path} line {n} is not a corpus entry ({e}); fix or remove the file"
                ) from e
    added = replaced = 0
    for r in rows:
        rid = r.id or collection_id(name, r)
        record = {"id": rid, "answer": r.answer, "question": r.question, "title": r.title, "department": r.department}
        if rid in entries:
            replaced += entries[rid] != record
        else:
            added += 1
        entries[rid] = record
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(comments) + "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries.values())
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return ImportResult(path, added, replaced)


def check_collection(path: Path) -> list[Problem]:
    """Problems of a corpus-format collection file: each line one JSON object with a
    non-empty ``id`` and ``answer``, text fields only, ids unique."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        return [Problem(path.name, "-", f"cannot read the collection: {e}")]
    for n, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        where = f"line {n}"
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            problems.append(Problem(path.name, where, f"invalid JSON ({e.msg})"))
            continue
        if not isinstance(record, dict):
            problems.append(Problem(path.name, where, "must be one JSON object"))
            continue
        unknown = sorted(set(record) - set(FIELDS))
        if unknown:
            problems.append(Problem(path.name, where, f"unknown key(s) {unknown}; corpus keys are {', '.join(FIELDS)}"))
        if any(not isinstance(record.get(k, ""), str) for k in FIELDS):
            problems.append(Problem(path.name, where, "every value must be a string"))
            continue
        rid, answer = record.get("id", "").strip(), record.get("answer", "").strip()
        if not rid or not answer:
            problems.append(Problem(path.name, where, "'id' and 'answer' are required and non-empty"))
            continue
        if rid in seen:
            problems.append(Problem(path.name, where, f"duplicate id {rid!r}, first on line {seen[rid]}"))
        seen.setdefault(rid, n)
    return problems
