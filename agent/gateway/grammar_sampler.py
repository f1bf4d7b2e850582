"""Greedy decoding under a grammar that checks the model's best token before the whole vocabulary.

llama-cpp-python applies a JSON schema's grammar to every token of the vocabulary at every step: for
Gemma 3's 262,144 tokens that is about 30 ms a token on a 2-core CPU, twice the cost of computing the
token. Greedy decoding under a grammar picks the best-scoring token the grammar allows; whenever the
model's best token is allowed, that is the same token. So check that one token first (llama.cpp's own
`common_sampler` does the same), then the model's best 512, and run the full chain only when the grammar
rejects them all (or a token outside the shortlist could tie). The output is token for token the same; `tests/foundation/test_grammar_sampler.py` compares the two on the real model
and `bench/json_calls.py` measures the difference.

Only greedy calls qualify (temperature 0, neutral penalties, no logits processor): the structured
calls of the agent (entailment, tool choice, tool inputs) are all greedy. Any other call keeps
llama-cpp-python's own sampler.
"""

from __future__ import annotations

import ctypes
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import Llama
from llama_cpp._internals import LlamaContext, LlamaSampler

_NEUTRAL = {"temp": 0.0, "repeat_penalty": 1.0, "frequency_penalty": 0.0, "presence_penalty": 0.0}


class GreedyGrammarSampler:
    """A drop-in for llama-cpp-python's sampler chain `penalties (neutral) -> grammar -> greedy`.

    Checks the model's best token, then its best `shortlist` tokens, against the grammar: the best
    token the grammar allows among them is the best it allows in the whole vocabulary, since every
    other token scores lower. Only when none is allowed does the chain check the whole vocabulary."""

    def __init__(self, chain: LlamaSampler, grammar: Any, n_vocab: int, shortlist: int = 512) -> None:
        self.chain = chain
        self.grammar = grammar  # the chain's own grammar sampler: it accepts every token the chain does
        self.n_vocab = n_vocab
        self.shortlist = min(shortlist, n_vocab)
        self.steps = 0
        self.past_best = 0  # steps whose best token the grammar rejected
        self.whole_vocabulary = 0  # steps where it rejected the whole shortlist too
        self._data = (llama_cpp.llama_token_data * self.shortlist)()
        self._view = np.ctypeslib.as_array(self._data)  # the same memory, as a numpy record array
        self._candidates = llama_cpp.llama_token_data_array(
            data=self._data, size=0, selected=-1, sorted=False
        )

    def sample(self, ctx: LlamaContext, idx: int = -1) -> int:
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx.ctx, idx), shape=(self.n_vocab,))
        self.steps += 1
        best = int(np.argmax(logits))  # the first maximum, as llama.cpp's greedy sampler picks it
        token = self._best_allowed(logits, np.array([best]))
        if token is None:
            self.past_best += 1
            top = np.argpartition(-logits, self.shortlist - 1)[: self.shortlist]
            token = self._best_allowed(logits, top)
            if token is not None and logits[token] <= logits[top].min():
                token = None  # a token outside the shortlist may tie with it: let the chain decide
        if token is None:
            self.whole_vocabulary += 1
            return int(self.chain.sample(ctx, idx))  # llama.cpp applies the chain and accepts the token
        self.chain.accept(token)  # as llama_sampler_sample does: penalties, grammar and greedy see it
        return token

    def _best_allowed(self, logits: Any, tokens: Any) -> int | None:
        """The best-scoring of `tokens` the grammar allows now (ties: the lowest id, as greedy picks)."""
        n = len(tokens)
        view = self._view[:n]
        view["id"], view["logit"], view["p"] = tokens, logits[tokens], 0.0
        self._candidates.size, self._candidates.selected, self._candidates.sorted = n, -1, False
        llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(self._candidates))
        allowed = np.flatnonzero(np.isfinite(view["logit"]))
        if not len(allowed):
            return None
        best = view["logit"][allowed].max()
        return int(view["id"][allowed][view["logit"][allowed] == best].min())

    def accept(self, token: int) -> None:
        self.chain.accept(token)


class GrammarCheckingLlama(Llama):
    """`llama_cpp.Llama` whose greedy grammar-constrained calls check the best token first."""

    last_sampler: GreedyGrammarSampler | None = None

    def _init_sampler(self, *args: Any, **kwargs: Any) -> Any:
        chain = super()._init_sampler(*args, **kwargs)
        greedy = not args and all(kwargs.get(k, v) == v for k, v in _NEUTRAL.items())
        if kwargs.get("grammar") is None or kwargs.get("logits_processor") is not None or not greedy:
            return chain
        grammar = _grammar_of(chain)
        if grammar is None:  # a chain laid out differently (another llama-cpp-python): keep it as it is
            return chain
        self.last_sampler = GreedyGrammarSampler(chain, grammar, self._n_vocab)
        return self.last_sampler


def _grammar_of(chain: LlamaSampler) -> Any:
    """The grammar sampler inside a chain whose other samplers leave the best token where it is."""
    names = [  # llama.cpp names a sampler it cannot run on the backend "?name"
        llama_cpp.llama_sampler_name(llama_cpp.llama_sampler_chain_get(chain.sampler, i)).lstrip(b"?")
        for i in range(llama_cpp.llama_sampler_chain_n(chain.sampler))
    ]
    if sorted(names) != sorted([b"penalties", b"grammar", b"greedy"]) or names[-1] != b"greedy":
        return None
    return llama_cpp.llama_sampler_chain_get(chain.sampler, names.index(b"grammar"))
