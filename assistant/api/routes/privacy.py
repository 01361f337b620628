"""Revealing a masked personal number to the member of staff who needs it, audited.

Messages are stored masked (``assistant.core.pii``); with ``XS_PRIVACY__KEY``
the typed original of a masked message is kept encrypted beside it
(``assistant.db.vault``).  Staff see the masked text everywhere by default.

Who may reveal (PIPL's "minimum necessary"): the agent who holds a live claim
on the ticket, because working the case may need the number itself (calling
back the mobile of an after-hours call-back ticket, finding the citizen's
record by resident ID in the department's own system); and supervisors and
admins, for complaints and quality review, without holding the ticket.
Another agent, a knowledge operator, or anyone once the ticket is finished
and not theirs to supervise sees masks only.  Every reveal needs a reason and
is written to the audit log as ``pii.reveal`` (who, which message of which
ticket, the reason, the kinds revealed, when, from where; never the value).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from assistant.api.auth import StaffDep, audit
from assistant.api.deps import HelpdeskDep
from assistant.api.schemas import RevealIn, RevealOut
from assistant.core import pii
from assistant.core.errors import Conflict, NotFound, XiaoShenError
from assistant.db import rules

router = APIRouter(prefix="/api/v1/helpdesk", tags=["privacy"])


class RevealRefused(XiaoShenError):
    """An agent asked to reveal a number of a ticket they do not hold (the route table let them in)."""

    code = "reveal_not_allowed"
    http_status = 403


@router.post("/tickets/{ticket_id}/messages/{message_id}/reveal", response_model=RevealOut)
def reveal(
    ticket_id: int, message_id: int, body: RevealIn, request: Request, helpdesk: HelpdeskDep, principal: StaffDep
) -> RevealOut:
    """The typed original of one masked citizen message of the ticket's conversation.

    403 unless the caller holds a live claim on the ticket or is a supervisor;
    404 when the message is not a citizen message of this ticket's conversation,
    or no original was kept (nothing was masked, or no ``XS_PRIVACY__KEY`` then).
    """
    ticket = helpdesk.storage.queue.get(ticket_id)
    if not principal.acts_as("supervisor"):
        try:
            rules.check_holder(
                ticket_id, ticket.status, ticket.agent, ticket.lease_until, principal.username,
                helpdesk.storage.clock(), "reveal a personal number",
            )
        except Conflict as e:
            raise RevealRefused(f"{e} (supervisors may reveal without a claim)") from e
    turn = next((t for t in helpdesk.store.get(ticket.conversation_id).turns if t.id == message_id), None)
    if turn is None or turn.role != "user":
        raise NotFound(f"message {message_id} is not a citizen message of ticket #{ticket_id}'s conversation")
    original = helpdesk.store.reveal_original(message_id)
    if original is None:
        raise NotFound(
            f"no original is kept for message {message_id}: nothing in it was masked, "
            "or XS_PRIVACY__KEY was not set when it was stored"
        )
    kinds = sorted({span.kind for span in pii.detect(original)})
    audit(
        request, principal, "pii.reveal", f"message:{message_id}",
        after={"ticket": ticket_id, "conversation": ticket.conversation_id, "reason": body.reason, "kinds": kinds},
    )
    return RevealOut(message_id=message_id, text=original, kinds=kinds)
