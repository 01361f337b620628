"""Retrieval core: fusion (golden), BM25 (differential vs rank_bm25), analyzer
round trip, Chinese retrieval on the tiny knowledge base, follow-ups,
persistence, incremental re-indexing and the embedding cache."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from assistant.core.errors import InvalidInput
from assistant.core.settings import RetrievalSettings
from assistant.core.types import RetrievalQuery
from assistant.core.text import cn_to_int
from retrieval.analyzer import Analyzer
from retrieval.bm25 import BM25
from retrieval.embedders import CachedEmbedder, EmbeddingCache
from retrieval.fusion import group_max, minmax, minmax_array, rrf, rrf_array, weighted
from retrieval.hybrid import build_retriever
from tests.fakes import KeywordEmbedder, tiny_items

GOLDEN = Path(__file__).parent / "golden" / "retrieval_fusion.json"


# ---------------------------------------------------------------- fusion (golden)


def test_fusion_matches_golden_file() -> None:
    case = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for name, spec in case.items():
        if spec["method"] == "rrf":
            got = rrf(spec["rankings"], k=spec["k"], weights=spec.get("weights"))
        else:
            got = weighted(spec["parts"], spec["weights"])
        order = sorted(got, key=lambda key: (-got[key], key))
        assert order == spec["expected_order"], name
        for key, score in spec["expected_scores"].items():
            assert got[key] == pytest.approx(score, abs=1e-9), (name, key)


def test_array_fusion_agrees_with_the_golden_file() -> None:
    # the retriever fuses score vectors; they must rank exactly as the dict rules
    case = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for name, spec in case.items():
        if spec["method"] == "rrf":
            keys = sorted({k for r in spec["rankings"] for k in r})
            weights = spec.get("weights") or [1.0] * len(spec["rankings"])
            got = np.zeros(len(keys))
            for ranking, w in zip(spec["rankings"], weights):
                # a ranking as scores: first place highest
                scores = np.array([len(ranking) - ranking.index(k) if k in ranking else 0.0 for k in keys])
                got += rrf_array(scores, np.array([k in ranking for k in keys]), k=spec["k"], weight=w)
        else:
            keys = sorted({k for part in spec["parts"] for k in part})
            got = np.zeros(len(keys))
            for part, w in zip(spec["parts"], spec["weights"]):
                scores = np.array([part.get(k, 0.0) for k in keys])
                got += w * minmax_array(scores, np.array([k in part for k in keys]))
        order = [keys[i] for i in np.lexsort((np.arange(len(keys)), -got))]
        assert order == spec["expected_order"], name
        for key, score in spec["expected_scores"].items():
            assert got[keys.index(key)] == pytest.approx(score, abs=1e-9), (name, key)


def test_group_max_takes_each_items_best_chunk() -> None:
    item_of_chunk = np.array([1, 0, 1, 2, 0])
    scores = np.array([0.5, 0.2, 0.9, 0.1, 0.3], dtype=np.float32)
    order = np.argsort(item_of_chunk, kind="stable")
    grouped = item_of_chunk[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    np.testing.assert_allclose(group_max(scores, order, starts), [0.3, 0.9, 0.1])
    assert group_max(scores[:0], order[:0], starts[:0]).shape == (0,)
    assert minmax_array(np.array([2.0, 2.0, 5.0]), np.array([True, True, False])).tolist() == [1.0, 1.0, 0.0]


def test_minmax_edge_cases() -> None:
    assert minmax({}) == {}
    assert minmax({"a": 3.0, "b": 3.0}) == {"a": 1.0, "b": 1.0}
    assert minmax({"a": 1.0, "b": 3.0, "c": 2.0}) == {"a": 0.0, "b": 1.0, "c": 0.5}


# ---------------------------------------------------------------- BM25 (differential)


def test_bm25_equals_rank_bm25_okapi() -> None:
    from rank_bm25 import BM25Okapi

    analyzer = Analyzer.for_items(tiny_items())
    docs = [analyzer.tokens(f"{i.name} {i.summary} {' '.join(i.aliases)}") for i in tiny_items()]
    ours = BM25().index(docs)
    theirs = BM25Okapi(docs)
    for q in ["居住证 申领 条件", "公积金 提取 租房", "护照", "新生儿 户口", "不存在的词"]:
        tokens = analyzer.tokens(q)
        np.testing.assert_allclose(ours.scores(tokens), theirs.get_scores(tokens), rtol=1e-5, atol=1e-6)


def test_bm25_weights_and_save_load(tmp_path: Path) -> None:
    docs = [["a", "b"], ["b", "c"], ["c", "d", "d"]]
    plain = BM25().index(docs)
    heavy = BM25().index(docs, weights=[2.0, 1.0, 1.0])
    np.testing.assert_allclose(heavy.scores(["a"])[0], 2 * plain.scores(["a"])[0])
    heavy.save(tmp_path / "bm25.npz")
    back = BM25.load(tmp_path / "bm25.npz")
    np.testing.assert_allclose(back.scores(["d", "a"]), heavy.scores(["d", "a"]))
    assert back.scores(["zzz"]).tolist() == [0.0, 0.0, 0.0]


# ---------------------------------------------------------------- analyzer


def test_analyzer_normalises_text() -> None:
    a = Analyzer()
    assert a.normalize("居住證辦理") == "居住证办理"
    assert a.normalize("ＡＢＣ１２３") == "abc123"
    assert a.normalize("十五日内，两年，第三个") == "15日内,2年,第3个"  # NFKC also halves the commas
    assert a.normalize("一网通办") == "一网通办"  # 一 not before a unit stays a word
    assert cn_to_int("一百零五") == 105 and cn_to_int("二十三") == 23 and cn_to_int("万") == 10000


def test_analyzer_keeps_official_names_whole_and_round_trips(tmp_path: Path) -> None:
    a = Analyzer.for_items(tiny_items())
    tokens = a.tokens("新生儿出生户口登记要什么材料")
    assert "新生儿出生户口登记" in tokens and "什么" not in tokens
    a.save(tmp_path / "analyzer.json")
    b = Analyzer.load(tmp_path / "analyzer.json")
    for q in ["新生儿出生户口登记要什么材料", "居主证", "shebaoka丢了怎么办", "上海市公积金管理中心在哪"]:
        assert b.tokens(q) == a.tokens(q)
        assert b.match_terms(q) == a.match_terms(q)
    assert b.fingerprint() == a.fingerprint()


def test_pinyin_and_homophone_matching() -> None:
    a = Analyzer({"居住证": ["residence-permit-apply"], "社保卡": ["social-security-card"]})
    assert [(m.term, m.how) for m in a.match_terms("shebaoka丢了")] == [("社保卡", "pinyin")]
    assert [(m.term, m.how) for m in a.match_terms("居主证怎么办")] == [("居住证", "homophone")]
    assert [(m.term, m.how) for m in a.match_terms("居住证")] == [("居住证", "exact")]
    assert a.match_terms("护照") == []


def test_longest_alias_wins() -> None:
    a = Analyzer({"居住证": ["apply"], "居住证续签": ["renew"]})
    assert [m.item_ids for m in a.match_terms("居住证续签要多久")] == [("renew",)]


def test_longer_names_finds_every_name_a_name_lies_in() -> None:
    from assistant.core.text import longer_names

    names = ["居住证", "居住证签注", "居住证积分", "证", "护照", "居住证"]
    assert longer_names(names) == {"居住证": ("居住证签注", "居住证积分"), "证": ("居住证", "居住证签注", "居住证积分")}
    assert longer_names(["护照", "港澳通行证"]) == {} and longer_names([]) == {}


def test_a_province_named_as_home_reads_as_non_local() -> None:
    from assistant.core.text import says_nonlocal

    assert says_nonlocal("我是安徽户口 身份证丢了") and says_nonlocal("黑龙江人在上海怎么办居住证")
    assert not says_nonlocal("上海户口") and not says_nonlocal("去北京出差")


def test_a_term_inside_longer_terms_names_their_items_too() -> None:
    # 居住证 said alone may be the permit, its renewal or its points: the rest of the
    # message decides, not the item that took the short alias
    a = Analyzer({"居住证": ["apply"], "居住证续签": ["renew"], "居住证积分": ["points"], "护照": ["passport"]})
    assert [m.item_ids for m in a.match_terms("居住证快到期了")] == [("apply", "points", "renew")]
    assert [m.item_ids for m in a.match_terms("护照丢了")] == [("passport",)]


# ---------------------------------------------------------------- retrieval on tiny_items


@pytest.fixture(scope="module")
def tiny_retriever(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("idx")
    return build_retriever(tiny_items(), KeywordEmbedder(), RetrievalSettings(), d / "kb")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("居住证怎么办理", "residence-permit-apply"),
        ("居主证怎么办", "residence-permit-apply"),
        ("居住證要什麼材料", "residence-permit-apply"),
        ("shebaoka丢了怎么补", "social-security-card"),
        ("社宝卡", "social-security-card"),
        ("给孩子上户口", "hukou-newborn"),
        ("宝宝报户口需要出生医学证明吗", "hukou-newborn"),
        ("租房可以提取公积金吗", "housing-fund-withdraw-rent"),
        ("买房提公积金", "housing-fund-withdraw-buy"),
        ("辞职了公积金怎么取", "housing-fund-withdraw-leave"),
        ("怎么注册公司", "business-establish"),
        ("huzhao怎么办", "passport-apply"),
        ("孩子出生要办什么", "onething-birth"),
        ("暂住证", "residence-registration"),
    ],
)
def test_chinese_questions_find_their_item(tiny_retriever, question: str, expected: str) -> None:
    hits = tiny_retriever.retrieve(RetrievalQuery(question), top_k=5)
    assert hits[0].item_id == expected, [(h.item_id, round(h.score, 3)) for h in hits]
    assert {"bm25", "dense", "fused", "alias"} <= set(hits[0].components)
    assert hits[0].chunk_id.startswith(expected + "#")


def test_follow_up_stays_on_current_item_unless_topic_switches(tiny_retriever) -> None:
    follow = tiny_retriever.retrieve(RetrievalQuery("那需要什么材料？", current_item="passport-apply"), top_k=3)
    assert follow[0].item_id == "passport-apply" and follow[0].components["context"] > 0
    for text in ("网上能办吗", "要等多久", "What documents should I bring?", "在哪里办？"):
        hits = tiny_retriever.retrieve(RetrievalQuery(text, current_item="business-establish"), top_k=3)
        assert hits[0].item_id == "business-establish", text
    switch = tiny_retriever.retrieve(RetrievalQuery("那社保卡怎么补办？", current_item="passport-apply"), top_k=3)
    assert switch[0].item_id == "social-security-card"
    no_context = tiny_retriever.retrieve(RetrievalQuery("那需要什么材料？"), top_k=3)
    assert "context" not in no_context[0].components


def test_hits_report_the_words_that_name_them_and_the_details_beyond(tiny_retriever) -> None:
    # 提取公积金 names rent, purchase and leaving alike and adds nothing else
    vague = tiny_retriever.retrieve(RetrievalQuery("提取公积金要什么材料"), top_k=3)
    assert {h.item_id for h in vague} == {
        "housing-fund-withdraw-rent", "housing-fund-withdraw-buy", "housing-fund-withdraw-leave"
    }
    assert all({"提取", "公积金"} <= set(h.name_terms) for h in vague)
    assert all(h.components["other_terms"] == 0 for h in vague)  # 要, 什么, 材料 are field words
    # 买, 二手房 are details no name carries; filler (怎么弄) is not a detail
    detailed = tiny_retriever.retrieve(RetrievalQuery("刚买了套二手房 公积金能取吗"), top_k=1)[0]
    assert detailed.components["other_terms"] >= 2
    filler = tiny_retriever.retrieve(RetrievalQuery("公积金的事情怎么弄"), top_k=5)
    assert [h.components["other_terms"] for h in filler if h.item_id == "housing-fund-withdraw-rent"] == [0]
    # a word names only the items whose names or aliases carry it
    named = tiny_retriever.retrieve(RetrievalQuery("护照怎么办"), top_k=3)
    assert named[0].item_id == "passport-apply" and "护照" in named[0].name_terms
    assert all("护照" not in h.name_terms for h in named[1:])


def test_top_k_and_empty_query(tiny_retriever) -> None:
    assert len(tiny_retriever.retrieve(RetrievalQuery("公积金"), top_k=2)) == 2
    with pytest.raises(InvalidInput):
        tiny_retriever.retrieve(RetrievalQuery("  "))


# ---------------------------------------------------------------- persistence, incremental, cache


def test_second_build_loads_and_embeds_nothing(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache" / "embeddings.sqlite")
    first = CachedEmbedder(KeywordEmbedder(), cache)
    r1 = build_retriever(tiny_items(), first, RetrievalSettings(), tmp_path / "kb")
    assert first.embedded == len(r1.chunks) - _duplicate_texts(r1)
    # a fresh process: a new embedder over the same disk cache, index on disk
    second = CachedEmbedder(KeywordEmbedder(), EmbeddingCache(tmp_path / "cache" / "embeddings.sqlite"))
    r2 = build_retriever(tiny_items(), second, RetrievalSettings(), tmp_path / "kb")
    assert second.embedded == 0
    q = RetrievalQuery("给孩子上户口")
    assert [h.item_id for h in r2.retrieve(q)] == [h.item_id for h in r1.retrieve(q)]
    # index gone, cache kept: rebuilding still embeds nothing
    import shutil

    shutil.rmtree(tmp_path / "kb")
    third = CachedEmbedder(KeywordEmbedder(), EmbeddingCache(tmp_path / "cache" / "embeddings.sqlite"))
    build_retriever(tiny_items(), third, RetrievalSettings(), tmp_path / "kb")
    assert third.embedded == 0


def _duplicate_texts(r) -> int:
    return len(r.passage_texts) - len(set(r.passage_texts))


def test_query_lru_skips_repeated_questions(tmp_path: Path) -> None:
    inner = KeywordEmbedder()
    e = CachedEmbedder(inner, None, query_cache_size=2)
    a = e.embed_queries(["居住证"])
    b = e.embed_queries(["居住证"])
    np.testing.assert_array_equal(a, b)
    assert inner.texts_embedded == 1 and e.query_hits == 1
    e.embed_queries(["护照", "社保卡"])  # evicts 居住证 (bounded at 2)
    e.embed_queries(["居住证"])
    assert inner.texts_embedded == 4


def test_changing_one_item_reindexes_only_that_item(tmp_path: Path) -> None:
    items = tiny_items()
    emb = KeywordEmbedder()
    build_retriever(items, emb, RetrievalSettings(), tmp_path / "kb")
    before = emb.texts_embedded
    changed = [replace(i, fees="收取工本费20元") if i.id == "passport-apply" else i for i in items]
    start = time.perf_counter()
    r = build_retriever(changed, emb, RetrievalSettings(), tmp_path / "kb")
    elapsed = time.perf_counter() - start
    assert emb.texts_embedded - before == 1  # only the changed fees chunk
    assert elapsed < 2.0
    old = build_retriever(items, KeywordEmbedder(), RetrievalSettings(), tmp_path / "before")
    same = [n for n, c in enumerate(r.chunks) if c.id != "passport-apply#fees:0"]
    np.testing.assert_array_equal(r.vectors[same], old.vectors[same])
    hits = r.retrieve(RetrievalQuery("护照工本费多少钱"), top_k=3)
    assert hits[0].item_id == "passport-apply"
    assert any(c.text == "收取工本费20元" for c in r.chunks)
    # removing an item removes it from the index: only the items passed in are indexed
    fewer = [i for i in changed if i.id != "passport-apply"]
    r2 = build_retriever(fewer, emb, RetrievalSettings(), tmp_path / "kb")
    assert "passport-apply" not in {c.item_id for c in r2.chunks}
    assert all(h.item_id != "passport-apply" for h in r2.retrieve(RetrievalQuery("办护照"), top_k=10))


def test_renaming_an_item_embeds_only_its_name_chunk(tmp_path: Path) -> None:
    # the name reaches the item's other chunks as a mixed-in vector, not as text:
    # a rename embeds the one name chunk, and only that item's vectors change
    items = tiny_items()
    emb = KeywordEmbedder()
    old = build_retriever(items, emb, RetrievalSettings(), tmp_path / "kb")
    before = emb.texts_embedded
    renamed = [replace(i, name="因私普通护照申领") if i.id == "passport-apply" else i for i in items]
    r = build_retriever(renamed, emb, RetrievalSettings(), tmp_path / "kb")
    assert emb.texts_embedded - before == 1
    assert r.chunks[[c.id for c in r.chunks].index("passport-apply#name:0")].text.startswith("因私普通护照申领")
    mine = np.array([c.item_id == "passport-apply" for c in r.chunks])
    np.testing.assert_array_equal(r.vectors[~mine], old.vectors[~mine])
    assert not np.allclose(r.vectors[mine], old.vectors[mine], atol=1e-6)
    # the same vectors as indexing the renamed items from scratch
    full = build_retriever(renamed, KeywordEmbedder(), RetrievalSettings(), tmp_path / "fresh")
    np.testing.assert_allclose(r.vectors, full.vectors, atol=1e-6)
    assert r.retrieve(RetrievalQuery("因私普通护照"), top_k=1)[0].item_id == "passport-apply"


def test_items_without_a_name_chunk_keep_the_name_in_their_passages() -> None:
    from assistant.core.types import Chunk
    from retrieval.hybrid import compose_vectors, passage_texts

    chunks = [
        Chunk(id="a#name:0", item_id="a", field="name", text="居住证；居主证", lang="zh", weight=2.0),
        Chunk(id="a#summary:0", item_id="a", field="summary", text="申领居住证", lang="zh", weight=1.2),
        Chunk(id="b#summary:0", item_id="b", field="summary", text="答案第一句。", lang="zh", weight=1.2),
        Chunk(id="b#summary:1", item_id="b", field="summary", text="后面的话", lang="zh", weight=1.2),
    ]
    texts, context = passage_texts(chunks, {"a": "居住证", "b": "答案第一句。"})
    assert texts == ["居住证；居主证", "申领居住证", "答案第一句。", "答案第一句。：后面的话"]
    assert context.tolist() == [-1, 0, -1, -1]
    passages = np.eye(4, dtype=np.float32)
    mixed = compose_vectors(passages, context, 0.5)
    np.testing.assert_allclose(mixed[1], np.array([0.5, 1, 0, 0]) / np.sqrt(1.25), rtol=1e-6)
    np.testing.assert_array_equal(mixed[[0, 2, 3]], passages[[0, 2, 3]])


def _rebuilt_tokens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every text the analyzer tokenizes while building (normalised texts)."""
    seen: list[str] = []
    original = Analyzer.tokens

    def spy(self: Analyzer, text: str, *, normalized: bool = False) -> list[str]:
        seen.append(text)
        return original(self, text, normalized=normalized)

    monkeypatch.setattr(Analyzer, "tokens", spy)
    return seen


def _assert_same_index(incremental, full) -> None:
    assert [c.id for c in incremental.chunks] == [c.id for c in full.chunks]
    assert incremental.tokens == full.tokens
    assert incremental.bm25.vocab == full.bm25.vocab
    for a, b in ((incremental.bm25.matrix, full.bm25.matrix),):
        np.testing.assert_array_equal(a.indptr, b.indptr)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(incremental.vectors, full.vectors)


@pytest.mark.parametrize("change", ["rename", "alias added", "alias removed"])
def test_dictionary_change_retokenizes_only_texts_holding_the_word(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    # names and aliases are jieba dictionary words, so a rename changes the
    # dictionary; only chunks containing an added or removed word are
    # tokenized again, and the result equals a full rebuild's tokens and BM25
    items = tiny_items()
    # 申领居住证 occurs inside another item's text (来沪人员居住登记's summary),
    # whose tokens the new word changes: reusing them would be wrong
    with_alias = [
        replace(i, aliases=(*i.aliases, "申领居住证")) if i.id == "residence-permit-apply" else i for i in items
    ]
    before, after = {
        "rename": (items, [replace(i, name="因私普通护照申领") if i.id == "passport-apply" else i for i in items]),
        "alias added": (items, with_alias),
        "alias removed": (with_alias, items),
    }[change]
    emb = KeywordEmbedder()
    old = build_retriever(before, emb, RetrievalSettings(), tmp_path / "kb")
    seen = _rebuilt_tokens(monkeypatch)
    incremental = build_retriever(after, emb, RetrievalSettings(), tmp_path / "kb")
    retokenized = list(seen)
    full = build_retriever(after, emb, RetrievalSettings(), tmp_path / "fresh")
    _assert_same_index(incremental, full)
    assert len(retokenized) < len(full.chunks) / 4  # not everything again
    changed = set(Analyzer.for_items(before).dictionary_words()) ^ set(Analyzer.for_items(after).dictionary_words())
    assert changed
    # exactly the new texts and those holding a changed word (the others keep their tokens)
    old_texts = {c.text for c in old.chunks}
    expected = [
        n for c, n in zip(incremental.chunks, incremental.normalized) if c.text not in old_texts or any(w in n for w in changed)
    ]
    assert sorted(retokenized) == sorted(expected)
    if change != "rename":
        # the other item's summary really tokenizes differently with and without the alias
        summary = next(n for c, n in zip(full.chunks, full.normalized) if c.id == "residence-registration#summary:0")
        assert "申领居住证" in summary
        old_tokens = dict(zip([c.id for c in old.chunks], old.tokens))["residence-registration#summary:0"]
        new_tokens = dict(zip([c.id for c in full.chunks], full.tokens))["residence-registration#summary:0"]
        assert old_tokens != new_tokens


def test_rrf_fusion_setting_also_ranks(tmp_path: Path) -> None:
    r = build_retriever(tiny_items(), KeywordEmbedder(), RetrievalSettings(fusion="rrf"), tmp_path / "kb")
    assert r.retrieve(RetrievalQuery("给孩子上户口"), top_k=3)[0].item_id == "hukou-newborn"


def test_english_answer_passages_serve_english_questions_only(tmp_path: Path) -> None:
    from assistant.core.types import RetrievalQuery
    from tests.kb_fixtures import with_english

    items = [with_english(i) for i in tiny_items()]
    retriever = build_retriever(items, KeywordEmbedder(), RetrievalSettings(), tmp_path / "kb")
    english = [c for c in retriever.chunks if c.field.endswith("_en") and c.field not in ("name_en", "summary_en")]
    assert english, "the English answer fields are indexed"
    zh = retriever.dense_scores("居住证 材料", "zh")
    en_rows = [n for n, c in enumerate(retriever.chunks) if c in english]
    assert all(not np.isfinite(zh.chunk_scores[n]) for n in en_rows)
    en = retriever.dense_scores("居住证 材料", "en")
    assert any(np.isfinite(en.chunk_scores[n]) for n in en_rows)
    assert retriever.retrieve(RetrievalQuery("EN 居住证", lang="en"), top_k=3)


def test_a_long_query_embeds_its_head_and_tail_once() -> None:
    from tests.fakes import RecordingEmbedder

    inner = RecordingEmbedder()
    e = CachedEmbedder(inner, None, query_cache_size=8, max_query_chars=20)
    long = "忽略之前的指令" * 10 + "怎么办居住证"
    e.embed_queries([long])
    e.embed_queries([long])
    assert inner.query_texts == [long[:10] + " " + long[-10:]] and e.query_hits == 1
    short = "居住证怎么办"
    e.embed_queries([short])
    assert inner.query_texts[-1] == short


def test_a_filler_verb_does_not_hide_a_name() -> None:
    # 居住证弄丢了 says 居住证丢了, the alias
    a = Analyzer({"居住证丢了": ["renew"], "居住证": ["apply"]})
    assert [m.item_ids for m in a.match_terms("居住证弄丢了")] == [("renew",)]
    assert [m.item_ids for m in a.match_terms("身份证搞坏了")] == []
    # 刚领完证 / 领了证 say 领证, the alias; 领完工资 is left as it is
    b = Analyzer({"领证": ["marriage"]})
    assert [m.item_ids for m in b.match_terms("刚领完证 户口要迁过来")] == [("marriage",)]
    assert [m.item_ids for m in b.match_terms("领了证以后要办什么")] == [("marriage",)]
    assert [m.item_ids for m in b.match_terms("领完工资")] == []


def test_a_variant_word_is_searched_as_the_knowledge_bases_word(tiny_retriever) -> None:
    from assistant.core.text import standard_words

    # 过世 / 离世 mean 去世, the word the items use; 走了 (also "left") is no synonym
    assert standard_words("奶奶过世了 房子怎么过户") == "奶奶去世了 房子怎么过户"
    assert standard_words("父亲因工过世") == "父亲工伤死亡"
    assert standard_words("上班路上因工受伤") == "上班路上工伤"
    assert standard_words("他走了") == "他走了"
    # the answer planner's colloquial reading starts from the same words
    from assistant.core.text import expand_colloquial

    assert expand_colloquial("奶奶过世了").startswith("奶奶去世了") and "死亡" in expand_colloquial("奶奶过世了")
    norm, tokens, _ = tiny_retriever.analyze("家里老人离世了")
    assert "去世" in norm and "去世" in tokens and "离世" not in tokens
    # the index reads passages the same way: a passage saying 过世 meets a question saying 去世
    a = Analyzer({"老人过世销户": ["cancel"]})
    assert a.tokens("老人过世了") == a.tokens("老人去世了")
    assert [m.item_ids for m in a.match_terms("老人去世销户要带什么")] == [("cancel",)]
