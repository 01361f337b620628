"""The human helpdesk, in rooms of its own.

- :mod:`~assistant.helpdesk.hours`: the staffed working hours in a time zone.
- :mod:`~assistant.helpdesk.escalation`: when a person takes over (sensitive
  topics, complaints demanding action, repeated failure, off-hours call-backs)
  and the citizen-facing notice of every handoff reason.
- :mod:`~assistant.helpdesk.service`: the operations behind the staff console
  and the citizen's waiting view, on the storage Protocols.
- :mod:`~assistant.helpdesk.service_levels`: the pure service-level figures
  (self-service resolution, first response, human resolution, ratings).

Every threshold is a field of ``HelpdeskSettings``.
"""

from assistant.helpdesk.escalation import (
    HANDOFF_NOTICES,
    REASONS,
    EscalationRules,
    handoff_notice,
    handoff_result,
)
from assistant.helpdesk.hours import WorkingHours
from assistant.helpdesk.service import CANNED_REPLIES, Helpdesk, QueueEntry, QueueStatus, SearchHit, Suggestion
from assistant.helpdesk.service_levels import (
    Rates,
    ServiceLevels,
    compute_service_levels,
    normalise_question,
    percentile,
    self_service_outcome,
)

__all__ = [
    "CANNED_REPLIES",
    "EscalationRules",
    "HANDOFF_NOTICES",
    "Helpdesk",
    "QueueEntry",
    "QueueStatus",
    "REASONS",
    "Rates",
    "SearchHit",
    "ServiceLevels",
    "Suggestion",
    "WorkingHours",
    "compute_service_levels",
    "handoff_notice",
    "handoff_result",
    "normalise_question",
    "percentile",
    "self_service_outcome",
]
