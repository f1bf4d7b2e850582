"""The agent's memory (LangGraph checkpoints) encrypted at rest, with a key in RADASSIST_HOME.

LangGraph's own `EncryptedSerializer` does the work: it encrypts every value it serialises and reads
values written without encryption as before, so threads checkpointed before encryption was turned on
still resume. Its ready-made AES cipher needs pycryptodome, which radassist does not ship; the cipher
here is AES-256-GCM from `cryptography` (already installed) behind LangGraph's `CipherProtocol`.

One gap in LangGraph has to be closed here: the PostgreSQL saver stores `None`, `str`, `int`, `float`
and `bool` channel values inline in the checkpoint's JSONB column, not through the serializer, so they
would stay in plain text (the clinician's message and the answer are strings). `EncryptedPostgresSaver`
sends every channel value through the serializer instead; LangGraph reads such values back from its
blob table as usual.

The key (32 random bytes, base64) is created on first use in RADASSIST_HOME/checkpoint-key, mode 0600.
Losing it loses the agent's memory of existing threads (not the chat history); back it up with the
database.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.base import CipherProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from agent.security.secrets import private_file
from agent.settings import Settings
from common.errors import RadassistError

KEY_FILE = "checkpoint-key"
CIPHER_NAME = "aesgcm"
_NONCE_BYTES = 12


class AesGcmCipher(CipherProtocol):
    """AES-256-GCM: a fresh random nonce per value, stored in front of the ciphertext and its tag."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise RadassistError("checkpoint key: must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return CIPHER_NAME, nonce + self._aead.encrypt(nonce, plaintext, None)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        if ciphername != CIPHER_NAME:
            raise RadassistError(f"checkpoint written with unknown cipher {ciphername!r}")
        try:
            return self._aead.decrypt(ciphertext[:_NONCE_BYTES], ciphertext[_NONCE_BYTES:], None)
        except InvalidTag:
            raise RadassistError(
                "a checkpoint cannot be decrypted with the key in RADASSIST_HOME/checkpoint-key "
                "(a different key, or altered data)"
            ) from None


def checkpoint_key(settings: Settings) -> bytes:
    """The key in RADASSIST_HOME/checkpoint-key, created on first use (mode 0600)."""
    path: Path = settings.home / KEY_FILE
    made = base64.b64encode(secrets.token_bytes(32)) + b"\n"
    try:
        key = base64.b64decode(private_file(path, made).strip(), validate=True)
    except ValueError:
        raise RadassistError(f"{path}: not a base64-encoded key; restore it from a backup") from None
    if len(key) != 32:
        raise RadassistError(f"{path}: the key must be 32 bytes; restore it from a backup")
    return key


def encrypted_serde(key: bytes, serde: Any = None) -> EncryptedSerializer:
    """LangGraph's EncryptedSerializer over its usual serializer (or `serde`), with AES-256-GCM."""
    return EncryptedSerializer(AesGcmCipher(key), serde or JsonPlusSerializer())


class _Plain:
    """Marks a primitive channel value so the saver stores it through the serializer, not inline."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _is_primitive(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


class EncryptedPostgresSaver(AsyncPostgresSaver):
    """AsyncPostgresSaver that keeps no channel value in plain text (see the module docstring)."""

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        values = dict(checkpoint["channel_values"])
        versions = dict(new_versions)
        for key, value in checkpoint["channel_values"].items():
            if _is_primitive(value):
                values[key] = _Plain(value)
                # Also store unchanged ones: a thread checkpointed before encryption holds them only
                # inline in its older checkpoints, which this checkpoint no longer repeats.
                if key in checkpoint["channel_versions"]:
                    versions.setdefault(key, checkpoint["channel_versions"][key])
        routed: Any = {**checkpoint, "channel_values": values}
        return await super().aput(config, routed, metadata, versions)

    def _dump_blobs(self, thread_id: str, checkpoint_ns: str, values: dict[str, Any], versions: Any) -> Any:
        plain = {k: v.value if isinstance(v, _Plain) else v for k, v in values.items()}
        return super()._dump_blobs(thread_id, checkpoint_ns, plain, versions)
