"""The wiring: one backend map per stage, one dialogue builder, loading at start-up."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from assistant.core.errors import ConfigError
from assistant.core.settings import (
    EmbedderSettings,
    GeneratorSettings,
    IntentSettings,
    PathsSettings,
    RetrievalSettings,
    load_settings,
)
from assistant.wiring import (
    CLASSIFIERS,
    EMBEDDERS,
    GENERATORS,
    RERANKERS,
    build_assistant,
    build_dialogue,
    build_stages,
    make_classifier,
    make_embedder,
    make_generator,
    make_reranker,
)
from tests.fakes import KeywordEmbedder, tiny_items

ROOT = Path(__file__).resolve().parents[1]


def test_every_backend_the_settings_admit_has_a_builder() -> None:
    """The settings' Literal choices and the maps agree: no name without a builder."""
    for section, field, backends in [
        (EmbedderSettings, "backend", EMBEDDERS),
        (RetrievalSettings, "reranker", RERANKERS),
        (IntentSettings, "backend", CLASSIFIERS),
        (GeneratorSettings, "backend", GENERATORS),
    ]:
        admitted = set(section.model_fields[field].annotation.__args__)  # type: ignore[union-attr]
        assert admitted == set(backends), (section.__name__, admitted, sorted(backends))


@pytest.mark.parametrize(
    "make,settings,setting",
    [
        (lambda s, p: make_embedder(s, p), EmbedderSettings, "XS_EMBEDDER__BACKEND"),
        (lambda s, p: make_reranker(s, p), RetrievalSettings, "XS_RETRIEVAL__RERANKER"),
        (lambda s, p: make_classifier(s), IntentSettings, "XS_INTENTS__BACKEND"),
        (lambda s, p: make_generator(s), GeneratorSettings, "XS_GENERATOR__BACKEND"),
    ],
)
def test_an_unknown_backend_names_the_choices_and_the_setting(make, settings, setting, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    field = "reranker" if settings is RetrievalSettings else "backend"
    bad = settings.model_construct(**{field: "tachyon"})  # past validation, as a hand-built section could be
    with pytest.raises(ConfigError, match=rf"unknown .*'tachyon'.*{setting}"):
        make(bad, tmp_path)


class LoadCounting(KeywordEmbedder):
    """The keyword embedder, counting ``load()`` calls."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0

    def load(self) -> None:
        self.loads += 1


def test_build_dialogue_loads_every_stage_and_is_the_engine_build_assistant_uses(tmp_path: Path) -> None:
    settings = load_settings(paths=PathsSettings(data_dir=tmp_path / "data"))
    embedder = LoadCounting()
    stages = build_stages(settings, items=tiny_items(), embedder=embedder)
    loads_at_build = embedder.loads  # the index build warms the retriever (and its embedder)
    engine = build_dialogue(settings, stages)
    assert embedder.loads > loads_at_build  # build_dialogue loaded the stages again (idempotent)
    assert engine.items.keys() == {i.id for i in tiny_items()} and engine.top_k == settings.retrieval.top_k
    assistant = build_assistant(settings, stages=stages)
    assert type(assistant.dialogue) is type(engine)
    assert assistant.escalation is not None  # the wiring sets the helpdesk rules, once


def test_the_intents_cli_builds_its_engine_through_the_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.wiring
    import intents.cli

    calls: list[object] = []
    monkeypatch.setattr(assistant.wiring, "build_stages", lambda settings, **kw: calls.append(kw) or "stages")
    monkeypatch.setattr(assistant.wiring, "build_dialogue", lambda settings, stages: ("engine", stages))
    assert intents.cli._engine(object()) == ("engine", "stages")
    assert calls == [{"progress": True}]


def test_a_missing_intent_model_stops_start_up(tmp_path: Path) -> None:
    settings = load_settings(
        paths=PathsSettings(data_dir=tmp_path / "data"),
        intents=IntentSettings(backend="trained", model_path=tmp_path / "none.joblib"),
    )
    with pytest.raises(ConfigError, match="xiaoshen intents train"):
        build_assistant(settings, items=tiny_items(), embedder=KeywordEmbedder())


def test_no_module_imports_itself_back_through_any_chain() -> None:
    """Module-level cycles, parent packages included (acyclic_siblings sees siblings only)."""
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (the dev extras)")
    graph = grimp.build_graph("assistant", "knowledge_base", "retrieval", "intents", "eval", "ui", cache_dir=None)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                m = stack.pop()
                on_stack.discard(m)
                component.append(m)
                if m == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert cycles == []
