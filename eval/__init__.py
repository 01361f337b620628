"""Evaluation as code: benchmark loading, pure metrics, the runner and its reports.

- :mod:`eval.benchmark` reads benchmark files in the evaluators' format
  (``shared/benchmark-format.md``), reporting every bad line and skipping it.
- :mod:`eval.metrics` holds pure metric functions, tested on hand-computed cases.
- :mod:`eval.runner` sends every case through ``Assistant.handle`` (the API's path).
- :mod:`eval.report` writes metrics.json, report.md, plots and failures.
- :mod:`eval.cli` is ``xiaoshen eval``.
"""
