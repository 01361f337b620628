"""One Analyzer owns tokenization for indexing and querying, and is saved with the index.

Pipeline: the project's one normaliser (``assistant.core.text.normalize``:
NFKC, traditional -> simplified, lower case, Chinese numerals before a unit ->
digits, collapsed whitespace), then jieba in search mode with a user
dictionary of item names, aliases and departments (so official names stay
whole), stop words and punctuation dropped.

Query understanding lives here too, because it needs the same vocabulary:
``match_terms`` finds names/aliases in a query (exactly, by pinyin such as
``shebaoka``, or by homophone miswriting such as 居主证 for 居住证).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from assistant.core.errors import IndexNotBuilt
from assistant.core.text import longer_names, normalize, plain_verbs, standard_words

#: Bumped when tokens change; 5: the shared normaliser (assistant.core.text) also
#: collapses whitespace and applies NFKC before t2s; 6: true synonyms are indexed and
#: searched as the knowledge base's word (过世 as 去世, ``core.text.standard_words``).
ANALYZER_VERSION = 6

#: Function words and question fillers that carry no topic.
STOPWORDS: frozenset[str] = frozenset(
    """的 了 吗 呢 吧 啊 呀 哦 嘛 么 是 在 和 与 及 或 就 都 也 还 又 把 被 给 让 对 从 向 到 为 以 之 其 该 这 那 这个 那个 这些 那些
    我 我们 你 你们 您 他 她 它 他们 自己 请问 请 问 想 想要 要 能 能够 可以 可否 会 应该 需要 如何 怎么 怎样 怎么样 什么 哪些 哪个 哪里 哪儿
    多少 几 是否 有没有 没有 有 一下 一个 个 谢谢 你好 您好 啥 咋 怎 怎么办 咋办 要啥 办啥 an a the of to for and or is are do does how what where which i my""".split()
)

_PUNCT_RE = re.compile(r"^[\W_]+$", re.UNICODE)
_CJK_RE = re.compile(r"[\u4e00-\u9fff]+")
_LATIN_RE = re.compile(r"[a-z]+")

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _base_jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.dt.check_initialized()
    return jieba.dt


@lru_cache(maxsize=8192)
def _pinyin_cached(text: str) -> tuple[str, ...]:
    from pypinyin import lazy_pinyin

    return tuple(lazy_pinyin(text))


def _pinyin(text: str) -> list[str]:
    # cached: citizens repeat questions, and pypinyin costs ~1 ms a sentence
    return list(_pinyin_cached(text))


@dataclass(frozen=True)
class TermMatch:
    """A name or alias found in a query: how (``exact``, ``pinyin``, ``homophone``) and for which items."""

    term: str
    item_ids: tuple[str, ...]
    how: str


class Analyzer:
    """Normalises and tokenizes text the same way for the index and for queries.

    ``terms`` maps each name/alias (normalised) to the items it names; the
    user dictionary, pinyin keys and homophone keys are derived from it.
    Save with :meth:`save`, restore with :meth:`load`.
    """

    def __init__(
        self,
        terms: Mapping[str, Sequence[str]] | None = None,
        *,
        extra_words: Iterable[str] = (),
        stopwords: Iterable[str] = STOPWORDS,
    ) -> None:
        self.stopwords = frozenset(stopwords)
        self.terms: dict[str, tuple[str, ...]] = {}
        for term, ids in (terms or {}).items():
            t = self.normalize(term)
            if len(t) >= 2:
                self.terms[t] = tuple(sorted(set(self.terms.get(t, ()) + tuple(ids))))
        self.extra_words = tuple(sorted({self.normalize(w) for w in extra_words if len(w.strip()) >= 2}))
        self._tokenizer = None
        self._pinyin_keys: dict[str, set[str]] | None = None
        self._term_lengths: tuple[int, ...] = ()
        self._all_lengths: tuple[int, ...] | None = None
        self._longer: dict[str, tuple[str, ...]] | None = None

    # ------------------------------------------------------------------ building

    @classmethod
    def for_items(cls, items: Iterable[object]) -> Analyzer:
        """An analyzer whose vocabulary holds the names, aliases and departments of ``items``.

        Long names (over 12 characters, e.g. first sentences of corpus answers)
        are kept out of the dictionary: as single tokens they would hide their words.
        """
        terms: dict[str, list[str]] = {}
        extra: set[str] = set()
        for item in items:
            names = [item.name, *item.aliases]  # type: ignore[attr-defined]
            for n in names:
                if 2 <= len(n) <= 12:
                    terms.setdefault(n, []).append(item.id)  # type: ignore[attr-defined]
            dept = item.department  # type: ignore[attr-defined]
            if 2 <= len(dept) <= 16:
                extra.add(dept)
        return cls(terms, extra_words=extra)

    def fingerprint(self) -> dict[str, object]:
        """Everything that determines tokens; saved with the index and compared on load."""
        return {
            "version": ANALYZER_VERSION,
            "terms": {t: list(ids) for t, ids in sorted(self.terms.items())},
            "extra_words": list(self.extra_words),
            "stopwords": sorted(self.stopwords),
        }

    def vocabulary_fingerprint(self) -> dict[str, object]:
        """What changes tokens (not which items a term names)."""
        fp = self.fingerprint()
        fp["terms"] = sorted(self.terms)
        return fp

    def save(self, path: Path) -> None:
        """Write the analyzer as JSON."""
        Path(path).write_text(json.dumps(self.fingerprint(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Analyzer:
        """Read an analyzer saved by :meth:`save`."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise IndexNotBuilt(f"cannot read analyzer {path}: {e}; rebuild with 'xiaoshen kb build'") from e
        if raw.get("version") != ANALYZER_VERSION:
            raise IndexNotBuilt(
                f"analyzer {path} has version {raw.get('version')!r}, this code needs {ANALYZER_VERSION}; "
                "rebuild with 'xiaoshen kb build'"
            )
        return cls(raw["terms"], extra_words=raw["extra_words"], stopwords=raw["stopwords"])

    # ------------------------------------------------------------------ text

    @staticmethod
    def normalize(text: str) -> str:
        """The project's one normaliser (``assistant.core.text.normalize``), then true
        synonyms as the knowledge base's word (过世 as 去世, ``core.text.standard_words``).

        Passages and questions alike go through here: a passage saying 过世 and a
        question saying 去世 meet.  The intent model reads messages through the core
        normaliser, so both hand the embedder the same text, and a message is
        embedded once per turn, unless it says one of the few synonym variants.
        """
        return standard_words(normalize(text))

    def _jieba(self):
        if self._tokenizer is None:
            import jieba

            base = _base_jieba()
            tok = jieba.Tokenizer()
            # share the default dictionary instead of reloading it (saves ~1 s)
            tok.FREQ = dict(base.FREQ)
            tok.initialized = True
            for word in self.dictionary_words():
                # each word's frequency from the base dictionary alone, and the
                # total left at the base's: so a text's tokens depend only on the
                # dictionary words it contains (see dictionary_words), which lets
                # re-indexing re-tokenize just the texts holding a changed word
                tok.add_word(word, base.suggest_freq(word, False))
            tok.total = base.total
            self._tokenizer = tok
        return self._tokenizer

    def dictionary_words(self) -> tuple[str, ...]:
        """The words added to jieba's dictionary (names, aliases, departments), sorted.

        Tokenization is local in them: a word's frequency is computed from the
        base dictionary alone and the dictionary total is the base's, and jieba
        consults the dictionary only for substrings of the text it cuts.  So
        adding or removing a word W can change the tokens of a text only if
        the normalised text contains W (``tokens_may_differ``).
        """
        words = set(self.terms) | set(self.extra_words)
        return tuple(sorted(w for w in words if not any(ch.isspace() for ch in w)))

    def same_tokenization_rules(self, other: Analyzer) -> bool:
        """True when ``other`` tokenizes like this analyzer apart from dictionary words."""
        return self.stopwords == other.stopwords

    def dictionary_change(self, other: Analyzer) -> re.Pattern[str] | None:
        """A pattern matching any dictionary word added or removed between ``other`` and this analyzer.

        A normalised text the pattern does not find is tokenized identically by
        both analyzers (given ``same_tokenization_rules``); None when the
        dictionaries are equal.
        """
        changed = set(self.dictionary_words()) ^ set(other.dictionary_words())
        if not changed:
            return None
        return re.compile("|".join(re.escape(w) for w in sorted(changed, key=len, reverse=True)))

    def load_resources(self) -> None:
        """Load jieba and pypinyin now (idempotent) so the first query is fast."""
        self._jieba()
        self._pinyin_index()

    def tokens(self, text: str, *, normalized: bool = False) -> list[str]:
        """Index/query tokens of ``text``: jieba search-mode words minus stop words."""
        norm = text if normalized else self.normalize(text)
        out = []
        for tok in self._jieba().lcut_for_search(norm):
            tok = tok.strip()
            if not tok or tok in self.stopwords or _PUNCT_RE.match(tok):
                continue
            out.append(tok)
        return out

    # ------------------------------------------------------------------ query understanding

    def _pinyin_index(self) -> dict[str, set[str]]:
        if self._pinyin_keys is None:
            keys: dict[str, set[str]] = {}
            for term in self.terms:
                if _CJK_RE.fullmatch(term):
                    keys.setdefault("".join(_pinyin(term)), set()).add(term)
            self._pinyin_keys = keys
            self._term_lengths = tuple(sorted({len(t) for t in self.terms if _CJK_RE.fullmatch(t) and len(t) >= 3}))
        return self._pinyin_keys

    def _exact_lengths(self) -> tuple[int, ...]:
        if self._all_lengths is None:
            self._all_lengths = tuple(sorted({len(t) for t in self.terms}))
        return self._all_lengths

    def term_items(self, term: str) -> tuple[str, ...]:
        """The items ``term`` may name: its own, and those of longer terms that contain it.

        居住证 names the permit, but also lies in 居住证签注 and 居住证积分: said
        alone it heads a family of items, and the rest of the message decides
        among them rather than the one item that took the short alias.
        """
        if self._longer is None:
            self._longer = longer_names(list(self.terms))
        longer = self._longer.get(term, ())
        if not longer:
            return self.terms.get(term, ())
        return tuple(sorted({*self.terms.get(term, ()), *(i for other in longer for i in self.terms[other])}))

    def match_terms(self, text: str, *, normalized: bool = False) -> list[TermMatch]:
        """Names and aliases named by ``text``, longest matches only.

        Exact substrings first; then latin words that spell a term in pinyin
        (``shebaoka`` -> 社保卡); then Chinese spans of 3+ characters that sound
        like a term (居主证 -> 居住证).
        """
        norm = plain_verbs(text if normalized else self.normalize(text))
        found: dict[str, str] = {}
        # look each span up instead of scanning every term: a query has a few
        # hundred spans, a corpus may have thousands of names
        for length in self._exact_lengths():
            for start in range(0, len(norm) - length + 1):
                span = norm[start : start + length]
                if span in self.terms:
                    found[span] = "exact"
        keys = self._pinyin_index()
        for word in _LATIN_RE.findall(norm):
            for term in keys.get(word, ()):
                found.setdefault(term, "pinyin")
        for run in _CJK_RE.findall(norm):
            if len(run) < 3:
                continue
            syllables = _pinyin(run)
            if len(syllables) != len(run):
                continue
            for length in self._term_lengths:
                for start in range(0, len(run) - length + 1):
                    span = run[start : start + length]
                    for term in keys.get("".join(syllables[start : start + length]), ()):
                        if term != span:
                            found.setdefault(term, "homophone")
        # keep the longest: 居住证续签 hides 居住证
        terms = sorted(found, key=len, reverse=True)
        kept: list[str] = []
        for t in terms:
            if found[t] == "exact" and any(t in k for k in kept if found[k] == "exact"):
                continue
            kept.append(t)
        return [TermMatch(t, self.term_items(t), found[t]) for t in kept]
