"""Cross-validated trial of a learned reranker over our top-N on a question-answer corpus.

The question it answers: would a reranker trained on a corpus's own
development questions, over richer cheap features than ``retrieval.rerank``
uses, rank the right answer higher?  Every question is scored by a model
trained on folds that hold neither it nor any question about the same answer
(grouped k-fold), so the printed MRR@10 is out of fold; no training-set
figure is ever reported.  This is a measuring tool: nothing here is wired into
the assistant (on govqa it gained +0.006 MRR@10, see README).

    .venv/bin/python -P -m eval.rerank_cv --faq-corpus ../shared/data/msgabench/govqa_dev.jsonl

Features of a (question, candidate) pair: BM25, dense and fused scores, their
gaps to the best candidate and their ranks; character-bigram and idf-weighted
word overlap of the question with the answer, its first sentence (the name)
and its department; the question's dense similarity to the first sentence;
answer and name length; question-type cues met by the answer (money, time,
place, yes/no, how-to, materials); list-wise overlap (question words and
bigrams that few other candidates share); the longest common substring.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np

from assistant.core.errors import InvalidInput
from assistant.core.types import Hit, RetrievalQuery, ServiceItem

#: (question pattern, answer pattern): a question asking this and an answer carrying it.
CUES: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "money": (re.compile(r"多少钱|费用|收费|价格|多少元|缴费|交多少"), re.compile(r"\d+(\.\d+)?元|费")),
    "time": (re.compile(r"多久|多长时间|几天|什么时候|时间|期限|何时"), re.compile(r"\d+(个)?(工作日|日|天|月|年|小时)|时间")),
    "place": (re.compile(r"哪里|哪儿|地址|在哪|什么地方|哪个部门"), re.compile(r"地址|路\d+号|窗口|大厅|中心|号")),
    "yesno": (re.compile(r"吗|是否|能否|可否|可不可以|能不能|有没有"), re.compile(r"^(可以|不可以|能|不能|是|否|不是|没有|有|不)")),
    "how": (re.compile(r"如何|怎么|怎样|流程|步骤|办理"), re.compile(r"\d[、.．]|步骤|流程|首先|然后")),
    "material": (re.compile(r"材料|证件|资料|需要带|准备什么"), re.compile(r"材料|证|复印件|原件")),
}


def _bigrams(text: str) -> frozenset[str]:
    return frozenset(text[k : k + 2] for k in range(len(text) - 1))


@dataclass(frozen=True)
class AnswerText:
    """What the features read of one candidate item, computed once per item."""

    answer: str
    name: str
    answer_bigrams: frozenset[str]
    name_bigrams: frozenset[str]
    department_bigrams: frozenset[str]
    department: str
    name_chars: frozenset[str]
    answer_tokens: frozenset[str]
    name_tokens: frozenset[str]
    cues: frozenset[str]


#: The feature columns of :meth:`PairFeatures.rows`, in order (gap columns follow).
COLUMNS: tuple[str, ...] = (
    "bm25", "dense", "fused", "bm25_gap", "dense_gap", "fused_gap", "fused_ratio", "rr", "bm25_rr", "dense_rr",
    "alias", "name_bigrams_q", "name_bigrams_n", "answer_bigrams_q", "name_chars_q", "name_idf", "answer_idf",
    "answer_words_q", "name_sim", "department_bigrams", "department_named", "answer_len", "name_len",
    *(f"cue_{c}" for c in CUES), "rare_words", "rare_bigrams", "missing_idf", "longest_q", "longest",
)
#: Columns repeated as gaps to the best candidate of the list.
GAP_COLUMNS: tuple[str, ...] = ("name_sim", "rare_words", "rare_bigrams", "longest_q")


class PairFeatures:
    """Feature rows for a question's candidates over one retriever's corpus."""

    def __init__(self, retriever, items: Sequence[ServiceItem]) -> None:  # retriever: HybridRetriever
        self.retriever = retriever
        an = retriever.analyzer
        self.texts: dict[str, AnswerText] = {}
        for it in items:
            answer, name, dep = an.normalize(it.summary), an.normalize(it.name), an.normalize(it.department)
            self.texts[it.id] = AnswerText(
                answer=answer,
                name=name,
                answer_bigrams=_bigrams(answer),
                name_bigrams=_bigrams(name),
                department_bigrams=_bigrams(dep),
                department=dep,
                name_chars=frozenset(name),
                answer_tokens=frozenset(an.tokens(answer, normalized=True)),
                name_tokens=frozenset(an.tokens(name, normalized=True)),
                cues=frozenset(k for k, (_, a) in CUES.items() if a.search(answer)),
            )
        df: dict[str, int] = {}
        for t in self.texts.values():
            for tok in t.answer_tokens:
                df[tok] = df.get(tok, 0) + 1
        self._df, self._n = df, len(self.texts)
        ids = list(self.texts)
        vectors = retriever.embedder.embed_passages([it.name for it in items])
        self.name_vectors = dict(zip(ids, np.asarray(vectors, dtype=np.float32)))

    def idf(self, token: str) -> float:
        """Smoothed idf of ``token`` over the answers."""
        return math.log((self._n + 1) / (self._df.get(token, 0) + 0.5))

    def rows(self, question: str, hits: Sequence[Hit]) -> np.ndarray:
        """One feature row per hit (in the hits' order)."""
        an = self.retriever.analyzer
        qn = an.normalize(question)
        qset = set(an.tokens(qn, normalized=True))
        qidf = sum(self.idf(t) for t in qset) or 1.0
        qb, qc = _bigrams(qn), set(qn)
        qv = self.retriever.embedder.embed_queries([question])[0]
        bm = np.array([h.components.get("bm25", 0.0) for h in hits])
        dn = np.array([h.components.get("dense", 0.0) for h in hits])
        fu = np.array([h.score for h in hits])
        bm_rank, dn_rank = np.argsort(np.argsort(-bm)), np.argsort(np.argsort(-dn))
        asked = {k for k, (q, _) in CUES.items() if q.search(qn)}
        texts = [self.texts[h.item_id] for h in hits]
        # how many candidates share each question word / bigram (list-wise rarity)
        tcount = {t: sum(t in x.answer_tokens for x in texts) for t in qset}
        bcount = {b: sum(b in x.answer_bigrams for x in texts) for b in qb}
        n = len(hits)
        rows: list[dict[str, float]] = []
        for k, (h, x) in enumerate(zip(hits, texts)):
            longest = SequenceMatcher(None, qn, x.answer[:400], autojunk=False).find_longest_match(
                0, len(qn), 0, min(len(x.answer), 400)
            ).size
            rows.append({
                "bm25": bm[k], "dense": dn[k], "fused": fu[k],
                "bm25_gap": bm[k] - bm.max(), "dense_gap": dn[k] - dn.max(), "fused_gap": fu[k] - fu.max(),
                "fused_ratio": fu[k] / (fu.max() or 1.0),
                "rr": 1 / (k + 1), "bm25_rr": 1 / (bm_rank[k] + 1), "dense_rr": 1 / (dn_rank[k] + 1),
                "alias": h.components.get("alias", 0.0),
                "name_bigrams_q": len(qb & x.name_bigrams) / (len(qb) or 1),
                "name_bigrams_n": len(qb & x.name_bigrams) / (len(x.name_bigrams) or 1),
                "answer_bigrams_q": len(qb & x.answer_bigrams) / (len(qb) or 1),
                "name_chars_q": len(qc & x.name_chars) / (len(qc) or 1),
                "name_idf": sum(self.idf(t) for t in qset & x.name_tokens) / qidf,
                "answer_idf": sum(self.idf(t) for t in qset & x.answer_tokens) / qidf,
                "answer_words_q": len(qset & x.answer_tokens) / (len(qset) or 1),
                "name_sim": float(qv @ self.name_vectors[h.item_id]),
                "department_bigrams": len(qb & x.department_bigrams) / (len(x.department_bigrams) or 1),
                "department_named": float(bool(x.department) and x.department in qn),
                "answer_len": math.log1p(len(x.answer)), "name_len": math.log1p(len(x.name)),
                **{f"cue_{c}": float(c in asked and c in x.cues) for c in CUES},
                "rare_words": sum(math.log((n + 1) / (tcount[t] + 0.5)) * self.idf(t) for t in qset if t in x.answer_tokens),
                "rare_bigrams": sum(math.log((n + 1) / (bcount[b] + 0.5)) for b in qb if b in x.answer_bigrams),
                "missing_idf": sum(self.idf(t) for t in qset if t not in x.answer_tokens) / qidf,
                "longest_q": longest / (len(qn) or 1),
                "longest": float(longest),
            })
        out = np.array([[r[c] for c in COLUMNS] for r in rows], dtype=np.float64)
        # these again as gaps to the best candidate (how far behind the list's best)
        gaps = [COLUMNS.index(c) for c in GAP_COLUMNS]
        return np.hstack([out, out[:, gaps] - out[:, gaps].max(axis=0)])


def reciprocal_rank(labels: np.ndarray, order: np.ndarray, k: int = 10) -> float:
    """1/rank of the first relevant candidate within the first ``k`` of ``order``, else 0."""
    from eval.metrics import first_relevant_rank

    rank = first_relevant_rank(order.tolist(), set(np.flatnonzero(labels).tolist()), k)
    return 1.0 / rank if rank else 0.0


def grouped_cv(
    rows: Sequence[np.ndarray], labels: Sequence[np.ndarray], groups: Sequence[str], make_model, *, folds: int = 5
) -> np.ndarray:
    """Out-of-fold reciprocal rank per question: each is scored by a model whose folds hold none of its group."""
    from sklearn.model_selection import GroupKFold

    if len(set(groups)) < folds:
        raise InvalidInput(f"{len(set(groups))} groups cannot fill {folds} folds; pass fewer --folds")
    rr = np.zeros(len(rows))
    idx = np.arange(len(rows))
    for train, test in GroupKFold(folds).split(idx, groups=list(groups)):
        y = np.concatenate([labels[i] for i in train])
        model = make_model().fit(np.vstack([rows[i] for i in train]), y)
        for i in test:
            p = model.predict_proba(rows[i])[:, 1]
            rr[i] = reciprocal_rank(labels[i], np.lexsort((np.arange(len(p)), -p)))
    return rr


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Collect features over our top ``--depth`` and print grouped k-fold MRR@10 per model."""
    from pathlib import Path

    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from assistant.core.settings import load_settings
    from retrieval.bench import content_key, corpus_queries
    from retrieval.external_corpora import corpus_items
    from assistant.wiring import make_embedder
    from retrieval.hybrid import build_retriever

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faq-corpus", type=Path, required=True, help="question-answer corpus JSONL")
    parser.add_argument("--depth", type=int, default=20, help="candidates reranked per question")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    items = corpus_items(args.faq_corpus)
    queries = corpus_queries(args.faq_corpus)
    embedder = make_embedder(settings.embedder, settings.paths.cache_dir)
    retriever = build_retriever(items, embedder, settings.retrieval, settings.paths.index_dir / f"bench-{content_key(items)}")
    features = PairFeatures(retriever, items)
    rows, labels, groups, base = [], [], [], []
    for q in queries:
        hits = retriever.retrieve(RetrievalQuery(q.text), top_k=args.depth)
        y = np.array([h.item_id in q.gold for h in hits], dtype=np.int64)
        rows.append(features.rows(q.text, hits))
        labels.append(y)
        groups.append(q.gold[0])
        base.append(reciprocal_rank(y, np.arange(len(y))))
    models = {
        "logistic regression (C=1)": lambda: make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000)),
        "HistGradientBoosting (depth 3, 200 trees)": lambda: HistGradientBoostingClassifier(
            max_depth=3, learning_rate=0.05, max_iter=200, early_stopping=False, random_state=0
        ),
    }
    result: dict[str, object] = {
        "questions": len(queries),
        "depth": args.depth,
        "folds": args.folds,
        "mrr@10 retriever": round(float(np.mean(base)), 4),
        "recall@depth": round(float(np.mean([y.any() for y in labels])), 4),
    }
    for name, make in models.items():
        rr = grouped_cv(rows, labels, groups, make, folds=args.folds)
        result[f"cv mrr@10 {name}"] = round(float(rr.mean()), 4)
    print(json.dumps(result, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main()
