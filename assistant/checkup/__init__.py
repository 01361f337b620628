"""The policy check-up (政策体检): eligibility verdicts and the questions worth asking.

A stage: it imports only the core.  ``CheckupEngine`` evaluates the items'
``eligibility`` data over a ``Profile`` and says which question, if any, can
still change a verdict.
"""

from assistant.checkup.engine import CheckupEngine

__all__ = ["CheckupEngine"]
