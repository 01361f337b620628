"""Targeted edits of item YAML files that keep comments, order and layout.

Item files are written by people; rewriting them through ``yaml.safe_dump``
would drop their comments and reorder keys.  ruamel.yaml is not a dependency,
so the few edits the lifecycle and FAQ-import commands need are done on the
text, on top-level keys only:

- :func:`set_scalar` sets ``key: value`` (replacing it in place or inserting it
  after an anchor key);
- :func:`append_to_list` appends block-list entries to ``key:``.

Every edit is checked by :func:`apply_edit`: the new text must parse, and its
data must equal the old data with exactly the intended change applied; else
nothing is written.  The file is replaced atomically.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from assistant.core.errors import KnowledgeBaseError
from knowledge_base.loader import load_yaml

_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):(?:[ \t]+(.*?))?[ \t]*$")


def scalar(value: object) -> str:
    """``value`` as a one-line YAML scalar (quoted only when YAML needs it)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if value is None:
        return "null"
    if isinstance(value, str) and any(ch < " " or ch == "\x7f" for ch in value):
        # a JSON string is a valid YAML double-quoted scalar and keeps newlines on one line
        return json.dumps(value, ensure_ascii=False)
    text = yaml.safe_dump(
        value, allow_unicode=True, default_flow_style=True, width=2**31 - 1, explicit_end=False
    ).rstrip("\n")
    # safe_dump ends a bare scalar document with "..." on its own line
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    if "\n" in text:
        raise KnowledgeBaseError(f"cannot write {value!r} on one YAML line")
    return text


def _key_spans(lines: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Top-level key -> (first line, end line exclusive) of its block.

    A block ends at the next top-level key; trailing blank and comment lines
    at column 0 belong to what follows, not to the block.
    """
    starts: list[tuple[str, int]] = []
    for i, line in enumerate(lines):
        m = _TOP_KEY.match(line)
        if m and not line.startswith((" ", "\t", "#", "-")):
            starts.append((m.group(1), i))
    spans: dict[str, tuple[int, int]] = {}
    for n, (key, start) in enumerate(starts):
        end = starts[n + 1][1] if n + 1 < len(starts) else len(lines)
        while end - 1 > start and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
            end -= 1
        if key in spans:
            raise KnowledgeBaseError(f"key {key!r} appears twice at the top level; keep one")
        spans[key] = (start, end)
    return spans


def _inline_value(line: str) -> str:
    m = _TOP_KEY.match(line)
    return (m.group(2) or "") if m else ""


def _strip_comment(value: str) -> tuple[str, str]:
    """Split ``value  # comment`` (outside quotes) into value and comment."""
    quote = ""
    for i, ch in enumerate(value):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or value[i - 1] in " \t"):
            return value[:i].rstrip(), value[i:]
    return value, ""


def set_scalar(text: str, key: str, value: object, *, after: Sequence[str] = ()) -> str:
    """Set top-level ``key`` to the scalar ``value``.

    An existing one-line ``key: old  # comment`` keeps its comment; a missing
    key is inserted after the first present key of ``after`` (else at the end).
    """
    lines = text.splitlines()
    spans = _key_spans(lines)
    rendered = scalar(value)
    if key in spans:
        start, end = spans[key]
        body = [ln for ln in lines[start + 1 : end] if ln.strip() and not ln.lstrip().startswith("#")]
        if body:
            raise KnowledgeBaseError(
                f"{key!r} holds a block value; edit it by hand or write it as one line 'key: value'"
            )
        old, comment = _strip_comment(_inline_value(lines[start]))
        if old.startswith(("|", ">")):
            raise KnowledgeBaseError(f"{key!r} is a block scalar; write it as one line 'key: value'")
        lines[start] = f"{key}: {rendered}" + (f"  {comment}" if comment else "")
    else:
        at = len(lines)
        for anchor in after:
            if anchor in spans:
                at = spans[anchor][1]
                break
        lines.insert(at, f"{key}: {rendered}")
    return "\n".join(lines) + "\n"


def _entry_lines(entry: Mapping[str, object], indent: str) -> list[str]:
    out: list[str] = []
    for n, (k, v) in enumerate(entry.items()):
        prefix = f"{indent}- " if n == 0 else f"{indent}  "
        out.append(f"{prefix}{k}: {scalar(v)}")
    return out


def append_to_list(
    text: str, key: str, entries: Sequence[Mapping[str, object]], *, after: Sequence[str] = ()
) -> str:
    """Append mapping ``entries`` to the top-level block list ``key``.

    Keeps the list's own indentation; ``key: []`` or a missing key becomes a
    block list (a missing key is inserted after the first present key of
    ``after``, else at the end).  A non-empty flow list (``[a, b]``) is refused.
    """
    if not entries:
        return text
    lines = text.splitlines()
    spans = _key_spans(lines)
    if key not in spans:
        at = len(lines)
        for anchor in after:
            if anchor in spans:
                at = spans[anchor][1]
                break
        new = [f"{key}:", *(ln for e in entries for ln in _entry_lines(e, "  "))]
        lines[at:at] = new
        return "\n".join(lines) + "\n"
    start, end = spans[key]
    inline, comment = _strip_comment(_inline_value(lines[start]))
    body = lines[start + 1 : end]
    items = [ln for ln in body if ln.strip() and not ln.lstrip().startswith("#")]
    if inline and inline not in ("[]", "~", "null"):
        raise KnowledgeBaseError(
            f"{key!r} is written inline ({inline!r}); rewrite it as a block list ('- ...' lines) to append"
        )
    if inline or not items:
        lines[start] = f"{key}:" + (f"  {comment}" if comment else "")
        indent = "  "
        insert_at = start + 1
    else:
        first = items[0]
        stripped = first.lstrip(" ")
        if not stripped.startswith("- ") and stripped != "-":
            raise KnowledgeBaseError(f"{key!r} is not a block list; cannot append to it")
        indent = first[: len(first) - len(stripped)]
        insert_at = end
    lines[insert_at:insert_at] = [ln for e in entries for ln in _entry_lines(e, indent)]
    return "\n".join(lines) + "\n"


def apply_edit(
    path: Path,
    edit: Callable[[str], str],
    expect: Callable[[dict[str, Any]], dict[str, Any]],
) -> str:
    """Edit the file at ``path`` with ``edit``, after checking the result.

    ``expect`` receives the old parsed data and returns the data the new text
    must parse to; on any difference nothing is written and KnowledgeBaseError
    says so (the edit would have changed something else).  Returns the new text.
    """
    old_text = path.read_text(encoding="utf-8")
    try:
        old_data = load_yaml(old_text)
    except yaml.YAMLError as e:
        raise KnowledgeBaseError(f"{path.name} is not valid YAML ({e}); fix it before editing") from e
    if not isinstance(old_data, dict):
        raise KnowledgeBaseError(f"{path.name} must hold one mapping of fields")
    new_text = edit(old_text)
    try:
        new_data = load_yaml(new_text)
    except yaml.YAMLError as e:
        raise KnowledgeBaseError(f"editing {path.name} would break its YAML ({e}); nothing written") from e
    wanted = expect(dict(old_data))
    if new_data != wanted:
        changed = sorted(
            k for k in set(new_data or {}) | set(wanted) if (new_data or {}).get(k) != wanted.get(k)
        )
        raise KnowledgeBaseError(
            f"editing {path.name} would change {changed} unexpectedly; nothing written — edit it by hand"
        )
    # write beside the file and rename, so a crash never leaves half a file
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new_text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return new_text


def block(key: str, value: object) -> list[str]:
    """``key: value`` as YAML lines: a one-line scalar, or a block list or mapping."""
    if value is None or isinstance(value, (str, int, float, bool, date, datetime)):
        return [f"{key}: {scalar(value)}"]
    if isinstance(value, (list, tuple)) and not value:
        return [f"{key}: []"]
    dumped = yaml.safe_dump(
        {key: value}, allow_unicode=True, sort_keys=False, default_flow_style=False, width=2**31 - 1
    )
    return dumped.rstrip("\n").splitlines()


def replace_block(text: str, key: str, value: object, *, after: Sequence[str] = ()) -> str:
    """Set top-level ``key`` to any value (scalar, list or mapping), replacing its whole block.

    The lines of other keys, and comments between blocks, are kept as they
    are; comments inside the replaced block go with it.  A missing key is
    inserted after the first present key of ``after`` (else at the end).
    """
    lines = text.splitlines()
    spans = _key_spans(lines)
    new = block(key, value)
    if key in spans:
        start, end = spans[key]
        lines[start:end] = new
    else:
        at = len(lines)
        for anchor in after:
            if anchor in spans:
                at = spans[anchor][1]
                break
        lines[at:at] = new
    return "\n".join(lines) + "\n"


def remove_key(text: str, key: str) -> str:
    """Remove top-level ``key`` and its block (nothing happens when it is absent)."""
    lines = text.splitlines()
    spans = _key_spans(lines)
    if key in spans:
        start, end = spans[key]
        del lines[start:end]
    return "\n".join(lines) + "\n"
