"""A BERT sentence encoder in NumPy, for sentence-transformers models of the plain BERT kind.

Why: importing sentence-transformers pulls in torch, transformers and scikit-learn, about 5 s per
CLI command on 2 cores, to embed one query. The bundled all-MiniLM-L6-v2 is a 6-layer BERT with mean
pooling and L2 normalisation; the same weights (safetensors) and the same tokenizer (tokenizer.json)
give the same vectors here in NumPy (tests compare both to 1e-5) in a tenth of a second of imports.
Models of any other shape still go through sentence-transformers (see `embeddings.load_encoder`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

Weights = dict[str, np.ndarray]


def is_plain_bert(path: Path) -> bool:
    """True for a sentence-transformers directory holding BERT + mean pooling (+ normalisation) only."""
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
        config = json.loads((path / "config.json").read_text())
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return False
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        pooling.get(k)
        for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
    )
    return (
        modules in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
        and config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and bool(mean_only)
        and (path / "model.safetensors").is_file()
        and (path / "tokenizer.json").is_file()
    )


class BertEncoder:
    """Embeds texts as unit vectors, batch by batch, like SentenceTransformer.encode(normalize=True)."""

    def __init__(self, path: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text())
        settings = json.loads((path / "sentence_bert_config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_length = int(settings.get("max_seq_length", 256))
        weights = load_file(str(path / "model.safetensors"))
        self.w: Weights = {k.removeprefix("bert."): v for k, v in weights.items()}
        self._transposed: Weights = {}
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)
        self.dimension = int(config["hidden_size"])

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Return an (n, dimension) float32 array of L2-normalised embeddings."""
        encodings = self.tokenizer.encode_batch(texts)
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")  # little padding per batch
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            batch = [encodings[i] for i in idx]
            width = max(len(e.ids) for e in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.float32)
            for row, enc in enumerate(batch):
                ids[row, : len(enc.ids)] = enc.ids
                mask[row, : len(enc.ids)] = 1.0
            out[idx] = self._pool(self._forward(ids, mask), mask)
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        positions = np.arange(ids.shape[1])
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][positions][None]
            + w["embeddings.token_type_embeddings.weight"][0][None, None]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]  # padding gets no attention
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            attended = self._attention(x, bias, p + "attention.")
            x = self._norm(attended + x, p + "attention.output.LayerNorm")
            hidden = _gelu(self._dense(x, p + "intermediate.dense"))
            x = self._norm(self._dense(hidden, p + "output.dense") + x, p + "output.LayerNorm")
        return x

    def _attention(self, x: np.ndarray, bias: np.ndarray, p: str) -> np.ndarray:
        batch, width, size = x.shape
        head = size // self.heads

        def split(t: np.ndarray, axes: tuple[int, ...] = (0, 2, 1, 3)) -> np.ndarray:
            # contiguous per head: NumPy hands stacked matrix products to BLAS only then
            return np.ascontiguousarray(t.reshape(batch, width, self.heads, head).transpose(axes))

        q = split(self._dense(x, p + "self.query"))
        k = split(self._dense(x, p + "self.key"), (0, 2, 3, 1))
        v = split(self._dense(x, p + "self.value"))
        scores = q @ k
        scores *= np.float32(1.0 / np.sqrt(head))
        scores += bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, width, size)
        return self._dense(context, p + "output.dense")

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        weight = self._transposed.get(name)
        if weight is None:  # BLAS is fastest on one contiguous 2-D product
            weight = self._transposed[name] = np.ascontiguousarray(self.w[name + ".weight"].T)
        flat = x.reshape(-1, x.shape[-1]) @ weight
        flat += self.w[name + ".bias"]
        result: np.ndarray = flat.reshape(*x.shape[:-1], weight.shape[1])
        return result

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        result: np.ndarray = (x - mean) / np.sqrt(var + self.eps) * self.w[name + ".weight"] + self.w[
            name + ".bias"
        ]
        return result

    @staticmethod
    def _pool(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        summed = (x * mask[..., None]).sum(axis=1)
        mean = summed / np.clip(mask.sum(axis=1, keepdims=True), 1e-9, None)
        norms = np.linalg.norm(mean, axis=1, keepdims=True)
        result: np.ndarray = (mean / np.clip(norms, 1e-12, None)).astype(np.float32)
        return result


def _gelu(x: np.ndarray) -> Any:
    from scipy.special import erf  # BERT's exact GELU, as torch computes it

    return 0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))
