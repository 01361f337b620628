"""Evaluator runs: a benchmark run by ``xiaoshen eval run`` in a process of its own.

The API may not import ``eval`` (the layers keep evaluation on top), and a
run of a thousand turns should not compete with citizens inside the server
process, so each run is the command line itself, started with the server's
own interpreter, settings and working directory::

    python -m assistant eval run BENCH --report RUN/report --progress-file RUN/progress.json
        --index-name workbench-eval [--faq-corpus CORPUS] [--limit N]

It writes ``metrics.json``, ``report.md``, the plots, ``failures.jsonl`` and
``settings.json`` (the settings it ran with) into the run's report folder;
``run.json`` beside it keeps who started it, the benchmark, and the knowledge
version it ran on.  Runs wait their turn (``workbench.max_eval_runs`` at once).
Comparing two runs is ``xiaoshen eval compare A B --json``, the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from assistant.cases import parse_lines
from assistant.core.errors import InvalidInput, NotFound, XiaoShenError
from assistant.core.settings import PROJECT_ROOT, Settings
from assistant.workbench.files import read_json, safe_name, write_atomic, write_json

#: files of a run's report a client may download (nothing else in the folder is served).
REPORT_FILES = (
    "metrics.json",
    "failures.jsonl",
    "report.md",
    "settings.json",
    "hit_at_k.png",
    "intent_confusion.png",
    "latency.png",
    "domain_hit1.png",
)
#: the benchmarks shipped with the project, offered by name.
BUILTIN = {
    "dev": PROJECT_ROOT / "eval" / "benchmarks" / "dev.jsonl",
    "holdout": PROJECT_ROOT / "eval" / "benchmarks" / "holdout.jsonl",
    "holdout_answers": PROJECT_ROOT / "eval" / "benchmarks" / "holdout_answers.jsonl",
}
#: largest uploaded benchmark or corpus, in bytes.
MAX_UPLOAD = 20 * 1024 * 1024


class CompareFailed(XiaoShenError):
    """``xiaoshen eval compare`` failed."""

    code = "compare_failed"
    http_status = 500


@dataclass(frozen=True)
class UploadReport:
    """An uploaded benchmark: where it is kept and the lines that were skipped."""

    name: str
    cases: int
    turns: int
    problems: tuple[str, ...]


class EvalRuns:
    """Starts, tracks and reads evaluator runs under ``data/workbench``."""

    def __init__(self, settings: Settings, root: Path) -> None:
        self.settings = settings
        self.root = root
        self.runs_dir = root / "runs"
        self.uploads = root / "benchmarks"
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(settings.workbench.max_eval_runs)
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    # ------------------------------------------------------------------ benchmarks

    def upload(self, name: str, content: str, *, kind: str, known_items: set[str]) -> UploadReport:
        """Keep an uploaded benchmark (checked line by line) or question-answer corpus."""
        name = safe_name(name.removesuffix(".jsonl"), "file name")
        if len(content.encode("utf-8")) > MAX_UPLOAD:
            raise InvalidInput(f"the file has more than {MAX_UPLOAD // 1_000_000} MB; split it")
        if kind == "benchmark":
            bench = parse_lines(content.splitlines(), source=name, known_items=None)
            if not bench.cases:
                listing = "; ".join(str(p) for p in bench.problems[:5])
                raise InvalidInput(f"{name} holds no usable case ({listing or 'empty file'}); see the benchmark format")
            write_atomic(self.uploads / f"{name}.jsonl", content)
            unknown = sorted({i for c in bench.cases for i in c.item_ids} - known_items)
            notes = [str(p) for p in bench.problems]
            if unknown:
                notes.append(f"item ids not in this knowledge base (fine with a corpus): {', '.join(unknown[:10])}")
            return UploadReport(name, len(bench.cases), bench.turns, tuple(notes))
        if kind == "corpus":
            problems, rows = [], 0
            for n, line in enumerate(content.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict) or not row.get("id") or not row.get("answer"):
                        raise ValueError("needs 'id' and 'answer'")
                    rows += 1
                except ValueError as e:
                    problems.append(f"line {n}: {e}")
            if not rows:
                raise InvalidInput(f"{name} holds no corpus entry with 'id' and 'answer'")
            write_atomic(self.uploads / f"{name}.corpus.jsonl", content)
            return UploadReport(name, rows, 0, tuple(problems))
        raise InvalidInput(f"kind {kind!r} must be 'benchmark' or 'corpus'")

    def benchmarks(self) -> dict[str, list[str]]:
        """Benchmarks and corpora a run may use, by name."""
        uploaded = sorted(p.name.removesuffix(".jsonl") for p in self.uploads.glob("*.jsonl") if not p.name.endswith(".corpus.jsonl")) if self.uploads.is_dir() else []
        corpora = sorted(p.name.removesuffix(".corpus.jsonl") for p in self.uploads.glob("*.corpus.jsonl")) if self.uploads.is_dir() else []
        return {"builtin": [k for k, p in BUILTIN.items() if p.is_file()], "uploaded": uploaded, "corpora": corpora}

    def _bench_path(self, name: str) -> Path:
        if name in BUILTIN and BUILTIN[name].is_file():
            return BUILTIN[name]
        path = self.uploads / f"{safe_name(name, 'benchmark')}.jsonl"
        if not path.is_file():
            raise NotFound(f"no benchmark {name!r}; upload it or pick one of {', '.join(self.benchmarks()['builtin'])}")
        return path

    # ------------------------------------------------------------------ runs

    def start(self, benchmark: str, *, by: str, kb_version: str, corpus: str = "", limit: int | None = None, label: str = "") -> dict[str, Any]:
        """Start a run in the background; returns its record (status ``queued``)."""
        bench = self._bench_path(benchmark)
        corpus_path = None
        if corpus:
            corpus_path = self.uploads / f"{safe_name(corpus, 'corpus')}.corpus.jsonl"
            if not corpus_path.is_file():
                raise NotFound(f"no corpus {corpus!r}; upload it first")
        run_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        folder = self.runs_dir / run_id
        folder.mkdir(parents=True)
        record = {
            "id": run_id,
            "label": label.strip()[:80],
            "benchmark": benchmark,
            "benchmark_file": str(bench),
            "corpus": corpus,
            "limit": limit,
            "by": by,
            "kb_version": kb_version if corpus_path is None else f"corpus {corpus}",
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "status": "queued",
        }
        write_json(folder / "run.json", record)
        command = [sys.executable, "-m", "assistant", "eval", "run", str(bench), "--report", str(folder / "report"),
                   "--progress-file", str(folder / "progress.json"), "--no-progress", "--index-name", "workbench-eval"]
        if corpus_path is not None:
            command += ["--faq-corpus", str(corpus_path)]
        if limit:
            command += ["--limit", str(int(limit))]
        threading.Thread(target=self._run, args=(run_id, command), name=f"eval-run-{run_id}", daemon=True).start()
        return record

    def _update(self, run_id: str, **changes: Any) -> None:
        with self._lock:
            path = self.runs_dir / run_id / "run.json"
            write_json(path, {**read_json(path, {}), **changes})

    def _run(self, run_id: str, command: list[str]) -> None:
        folder = self.runs_dir / run_id
        with self._slots:
            self._update(run_id, status="running", started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
            try:
                with (folder / "log.txt").open("wb") as log:
                    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
                    self._processes[run_id] = process
                    code = process.wait()
            except OSError as e:
                self._update(run_id, status="failed", error=f"could not start the run: {e}")
                return
            finally:
                self._processes.pop(run_id, None)
            ok = (folder / "report" / "metrics.json").is_file()
            # exit 1 with a report means some turns raised: the report lists them
            status = "done" if ok else "failed"
            tail = "" if ok else (folder / "log.txt").read_text(encoding="utf-8", errors="replace")[-2000:]
            self._update(run_id, status=status, exit_code=code, finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), error=tail)

    def get(self, run_id: str) -> dict[str, Any]:
        """A run's record with its progress and headline metrics."""
        folder = self.runs_dir / safe_name(run_id, "run id")
        record = read_json(folder / "run.json", None)
        if record is None:
            raise NotFound(f"no evaluator run {run_id!r}")
        record["progress"] = read_json(folder / "progress.json", {"done": 0, "total": 0})
        metrics = read_json(folder / "report" / "metrics.json", None)
        if metrics is not None:
            record["metrics"] = metrics
            record["files"] = [n for n in REPORT_FILES if (folder / "report" / n).is_file()]
        return record

    def list(self) -> list[dict[str, Any]]:
        """Every run, newest first (without the metrics)."""
        if not self.runs_dir.is_dir():
            return []
        out = []
        for folder in sorted(self.runs_dir.iterdir(), reverse=True):
            record = read_json(folder / "run.json", None)
            if record is not None:
                record["progress"] = read_json(folder / "progress.json", {"done": 0, "total": 0})
                out.append(record)
        return out

    def file(self, run_id: str, name: str) -> Path:
        """A file of a run's report (only the names of ``REPORT_FILES``)."""
        if name not in REPORT_FILES:
            raise NotFound(f"{name!r} is not a report file; one of {', '.join(REPORT_FILES)}")
        path = self.runs_dir / safe_name(run_id, "run id") / "report" / name
        if not path.is_file():
            raise NotFound(f"run {run_id} has no {name} (yet)")
        return path

    def compare(self, run_a: str, run_b: str) -> dict[str, Any]:
        """Metric differences and newly failing / passing cases (``xiaoshen eval compare --json``)."""
        dirs = []
        for run_id in (run_a, run_b):
            folder = self.runs_dir / safe_name(run_id, "run id") / "report"
            if not (folder / "metrics.json").is_file():
                raise NotFound(f"run {run_id} has no report yet; wait until it is done")
            dirs.append(str(folder))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        proc = subprocess.run(
            [sys.executable, "-m", "assistant", "eval", "compare", *dirs, "--json"],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )
        if proc.returncode != 0:
            raise CompareFailed(f"eval compare failed: {proc.stderr.strip()[-500:]}")
        return json.loads(proc.stdout)
