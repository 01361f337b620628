"""The one place where backends are chosen and the assistant is assembled.

Every stage comes from an explicit map keyed by a settings value; an unknown
or broken backend raises ConfigError/BackendUnavailable here, at start-up,
with the fix in the message.  Nothing falls back silently.

Tests and the evaluation runner pass ready-made stages (fakes, a corpus's
items) as keyword overrides instead of patching globals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from assistant.core.errors import BackendUnavailable, ConfigError
from assistant.conversations import Assistant, Escalation
from assistant.core.settings import Settings
from assistant.core.types import (
    ConversationStore,
    Embedder,
    Generator,
    IntentClassifier,
    Reranker,
    Retriever,
    ServiceItem,
    Storage,
)

if TYPE_CHECKING:
    from assistant.dialogue.policy import ActionPolicy
    from assistant.helpdesk import Helpdesk


@dataclass(frozen=True)
class Stages:
    """The built stages, for callers that need one directly (benchmarks, CLI)."""

    items: tuple[ServiceItem, ...]
    embedder: Embedder | None
    retriever: Retriever
    reranker: Reranker | None
    classifier: IntentClassifier
    generator: Generator
    policy: ActionPolicy


def load_knowledge(settings: Settings) -> tuple[ServiceItem, ...]:
    """The live (published, effective) items of the configured knowledge base."""
    from knowledge_base.loader import live_items, load_items

    return tuple(live_items(load_items(settings.paths.kb_dir)))


def build_stages(
    settings: Settings,
    *,
    items: Sequence[ServiceItem] | None = None,
    embedder: Embedder | None = None,
    retriever: Retriever | None = None,
    classifier: IntentClassifier | None = None,
    generator: Generator | None = None,
    index_name: str = "kb",
    progress: bool = False,
) -> Stages:
    """Build every dialogue stage from ``settings``; overrides replace single stages."""
    import retrieval
    from assistant.generators import make_generator
    from intents import make_classifier, make_policy
    from intents.trained import trained_embedder

    kb_items = tuple(items) if items is not None else load_knowledge(settings)
    if not kb_items:
        raise ConfigError(
            f"the knowledge base at {settings.paths.kb_dir} has no published item; "
            "publish items or point XS_PATHS__KB_DIR at the right folder"
        )
    if retriever is None:
        if embedder is None:
            embedder = retrieval.make_embedder(settings.embedder, settings.paths.cache_dir)
        retriever = retrieval.build_retriever(
            kb_items,
            embedder,
            settings.retrieval,
            settings.paths.index_dir / index_name,
            progress=progress,
        )
    reranker = retrieval.make_reranker(settings.retrieval, settings.paths.index_dir / index_name)
    if classifier is None:
        intent_embedder = None
        wanted = trained_embedder(settings.intents.model_path) if settings.intents.backend == "trained" else ""
        if wanted:
            # The intent model reads query vectors of the embedder it was trained with:
            # share the retriever's when it is that one (one query cache), else build the
            # configured one (the retriever's may be a test double); a configured embedder
            # of another name is refused at start-up by the classifier.
            if embedder is not None and embedder.name == wanted:
                intent_embedder = embedder
            else:
                intent_embedder = retrieval.make_embedder(settings.embedder, settings.paths.cache_dir)
        classifier = make_classifier(settings.intents, embedder=intent_embedder)
    if generator is None:
        generator = make_generator(settings.generator)
    policy = make_policy(settings.intents)
    return Stages(kb_items, embedder, retriever, reranker, classifier, generator, policy)


def build_assistant(
    settings: Settings,
    *,
    store: ConversationStore | None = None,
    stages: Stages | None = None,
    **stage_overrides: object,
) -> Assistant:
    """Assemble the conversation service: stages, dialogue engine, store and escalation rules.

    Without ``store`` the configured storage is opened (``open_configured_storage``).
    """
    if store is not None:
        from assistant.db import utc_now
        from assistant.helpdesk import EscalationRules

        built = stages or build_stages(settings, **stage_overrides)  # type: ignore[arg-type]
        return _assistant(settings, built, store, EscalationRules(settings.helpdesk, clock=utc_now))
    return build_services(settings, stages=stages, **stage_overrides).assistant


def _assistant(settings: Settings, built: Stages, store: ConversationStore, escalation: Escalation) -> Assistant:
    from assistant.dialogue.engine import DialogueEngine

    items = {i.id: i for i in built.items}
    dialogue = DialogueEngine(
        classifier=built.classifier,
        retriever=built.retriever,
        reranker=built.reranker,
        generator=built.generator,
        policy=built.policy,
        items=items,
        top_k=settings.retrieval.top_k,
    )
    # The helpdesk rules (sensitive topics, complaints wanting action, working
    # hours) apply to every front end: API, CLI ask and the evaluation runner.
    return Assistant(
        dialogue=dialogue,
        store=store,
        items=items,
        max_message_chars=settings.server.max_message_chars,
        escalation=escalation,
    )


# --------------------------------------------------------------------------- storage and helpdesk


@dataclass(frozen=True)
class Services:
    """What the server runs: the conversation service, the helpdesk and the storage under both."""

    assistant: Assistant
    helpdesk: Helpdesk
    storage: Storage


def open_configured_storage(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> Storage:
    """The storage ``settings.database.url`` names (``memory://``, SQLite or PostgreSQL), migrated.

    A database that cannot be opened stops start-up (BackendUnavailable); there
    is no fallback to memory.
    """
    from assistant.db import open_storage, utc_now

    url = settings.database_url()
    try:
        return open_storage(url, helpdesk=settings.helpdesk, clock=clock or utc_now)
    except Exception as e:  # a database we cannot open must stop start-up
        raise BackendUnavailable(
            f"cannot open the database {url!r}: {e}; "
            "check XS_DATABASE__URL (empty means SQLite in the data directory)"
        ) from e


def build_services(
    settings: Settings,
    *,
    storage: Storage | None = None,
    stages: Stages | None = None,
    **stage_overrides: object,
) -> Services:
    """The assistant and the helpdesk on one storage (opened from settings unless given).

    The helpdesk gets what it uses injected: the storage, the items, the
    retriever (console search), the dialogue's answer (suggested replies) and
    the assistant's ticket drafting and escalation rules.
    """
    from assistant.helpdesk import EscalationRules, Helpdesk

    built = stages or build_stages(settings, **stage_overrides)  # type: ignore[arg-type]
    storage = storage or open_configured_storage(settings)
    escalation = EscalationRules(settings.helpdesk, clock=storage.clock)
    assistant = _assistant(settings, built, storage.conversations, escalation)
    helpdesk = Helpdesk(
        storage=storage,
        settings=settings.helpdesk,
        items=assistant.items,
        retriever=built.retriever,
        draft_answer=assistant.dialogue.turn,
        ticket_draft=assistant.ticket_draft,
        escalation=escalation,
    )
    return Services(assistant, helpdesk, storage)
