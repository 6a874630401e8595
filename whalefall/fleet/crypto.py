"""Instance passwords at rest: Fernet, with a key from the settings or derived from the secret key.

``WHALEFALL_ENCRYPTION_KEY`` (or ``_FILE``) holds one Fernet key, or several
separated by commas: the first encrypts, any of them decrypts (rotation: put
the new key first, re-save the instances, drop the old key). Without it the
key is derived from the secret key with HKDF-SHA256, so changing the secret
key makes stored passwords unreadable — :func:`check_secrets` says so at
start-up instead of connecting with empty passwords.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select

from whalefall.errors import ConfigError
from whalefall.fleet.errors import SecretUnreadable

HKDF_SALT = b"whalefall-fleet"
HKDF_INFO = b"instance passwords v1"


def derive_key(secret_key: str) -> bytes:
    """The Fernet key derived from the secret key (HKDF-SHA256, 32 bytes, url-safe base64)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT, info=HKDF_INFO).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw)


def parse_keys(value: str) -> list[bytes]:
    """The Fernet keys in a comma-separated setting; raises ConfigError naming the setting, never the key."""
    keys = [part.strip().encode() for part in value.split(",") if part.strip()]
    for index, key in enumerate(keys, 1):
        try:
            valid = len(base64.urlsafe_b64decode(key)) == 32
        except (ValueError, TypeError):
            valid = False
        if not valid:
            raise ConfigError(
                f"WHALEFALL_ENCRYPTION_KEY: key {index} is not a Fernet key (32 bytes, url-safe "
                f"base64; make one with `python -c 'from cryptography.fernet import Fernet; "
                f"print(Fernet.generate_key().decode())'`)"
            )
    return keys


@functools.lru_cache(maxsize=8)
def _cipher(encryption_key: str | None, secret_key: str) -> MultiFernet:
    keys = (parse_keys(encryption_key) if encryption_key and encryption_key.strip() else []) or [
        derive_key(secret_key)
    ]
    return MultiFernet([Fernet(k) for k in keys])


def cipher(runtime) -> MultiFernet:
    return _cipher(runtime.settings.encryption_key, runtime.secret_key)


def encrypt(runtime, plaintext: str) -> str:
    return cipher(runtime).encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(runtime, token: str | None, *, instance_name: str = "?") -> str:
    """The plaintext password; raises :class:`SecretUnreadable` rather than answer an empty string."""
    if not token:
        return ""
    try:
        return cipher(runtime).decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError):
        raise SecretUnreadable(unreadable_message([instance_name])) from None


def unreadable_message(names: list[str]) -> str:
    return (
        f"WHALEFALL_ENCRYPTION_KEY: the stored password of instance(s) {', '.join(names)} cannot be "
        f"decrypted with the configured key (was WHALEFALL_ENCRYPTION_KEY or WHALEFALL_SECRET_KEY "
        f"changed?). Restore the old key, or add it after the new one, comma-separated."
    )


def check_secrets(runtime) -> int:
    """Decrypt every stored instance password; raise :class:`SecretUnreadable` (a ConfigError)
    naming the instances whose password the key cannot read. Returns how many were checked.

    Call at start-up, after migrating: a wrong key then stops the process
    instead of every fleet task failing to authenticate later.
    """
    from whalefall.models.fleet import Instance

    cipher(runtime)  # a malformed key stops start-up even with no instance yet
    with runtime.db.read() as session:
        rows = list(
            session.execute(
                select(Instance.name, Instance.password_encrypted).where(
                    Instance.password_encrypted.is_not(None)
                )
            )
        )
    bad = []
    for name, token in rows:
        try:
            decrypt(runtime, token, instance_name=name)
        except SecretUnreadable:
            bad.append(name)
    if bad:
        raise SecretUnreadable(unreadable_message(bad))
    return len(rows)
