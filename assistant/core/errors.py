"""A small exception hierarchy; the API maps it to HTTP once, at the edge.

Every message names the bad value and says how to fix it.
"""

from __future__ import annotations


class XiaoShenError(Exception):
    """Base of every error Xiao Shen raises on purpose."""

    #: stable machine-readable code, returned in API error bodies.
    code = "error"
    #: HTTP status the API maps this error to.
    http_status = 500


class ConfigError(XiaoShenError):
    """Settings or wiring are wrong; raised at start-up, never at request time."""

    code = "config_error"


class BackendUnavailable(ConfigError):
    """A configured backend cannot be built (missing package, model or server)."""

    code = "backend_unavailable"


class KnowledgeBaseError(XiaoShenError):
    """The knowledge base cannot be loaded or an item is invalid."""

    code = "knowledge_base_error"


class IndexNotBuilt(XiaoShenError):
    """The retrieval index is missing or stale; ``xiaoshen kb build`` fixes it."""

    code = "index_not_built"
    http_status = 503


class InvalidInput(XiaoShenError):
    """The caller sent something unusable (empty or too-long message, bad id)."""

    code = "invalid_input"
    http_status = 422


class NotFound(XiaoShenError):
    """A conversation, ticket or item id that does not exist."""

    code = "not_found"
    http_status = 404


class Conflict(XiaoShenError):
    """The operation lost a race or does not fit the current state (ticket already claimed)."""

    code = "conflict"
    http_status = 409


class StaleState(Conflict):
    """A compare-and-set write of a conversation's state lost to another writer.

    Raised by a ConversationStore when ``expected_version`` is not the stored
    version; nothing was written.  The caller re-reads the conversation and
    decides again from the fresh state.
    """

    code = "stale_state"


class AlreadyRecorded(Conflict):
    """A message post whose ``Idempotency-Key`` already has a stored turn and response.

    Raised by ``ConversationStore.record_turn`` (nothing written): another
    request with the same key, a retry or a takeover of a stale claim,
    committed first.  ``response`` is its stored body, ``fingerprint`` what it asked.
    """

    code = "idempotency_already_recorded"

    def __init__(self, key: str, fingerprint: str, response: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} already has a stored answer; the retry gets it")
        self.key = key
        self.fingerprint = fingerprint
        self.response = response
