"""Regression gate: the fixed CI subset of the development benchmark with the real models.

The subset (case ids) and the scores it must reach, with tolerances, are in
``eval/expected/dev.json``, written by ``xiaoshen eval gate --update``.  The run
uses the configured settings (real embedder, knowledge base and index under
the project's data directory, so an index built by ``xiaoshen kb build`` is
reused) and the same path as the API.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.cli import DEV_BENCHMARK, DEV_EXPECTED
from eval.compare import HEADLINE, check_expected, load_expected


def test_expected_file_is_well_formed() -> None:
    spec = load_expected(DEV_EXPECTED)
    assert spec.case_ids and len(set(spec.case_ids)) == len(spec.case_ids)
    assert spec.metrics and set(spec.metrics) <= set(HEADLINE)
    assert all(tol >= 0 for _, tol in spec.metrics.values())


@pytest.mark.slow
def test_dev_subset_has_no_regression_beyond_tolerance(tmp_path: Path) -> None:
    from assistant.core.settings import load_settings
    from eval.benchmark import load_benchmark
    from eval.runner import catalog_domains, eval_assistant, kb_stages, run_benchmark

    spec = load_expected(DEV_EXPECTED)
    settings = load_settings()
    domains = catalog_domains(settings)
    bench = load_benchmark(DEV_BENCHMARK, known_items=set(domains)).only(spec.case_ids)
    missing = set(spec.case_ids) - {c.id for c in bench.cases}
    assert not missing, f"cases gone from dev.jsonl: {sorted(missing)}; run 'xiaoshen eval gate --update'"
    stages, _ = kb_stages(settings, progress=False)
    result = run_benchmark(eval_assistant(settings, stages, tmp_path), bench, domains=domains, progress=False)
    assert result.run_errors == 0, result.errors
    regressions = check_expected(result.metrics, spec)
    assert not regressions, "regressions on the dev subset:\n" + "\n".join(map(str, regressions))
