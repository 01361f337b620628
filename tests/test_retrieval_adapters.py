"""LangChain adapter, the benchmark runner and make_reranker, on tiny fakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.core.errors import BackendUnavailable, ConfigError
from assistant.core.settings import RetrievalSettings
from assistant.core.types import Hit, RetrievalQuery
from retrieval.bench import SYSTEMS, BenchQuery, read_bench, run_bench
from retrieval.hybrid import build_retriever
from assistant.wiring import make_reranker
from retrieval.rerank import FEATURES, FeatureReranker, train_feature_reranker
from tests.fakes import KeywordEmbedder, tiny_items


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("adapters") / "kb"
    return build_retriever(tiny_items(), KeywordEmbedder(), RetrievalSettings(), d), d


def test_langchain_retriever_wraps_ours(built) -> None:
    from langchain_core.retrievers import BaseRetriever

    from retrieval.langchain import XiaoShenRetriever

    retriever, _ = built
    lc = XiaoShenRetriever(retriever=retriever, k=3)
    assert isinstance(lc, BaseRetriever)
    docs = lc.invoke("给孩子上户口")
    assert len(docs) == 3 and docs[0].metadata["item_id"] == "hukou-newborn"
    assert docs[0].page_content and "score_bm25" in docs[0].metadata
    follow = XiaoShenRetriever(retriever=retriever, k=1, current_item="passport-apply").invoke("那要带什么材料")
    assert follow[0].metadata["item_id"] == "passport-apply"


def test_bench_runs_every_system_and_scores_by_hand(built, tmp_path: Path) -> None:
    bench = tmp_path / "b.jsonl"
    rows = [
        {"id": "c1", "turns": [
            {"user": "给孩子上户口", "expect": {"items": ["hukou-newborn"]}},
            {"user": "要什么材料", "expect": {"items": ["hukou-newborn"]}},
        ]},
        {"id": "c2", "turns": [{"user": "你好", "expect": {"items": []}}, {"user": "办护照", "expect": {"items": ["passport-apply"]}}]},
        "not json",
        {"id": "c3", "turns": [{"user": "x", "expect": {"items": ["no-such-item"]}}]},
    ]
    bench.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    queries = read_bench(bench, {i.id for i in tiny_items()})
    assert [(q.text, q.previous) for q in queries] == [("给孩子上户口", -1), ("要什么材料", 0), ("办护照", -1)]
    results = run_bench(tiny_items(), queries, KeywordEmbedder(), RetrievalSettings(), tmp_path / "idx")
    assert set(results) == set(SYSTEMS)
    ours = results["ours"]
    assert ours.hit1 == 1.0 and ours.mrr10 == 1.0 and ours.queries == 3 and ours.p95_ms >= ours.p50_ms > 0
    for r in results.values():
        assert 0.0 <= r.hit1 <= r.hit5 <= 1.0 and r.mrr10 <= 1.0


def test_bench_repeat_serves_repeated_questions_from_the_query_cache(tmp_path: Path) -> None:
    from retrieval.bench import BenchQuery
    from retrieval.embedders import CachedEmbedder

    inner = KeywordEmbedder()
    emb = CachedEmbedder(inner, None, query_cache_size=16)
    queries = [BenchQuery("a", "给孩子上户口", ("hukou-newborn",)), BenchQuery("b", "办护照", ("passport-apply",))]
    results = run_bench(tiny_items(), queries, emb, RetrievalSettings(), tmp_path / "idx", systems=["ours"], repeat=True)
    assert set(results) == {"ours", "ours-repeat"}
    assert results["ours-repeat"].mrr10 == results["ours"].mrr10
    assert emb.query_hits == len(queries)  # the second pass never reached the model


def test_bench_paired_times_ours_and_langchain_question_by_question(tmp_path: Path) -> None:
    from retrieval.bench import BenchQuery, format_table

    queries = [BenchQuery("a", "给孩子上户口", ("hukou-newborn",)), BenchQuery("b", "办护照", ("passport-apply",))]
    results = run_bench(
        tiny_items(), queries, KeywordEmbedder(), RetrievalSettings(), tmp_path / "idx", systems=["ours", "langchain"], paired=True
    )
    assert set(results) == {"ours", "langchain", "ours-paired", "langchain-paired"}
    for name in ("ours", "langchain"):
        paired = results[f"{name}-paired"]
        assert paired.mrr10 == results[name].mrr10 and paired.queries == 2 and paired.p50_ms > 0
    assert "langchain-paired" in format_table("t", results)


def test_bench_metrics_on_a_known_ranking() -> None:
    from retrieval.bench import _score

    qs = [BenchQuery("a", "q1", ("x",)), BenchQuery("b", "q2", ("y",)), BenchQuery("c", "q3", ("z",))]
    r = _score("s", qs, [["x", "y"], ["x", "x2", "y"], ["a"] * 10], [1.0, 2.0, 3.0])
    assert r.hit1 == pytest.approx(1 / 3) and r.hit5 == pytest.approx(2 / 3)
    assert r.mrr10 == pytest.approx((1 + 1 / 3) / 3) and r.p50_ms == 2.0


def test_make_reranker(built, tmp_path: Path) -> None:
    retriever, index_dir = built
    assert make_reranker(RetrievalSettings(reranker="none"), index_dir) is None
    with pytest.raises(BackendUnavailable, match="train-reranker"):
        make_reranker(RetrievalSettings(reranker="features"), index_dir)
    with pytest.raises(ConfigError, match="RERANKER_MODEL_PATH"):
        make_reranker(RetrievalSettings(reranker="cross-encoder"), index_dir)
    examples = [
        (RetrievalQuery("给孩子上户口"), ["hukou-newborn"]),
        (RetrievalQuery("办护照"), ["passport-apply"]),
        (RetrievalQuery("社保卡丢了"), ["social-security-card"]),
        (RetrievalQuery("租房提取公积金"), ["housing-fund-withdraw-rent"]),
    ]
    artefact = train_feature_reranker(retriever, examples, index_dir, depth=5)
    assert artefact["features"] == list(FEATURES) and artefact["queries"] == 4
    reranker = make_reranker(RetrievalSettings(reranker="features"), index_dir)
    assert isinstance(reranker, FeatureReranker)
    hits = retriever.retrieve(RetrievalQuery("办护照"), top_k=5)
    out = reranker.rerank(RetrievalQuery("办护照"), hits, top_k=3)
    assert len(out) == 3 and out[0].item_id == "passport-apply" and "rerank" in out[0].components
    assert reranker.rerank(RetrievalQuery("x"), [], top_k=3) == []
    # a hand-set model: only title overlap counts, so the item named by the query wins
    w = [0.0] * len(FEATURES)
    w[FEATURES.index("title_overlap")] = 5.0
    manual = FeatureReranker(w, 0.0, reranker.info)
    fake = [Hit("passport-apply", 1.0), Hit("business-establish", 0.9)]
    assert manual.rerank(RetrievalQuery("企业设立登记"), fake)[0].item_id == "business-establish"
