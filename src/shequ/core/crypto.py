"""Personal data at rest: AES-256-GCM encryption and keyed hashes for lookup (ARCHITECTURE §7).

Ciphertexts are `v1.<key id>.<base64 nonce+ciphertext>`: the key id picks the key on rotation
(settings.FIELD_ENCRYPTION_KEYS, first encrypts, all decrypt). Equality lookups use an HMAC of the
normalised value, so the database never holds a plain ID or phone number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings


@cache
def _keys() -> dict[str, AESGCM]:
    keys = {}
    for secret in settings.FIELD_ENCRYPTION_KEYS:
        raw = hashlib.sha256(secret.encode()).digest()
        keys[hashlib.sha256(raw).hexdigest()[:8]] = AESGCM(raw)
    return keys


def _current() -> tuple[str, AESGCM]:
    return next(iter(_keys().items()))


def encrypt(plain: str) -> str:
    key_id, aes = _current()
    nonce = os.urandom(12)
    sealed = aes.encrypt(nonce, plain.encode(), key_id.encode())
    return f"v1.{key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def decrypt(token: str) -> str:
    try:
        version, key_id, body = token.split(".", 2)
        aes = _keys()[key_id]
    except (ValueError, KeyError):
        raise ValueError("not a Shequ ciphertext, or encrypted with a key that is not configured") from None
    if version != "v1":
        raise ValueError(f"unknown ciphertext version {version!r}")
    blob = base64.urlsafe_b64decode(body)
    return aes.decrypt(blob[:12], blob[12:], key_id.encode()).decode()


@cache
def _hash_key() -> bytes:
    return hashlib.sha256(("shequ-lookup:" + settings.FIELD_HASH_KEY).encode()).digest()


def keyed_hash(kind: str, normalised: str) -> str:
    """A stable, keyed digest for equality lookups; `kind` keeps IDs and phones apart."""
    return hmac.new(_hash_key(), f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()
