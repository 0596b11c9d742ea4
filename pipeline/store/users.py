"""Local staff accounts for the review app: salted scrypt password hashes, roles ``reviewer`` and ``admin``."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from pipeline.errors import BadInput
from pipeline.store import audit
from pipeline.store.db import Row, now
from pipeline.store.facade import Store

ROLES = ("reviewer", "admin")
MIN_PASSWORD = 6
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,31}")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class LoginFailed(BadInput):
    """Unknown name, wrong password or a disabled account (deliberately not told apart)."""


@dataclass(frozen=True)
class User:
    """A staff account as the app sees it (never the hash)."""

    name: str
    role: str
    active: bool = True
    created_at: str = ""
    last_login: str | None = None

    @property
    def is_admin(self) -> bool:
        """Admins may add accounts and approve despite a failing rule (with a note)."""
        return self.role == "admin"


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (hex) for storing."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a value made by :func:`hash_password` (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def check_new(name: str, password: str, role: str) -> None:
    """Raise :class:`BadInput` if a new account's name, password or role is unusable."""
    if not NAME_RE.fullmatch(name):
        raise BadInput(f"account name {name!r}: use 2-32 letters, digits, '.', '_' or '-', no spaces")
    if role not in ROLES:
        raise BadInput(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise BadInput(f"password must have at least {MIN_PASSWORD} characters")


def add_user(store: Store, name: str, password: str, role: str = "reviewer", *, replace: bool = False,
             by: str = "") -> User:
    """Create an account (or, with ``replace``, reset its password and role); audited."""
    check_new(name, password, role)
    with store.tx() as c:
        exists = c.one("SELECT 1 FROM users WHERE name=?", (name,)) is not None
        if exists and not replace:
            raise BadInput(f"account {name!r} already exists (use --replace to set a new password)")
        at = now()
        c.execute("INSERT INTO users (name, role, password, active, created_at) VALUES (?, ?, ?, 1, ?) "
                  "ON CONFLICT(name) DO UPDATE SET role=excluded.role, password=excluded.password, active=1",
                  (name, role, hash_password(password), at))
        audit.write(c, by or name, "user_reset" if exists else "user_add", field=name, new=role, at=at)
    return User(name, role, True, at)


def set_active(store: Store, name: str, active: bool, by: str) -> None:
    """Disable or re-enable an account (its past changes stay attributed to it)."""
    with store.tx() as c:
        if c.execute("UPDATE users SET active=? WHERE name=?", (int(active), name)).rowcount == 0:
            raise BadInput(f"no account {name!r}")
        audit.write(c, by, "user_enable" if active else "user_disable", field=name)


def verify(store: Store, name: str, password: str) -> User:
    """The account if ``password`` is right; raises :class:`LoginFailed` otherwise."""
    row = store.db.one("SELECT * FROM users WHERE name=?", (name.strip(),))
    if row is None:
        check_password(password, hash_password("timing-equaliser"))  # same cost as a real check
        raise LoginFailed("Nama pengguna atau kata sandi salah.")
    if not check_password(password, row["password"]) or not row["active"]:
        raise LoginFailed("Nama pengguna atau kata sandi salah.")
    with store.tx() as c:
        c.execute("UPDATE users SET last_login=? WHERE name=?", (now(), row["name"]))
    return _user(row)


def get_user(store: Store, name: str) -> User:
    """One account; raises :class:`BadInput` if it does not exist."""
    row = store.db.one("SELECT * FROM users WHERE name=?", (name,))
    if row is None:
        raise BadInput(f"no account {name!r}; create it with 'susulan users add {name} --role reviewer'")
    return _user(row)


def list_users(store: Store) -> list[User]:
    """All accounts, by name."""
    return [_user(r) for r in store.db.q("SELECT * FROM users ORDER BY name")]


def _user(row: Row) -> User:
    return User(row["name"], row["role"], bool(row["active"]), row["created_at"], row["last_login"])
