"""Signatures, replay window, body checks and strict AES safe-mode decryption.

wechatpy compares signatures with `!=`, has no replay window and returns empty bytes
on bad PKCS#7 padding; this module is the stricter boundary in front of it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.crypto import WeChatCrypto

_DTD_RE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_BLOCK = 32  # WeChat pads to 32-byte blocks, not AES's 16


class WebhookError(Exception):
    """A refused delivery: HTTP status plus a clear reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sha1_signature(*parts: str) -> str:
    """WeChat's signature: SHA1 over the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def verify_signature(token: str, timestamp: str, nonce: str, signature: str, *extra: str) -> None:
    """Check a signature in constant time; raise WebhookError(403) when it does not match."""
    if not signature or not timestamp or not nonce:
        raise WebhookError(403, "missing signature, timestamp or nonce")
    expected = sha1_signature(token, timestamp, nonce, *extra)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        raise WebhookError(403, "invalid signature")


def check_timestamp(timestamp: str, tolerance_seconds: int, now: float | None = None) -> None:
    """Refuse a delivery whose timestamp is outside the replay window (0 = no window)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        raise WebhookError(400, "timestamp is not an integer") from None
    if tolerance_seconds <= 0:
        return
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_seconds:
        raise WebhookError(403, f"timestamp outside the {tolerance_seconds}s replay window")


def check_xml_body(body: bytes, max_bytes: int) -> None:
    """Refuse oversized bodies and any DTD or entity declaration before parsing."""
    if len(body) > max_bytes:
        raise WebhookError(413, f"body larger than {max_bytes} bytes")
    if not body.strip():
        raise WebhookError(400, "empty body")
    if _DTD_RE.search(body):
        raise WebhookError(400, "XML with DTD or entity declarations is refused")


class MessageCrypto:
    """AES-256-CBC safe mode: strict decryption here, encryption through wechatpy."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error:
            key = b""
        if len(encoding_aes_key) != 43 or len(key) != 32:
            raise ValueError("EncodingAESKey must be 43 characters of base64 (32 bytes)")
        self._key = key
        self._token = token
        self._app_id = app_id
        self._wechatpy = WeChatCrypto(token, encoding_aes_key, app_id)

    def decrypt(self, encrypt: str) -> str:
        """Decrypt an <Encrypt> payload; raise WebhookError(400/403) on any defect."""
        try:
            data = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise WebhookError(400, "Encrypt is not valid base64") from None
        if not data or len(data) % 16:
            raise WebhookError(400, "Encrypt has an invalid length")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise WebhookError(400, "bad padding in encrypted message")
        content = plain[16:-pad]
        if len(content) < 4:
            raise WebhookError(400, "encrypted message too short")
        (xml_len,) = struct.unpack(">I", content[:4])
        if xml_len > len(content) - 4:
            raise WebhookError(400, "encrypted message length field out of range")
        xml = content[4 : 4 + xml_len]
        app_id = content[4 + xml_len :]
        if not hmac.compare_digest(app_id, self._app_id.encode("utf-8")):
            raise WebhookError(403, "AppId inside the encrypted message does not match")
        try:
            return xml.decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookError(400, "encrypted message is not UTF-8") from None

    def encrypt(self, xml: str, nonce: str, timestamp: str) -> str:
        """Wrap a plaintext reply in WeChat's encrypted envelope."""
        return str(self._wechatpy.encrypt_message(xml, nonce, timestamp))
