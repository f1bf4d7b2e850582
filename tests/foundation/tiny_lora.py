"""Write a tiny LoRA adapter GGUF for the bundled Gemma 3 270M with the `gguf` package.

The layout is what llama.cpp's adapter loader reads (vendor/llama.cpp/src/llama-adapter.cpp in
llama-cpp-python 0.3.36): `general.type = adapter`, `general.architecture` equal to the base model's,
`adapter.type = lora`, `adapter.lora.alpha`; for each adapted base tensor `W` (ggml shape
[n_in, n_out]) a pair `W.lora_a` of shape [n_in, r] and `W.lora_b` of shape [r, n_out]. numpy writes
shapes in the reverse order, so A is an (r, n_in) array and B an (n_out, r) array. The loader checks
every shape against the base model, so a wrong one fails to load. The effective weight is
W + scale * (alpha / r) * B·A.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

# Gemma 3 270M (the bundled GGUF's metadata): 18 blocks, embedding 640, 4 query heads of 256, FFN 2048.
BLOCKS, EMBEDDING, QUERY, FFN = 18, 640, 1024, 2048


def write_lora(out: Path, *, rank: int = 4, magnitude: float = 0.05, seed: int = 0) -> Path:
    """An adapter on every attention query and FFN-up projection, with random A and B."""
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(out, arch="gemma3")
    writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(rank))
    for block in range(BLOCKS):
        for name, n_out in (("attn_q", QUERY), ("ffn_up", FFN)):
            tensor = f"blk.{block}.{name}.weight"
            writer.add_tensor(
                f"{tensor}.lora_a", rng.normal(0, magnitude, (rank, EMBEDDING)).astype(np.float32)
            )
            writer.add_tensor(f"{tensor}.lora_b", rng.normal(0, magnitude, (n_out, rank)).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
