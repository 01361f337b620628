"""Write a run's report directory and read it back for ``xiaoshen eval compare``.

The directory holds:

- ``metrics.json``: the object of the format file plus breakdowns;
- ``report.md``: the figures as tables, with the failures first seen;
- ``hit_at_k.png``, ``intent_confusion.png``, ``latency.png``, ``domain_hit1.png``;
- ``failures.jsonl``: each failing turn, expected vs got, top-5 items with
  scores, the intent and action chosen;
- ``turns.jsonl``: every turn's outcome (what ``compare`` diffs);
- ``settings.json``: the settings the run used (secrets masked) and run facts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assistant.core.pii import mask
from eval.metrics import TurnOutcome, action_confusion, intent_confusion
from eval.runner import RunResult

PLOTS = ("hit_at_k.png", "intent_confusion.png", "latency.png", "domain_hit1.png")


def failure_record(o: TurnOutcome) -> dict[str, Any]:
    """One failing turn as a JSON object: expected vs got, top-5 with scores."""
    return {
        "case": o.case_id,
        "turn": o.turn + 1,
        "user": mask(o.user),  # exports carry no personal numbers (issue 14)
        "failed": list(o.failures),
        "expected": {"items": list(o.expect_items), "intent": o.expect_intent, "action": o.expect_action},
        "got": {
            "top5": [
                {"item": item, "score": round(score, 4)} for item, score in zip(o.ranking[:5], o.scores[:5])
            ],
            "rank": o.rank,
            "intent": o.intent,
            "intent_confidence": round(o.intent_confidence, 4),
            "action": o.action,
            "handoff_reason": o.handoff_reason,
            "answer": o.answer[:300],
            "citations": list(o.citations),
        },
        "error": o.error,
    }


def outcome_to_json(o: TurnOutcome) -> dict[str, Any]:
    """Every field of a turn outcome, JSON-ready."""
    data = dataclasses.asdict(o)
    data["user"] = mask(o.user)  # exports carry no personal numbers (issue 14)
    data["timings_ms"] = dict(o.timings_ms)
    data["passed"] = o.passed
    return data


def outcome_from_json(data: Mapping[str, Any]) -> TurnOutcome:
    """Inverse of :func:`outcome_to_json`."""
    names = {f.name for f in dataclasses.fields(TurnOutcome)}
    kw = {k: v for k, v in data.items() if k in names}
    for key in ("expect_items", "expect_facts", "expect_aspects", "aspects", "ranking", "scores", "citations", "tags"):
        kw[key] = tuple(kw.get(key) or ())
    return TurnOutcome(**kw)


def write_report(result: RunResult, out_dir: Path, *, settings_json: Mapping[str, Any]) -> list[Path]:
    """Write the whole report directory; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def dump(name: str, obj: Any) -> None:
        path = out_dir / name
        path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)

    def dump_lines(name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        path = out_dir / name
        with path.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        written.append(path)

    dump("metrics.json", result.metrics)
    dump("settings.json", {"settings": settings_json, "run": {"source": result.source, "started_at": result.started_at, "seconds": round(result.seconds, 2), **result.info}})
    dump_lines("failures.jsonl", [failure_record(o) for o in result.outcomes if not o.passed])
    dump_lines("turns.jsonl", [outcome_to_json(o) for o in result.outcomes])
    written.extend(write_plots(result, out_dir))
    path = out_dir / "report.md"
    path.write_text(markdown_report(result), encoding="utf-8")
    written.append(path)
    return written


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown_report(result: RunResult, *, max_failures: int = 40) -> str:
    """The run as Markdown: headline figures, breakdowns, failures."""
    m = result.metrics
    r, i, a = m["retrieval"], m["intent"], m["action"]
    lines = [
        f"# Evaluation of `{result.source}`",
        "",
        f"{m['cases']} cases, {m['turns']} turns, run at {result.started_at} in {result.seconds:.1f} s; "
        f"{m['passed_turns']} turns passed, {m['errored_turns']} errored.",
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| retrieval hit@1 / hit@3 / hit@5 | {_fmt(r['hit@1'])} / {_fmt(r['hit@3'])} / {_fmt(r['hit@5'])} ({r['turns']} turns) |",
        f"| retrieval MRR@10 | {_fmt(r['mrr@10'])} |",
        f"| intent accuracy / macro-F1 | {_fmt(i['accuracy'])} / {_fmt(i['macro_f1'])} ({i['turns']} turns) |",
        f"| action accuracy | {_fmt(a['accuracy'])} |",
    ]
    for label in ("handoff", "refuse", "clarify"):
        s = a[label]
        lines.append(f"| {label} precision / recall | {_fmt(s['precision'])} / {_fmt(s['recall'])} (support {s['support']}) |")
    lines += [
        f"| resolution proxy | {_fmt(m['resolution_proxy'])} |",
        f"| answers citing an acceptable item | {_fmt(m['answer']['cited_acceptable'])} |",
        f"| expected facts stated | {_fmt(m['answer']['facts_recall'])} ({m['answer']['facts_turns']} turns) |",
        f"| facts stated in the first {m['answer'].get('facts_first_chars', 150)} characters | {_fmt(m['answer'].get('facts_first'))} |",
        f"| aspect precision / recall | {_fmt(m['answer'].get('aspect_precision'))} / {_fmt(m['answer'].get('aspect_recall'))} ({m['answer'].get('aspect_turns', 0)} turns) |",
        f"| median answer length (characters) | {_fmt(m['answer'].get('median_answer_chars'))} |",
        f"| multi-turn item kept | {_fmt(m['multi_turn']['item_kept'])} ({m['multi_turn']['follow_up_turns']} follow-up turns) |",
        f"| latency p50 / p95 ms | {_fmt(m['latency_ms']['p50'])} / {_fmt(m['latency_ms']['p95'])} |",
    ]
    stages = m["latency_ms"].get("stages") or {}
    if stages:
        lines.append(
            "| per stage p50 / p95 ms | "
            + ", ".join(f"{k} {_fmt(v['p50'])} / {_fmt(v['p95'])}" for k, v in stages.items())
            + " |"
        )
    lines += [
        "",
        "![hit@k](hit_at_k.png) ![intents](intent_confusion.png)",
        "![latency](latency.png) ![domains](domain_hit1.png)",
        "",
        "## Per domain",
        "",
        "| domain | turns | hit@1 |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {d} | {v['turns']} | {_fmt(v['hit@1'])} |" for d, v in m["by_domain"].items()]
    for title, groups in (
        ("language", m["answer"].get("by_lang", {})),
        ("aspect asked", m["answer"].get("by_aspect", {})),
        ("case tag", m["answer"].get("by_tag", {})),
    ):
        if not groups:
            continue
        lines += [
            "",
            f"## Answers per {title}",
            "",
            f"| {title} | hit@1 | facts recall | facts first | facts turns | aspect P / R | answered in its language | median chars |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {k} | {_fmt(v.get('hit@1'))} | {_fmt(v['facts_recall'])} | {_fmt(v['facts_first'])} | {v['facts_turns']} | "
            f"{_fmt(v['aspect_precision'])} / {_fmt(v['aspect_recall'])} | {_fmt(v.get('answered_in_lang'))} | "
            f"{_fmt(v['median_answer_chars'])} |"
            for k, v in groups.items()
        ]
    labels, matrix = action_confusion(result.outcomes)
    if labels:
        lines += ["", "## Actions (rows expected, columns chosen)", "", "| | " + " | ".join(labels) + " |",
                  "| --- |" + " --- |" * len(labels)]
        lines += [f"| {lab} | " + " | ".join(str(n) for n in row) + " |" for lab, row in zip(labels, matrix)]
    lines += ["", "## Per intent", "", "| intent | support | precision | recall | F1 |", "| --- | --- | --- | --- | --- |"]
    lines += [
        f"| {lab} | {v['support']} | {_fmt(v['precision'])} | {_fmt(v['recall'])} | {_fmt(v['f1'])} |"
        for lab, v in i["per_label"].items()
    ]
    failures = [o for o in result.outcomes if not o.passed]
    lines += ["", f"## Failures ({len(failures)}; all in failures.jsonl)", ""]
    if failures:
        lines += ["| case | turn | user | failed | expected | got |", "| --- | --- | --- | --- | --- | --- |"]
        for o in failures[:max_failures]:
            expected = f"{','.join(o.expect_items) or '–'} · {o.expect_intent or '–'} · {o.expect_action or '–'}"
            got = o.error or f"{','.join(o.ranking[:3]) or '–'} · {o.intent} · {o.action}"
            user = mask(o.user).replace("|", "\\|")[:60]
            lines.append(f"| {o.case_id} | {o.turn + 1} | {user} | {','.join(o.failures)} | {expected} | {got} |")
    if result.errors:
        lines += ["", "## Errors", ""] + [f"- {e}" for e in result.errors]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- plots


def _label_font() -> tuple[bool, Any]:
    """Whether a CJK font is installed; without one, Chinese labels become pinyin
    (matplotlib would otherwise draw empty boxes)."""
    from matplotlib import font_manager

    for f in font_manager.fontManager.ttflist:
        if any(k in f.name for k in ("CJK", "WenQuanYi", "Hei", "Song", "Noto Sans SC", "Source Han")):
            return True, f.name
    return False, None


def _latin(label: str, cjk: bool) -> str:
    if cjk or label.isascii():
        return label
    from pypinyin import lazy_pinyin

    return "".join(p.capitalize() for p in lazy_pinyin(label))


def write_plots(result: RunResult, out_dir: Path) -> list[Path]:
    """The four PNG plots of the report (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cjk, font = _label_font()
    if cjk:
        plt.rcParams["font.sans-serif"] = [font, *plt.rcParams["font.sans-serif"]]
    m = result.metrics
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = out_dir / name
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    # hit@k curve
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ks = [int(k) for k in m["hit_curve"]]
    values = [m["hit_curve"][str(k)] for k in ks]
    if any(v is not None for v in values):
        ax.plot(ks, [v if v is not None else float("nan") for v in values], marker="o")
    ax.set(xlabel="k", ylabel="hit@k", title=f"hit@k ({m['retrieval']['turns']} turns)", ylim=(0, 1.02), xticks=ks)
    ax.grid(alpha=0.3)
    save(fig, "hit_at_k.png")

    # intent confusion matrix
    labels, matrix = intent_confusion(result.outcomes)
    fig, ax = plt.subplots(figsize=(7, 6))
    if labels:
        im = ax.imshow(matrix, cmap="Blues")
        short = [lab.replace("consult.", "c.") for lab in labels]
        ax.set_xticks(range(len(labels)), short, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), short, fontsize=8)
        for y, row in enumerate(matrix):
            for x, n in enumerate(row):
                if n:
                    ax.text(x, y, str(n), ha="center", va="center", fontsize=7,
                            color="white" if n > max(map(max, matrix)) / 2 else "black")
        fig.colorbar(im, ax=ax, shrink=0.7)
    ax.set(xlabel="predicted", ylabel="expected", title="intent confusion")
    save(fig, "intent_confusion.png")

    # latency histogram
    fig, ax = plt.subplots(figsize=(5, 3.5))
    latencies = [o.latency_ms for o in result.outcomes if not o.error]
    if latencies:
        ax.hist(latencies, bins=min(40, max(5, len(latencies) // 5)))
        for q, style in (("p50", "--"), ("p95", ":")):
            value = m["latency_ms"][q]
            if value is not None:
                ax.axvline(value, color="red", linestyle=style, label=f"{q} {value:.0f} ms")
        ax.legend()
    ax.set(xlabel="ms per turn", ylabel="turns", title="latency")
    save(fig, "latency.png")

    # per-domain hit@1
    domains = [(d, v) for d, v in m["by_domain"].items() if v["hit@1"] is not None]
    fig, ax = plt.subplots(figsize=(7, max(3, 0.28 * len(domains) + 1)))
    if domains:
        names = [f"{_latin(d, cjk)} ({v['turns']})" for d, v in domains]
        ax.barh(range(len(domains)), [v["hit@1"] for _, v in domains])
        ax.set_yticks(range(len(domains)), names, fontsize=8)
        ax.invert_yaxis()
    ax.set(xlim=(0, 1), xlabel="hit@1", title="hit@1 per domain")
    save(fig, "domain_hit1.png")
    return written


# --------------------------------------------------------------------------- reading runs back


@dataclasses.dataclass(frozen=True)
class StoredRun:
    """A run read back from a report directory or a ``--json`` file."""

    path: Path
    metrics: dict[str, Any]
    #: turn outcomes; empty when only a metrics JSON file was given.
    outcomes: tuple[TurnOutcome, ...] = ()


def read_run(path: Path) -> StoredRun:
    """Read a report directory (metrics.json + turns.jsonl) or a metrics JSON file."""
    from assistant.core.errors import InvalidInput

    metrics_path = path / "metrics.json" if path.is_dir() else path
    if not metrics_path.is_file():
        raise InvalidInput(f"{str(path)!r} is neither a report directory with metrics.json nor a metrics JSON file")
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InvalidInput(f"{str(metrics_path)!r} is not valid JSON ({e.msg}, line {e.lineno})") from e
    outcomes: list[TurnOutcome] = []
    turns_path = path / "turns.jsonl" if path.is_dir() else None
    if turns_path is not None and turns_path.is_file():
        for line in turns_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                outcomes.append(outcome_from_json(json.loads(line)))
    return StoredRun(path, metrics, tuple(outcomes))
