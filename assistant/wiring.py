"""The one place where backends are chosen and the assistant is assembled.

Every stage comes from an explicit map keyed by a settings value; an unknown
or broken backend raises ConfigError/BackendUnavailable here, at start-up,
with the fix in the message.  Nothing falls back silently.

Tests and the evaluation runner pass ready-made stages (fakes, a corpus's
items) as keyword overrides instead of patching globals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.core.errors import BackendUnavailable, ConfigError
from assistant.conversations import Assistant
from assistant.core.settings import Settings
from assistant.core.types import (
    ConversationStore,
    Embedder,
    Generator,
    HandoffQueue,
    IntentClassifier,
    Reranker,
    Retriever,
    ServiceItem,
)

if TYPE_CHECKING:
    from assistant.dialogue.policy import ActionPolicy


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
    queue: HandoffQueue | None = None,
    stages: Stages | None = None,
    **stage_overrides: object,
) -> Assistant:
    """Assemble the whole assistant: stages, dialogue engine, store and queue."""
    from assistant.db import open_database, utc_now
    from assistant.dialogue.engine import DialogueEngine
    from assistant.generators.planning import AnswerPlanner
    from assistant.helpdesk import EscalationRules

    built = stages or build_stages(settings, **stage_overrides)  # type: ignore[arg-type]
    clock = None
    if store is None or queue is None:
        try:
            database = open_database(settings.database_url(), helpdesk=settings.helpdesk)
        except Exception as e:  # a database we cannot open must stop start-up
            raise BackendUnavailable(
                f"cannot open the database {settings.database_url()!r}: {e}; "
                "check XS_DATABASE__URL (empty means SQLite in the data directory)"
            ) from e
        store = store or database.conversations
        queue = queue or database.queue
        clock = database.clock
    items = {i.id: i for i in built.items}
    planner = AnswerPlanner(embedder=built.embedder)
    planner.load(built.items)
    dialogue = DialogueEngine(
        classifier=built.classifier,
        retriever=built.retriever,
        reranker=built.reranker,
        generator=built.generator,
        policy=built.policy,
        items=items,
        top_k=settings.retrieval.top_k,
        planner=planner,
    )
    # The helpdesk rules (sensitive topics, complaints wanting action, working
    # hours) apply to every front end: API, CLI ask and the evaluation runner.
    escalation = EscalationRules(settings.helpdesk, clock=clock or utc_now)
    return Assistant(
        dialogue=dialogue,
        store=store,
        queue=queue,
        items=items,
        max_message_chars=settings.server.max_message_chars,
        escalation=escalation,
    )
