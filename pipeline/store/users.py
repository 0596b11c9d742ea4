"""Local staff accounts for the review app: scrypt password hashes, roles, lockout, login sessions.

Decisions (see ``docs/security.md``): a password has at least :data:`MIN_PASSWORD`
characters and is not a common one; :data:`LOCK_AFTER` failed logins of one account (or
:data:`ADDRESS_LOCK_AFTER` from one address) within :data:`LOCK_WINDOW_S` lock further
tries for the rest of that window; every refusal takes at least :data:`FAIL_SECONDS` and
costs one scrypt whether the name exists or not; logins, refusals and logouts are audited.
A login opens a session of :data:`SESSION_HOURS` hours whose tokens are stored only as
hashes; disabling an account or resetting its password ends its sessions at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from pipeline.errors import BadInput
from pipeline.store import audit
from pipeline.store.db import Row, now
from pipeline.store.facade import Store

ROLES = ("reviewer", "admin")
MIN_PASSWORD = 10
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,31}")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
LOCK_AFTER = 5
"""Failed logins of one account name within :data:`LOCK_WINDOW_S` that lock it for the rest of the window."""
ADDRESS_LOCK_AFTER = 20
"""Failed logins from one network address within :data:`LOCK_WINDOW_S` that lock that address."""
LOCK_WINDOW_S = 15 * 60
FAIL_SECONDS = 1.0
"""Every refused login takes at least this long (slows guessing, hides which check refused it)."""
SESSION_HOURS = 12
COOKIE = "susulan_session"
"""Name of the browser cookie that carries a session token (HttpOnly, SameSite=Strict; see review_app/server.py)."""
HANDOFF_S = 120
"""A new session's one-time code must be exchanged for the browser cookie within this many seconds."""
COMMON_PASSWORDS = frozenset("""
123456789012 1234567890 12345678910 0123456789 9876543210 1111111111 0000000000 1234512345 1122334455
qwertyuiop qwertyuiop1 asdfghjkl1 1q2w3e4r5t 1qaz2wsx3edc passw0rd123 password12 password123 password1234
passwordpassword iloveyou12 iloveyou123 princess12 sunshine12 football12 baseball12 welcome123 welcome1234
admin12345 administrator admin123456 letmein123 monkey1234 dragon1234 master1234 superman12 trustno1234
abc1234567 abcdefghij abcd123456 qwerty1234 qwerty12345 bismillah bismillah123 sayangku123 rahasia123
rahasia1234 katasandi katasandi123 indonesia indonesia1 indonesia123 indonesia45 merdeka1945 jakarta123
surabaya123 sumenep123 puskesmas puskesmas1 puskesmas123 puskesmas2024 puskesmas2025 puskesmas2026 susulan123
susulan2025 susulan2026 kesehatan1 kesehatan123 dokter1234 perawat123 bidan12345
""".split())
"""Passwords of 10+ characters that guessing lists try first (global top lists and local words)."""


class LoginFailed(BadInput):
    """Unknown name, wrong password or a disabled account (deliberately not told apart)."""


class LoginLocked(LoginFailed):
    """Too many failed logins for this account or from this address: no password is checked for a while."""


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


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A stored-hash stand-in, so an unknown name costs the same single scrypt as a known one."""
    return hash_password(secrets.token_hex(16))


def password_problem(password: str) -> str:
    """Why ``password`` is not good enough (Bahasa Indonesia), or ``""``."""
    low = password.lower()
    if len(password) < MIN_PASSWORD:
        return f"Kata sandi minimal {MIN_PASSWORD} karakter."
    if low in COMMON_PASSWORDS or len(set(low)) < 4:
        return "Kata sandi ini terlalu umum atau mudah ditebak; pilih yang lain (mis. tiga kata acak)."
    return ""


def check_account(name: str, role: str) -> None:
    """Raise :class:`BadInput` if a new account's name or role is unusable."""
    if not NAME_RE.fullmatch(name):
        raise BadInput(f"account name {name!r}: use 2-32 letters, digits, '.', '_' or '-', no spaces")
    if role not in ROLES:
        raise BadInput(f"role must be one of {', '.join(ROLES)}")


def check_new(name: str, password: str, role: str) -> None:
    """Raise :class:`BadInput` if a new account's name, password or role is unusable."""
    check_account(name, role)
    if len(password) < MIN_PASSWORD:
        raise BadInput(f"password must have at least {MIN_PASSWORD} characters")
    if password_problem(password):
        raise BadInput("password is too common or easy to guess; choose another, e.g. three random words")


def add_user(store: Store, name: str, password: str, role: str = "reviewer", *, replace: bool = False,
             by: str = "") -> User:
    """Create an account (or, with ``replace``, reset its password and role, ending its sessions); audited."""
    check_new(name, password, role)
    with store.tx() as c:
        exists = c.one("SELECT 1 FROM users WHERE name=?", (name,)) is not None
        if exists and not replace:
            raise BadInput(f"account {name!r} already exists (use --replace to set a new password)")
        at = now()
        c.execute("INSERT INTO users (name, role, password, active, created_at) VALUES (?, ?, ?, 1, ?) "
                  "ON CONFLICT(name) DO UPDATE SET role=excluded.role, password=excluded.password, active=1",
                  (name, role, hash_password(password), at))
        c.execute("DELETE FROM login_failures WHERE name=?", (name,))
        c.execute("UPDATE sessions SET revoked_at=? WHERE name=? AND revoked_at IS NULL", (at, name))
        audit.write(c, by or name, "user_reset" if exists else "user_add", field=name, new=role, at=at)
    return User(name, role, True, at)


def set_active(store: Store, name: str, active: bool, by: str) -> None:
    """Disable or re-enable an account (its past changes stay attributed to it); disabling ends its sessions."""
    with store.tx() as c:
        if c.execute("UPDATE users SET active=? WHERE name=?", (int(active), name)).rowcount == 0:
            raise BadInput(f"no account {name!r}")
        if not active:
            c.execute("UPDATE sessions SET revoked_at=? WHERE name=? AND revoked_at IS NULL", (now(), name))
        audit.write(c, by, "user_enable" if active else "user_disable", field=name)


def unlock(store: Store, name: str, by: str) -> None:
    """Forget an account's failed logins (an admin's answer to a locked-out colleague); audited."""
    with store.tx() as c:
        c.execute("DELETE FROM login_failures WHERE name=?", (name,))
        audit.write(c, by, "user_unlock", field=name)


def verify(store: Store, name: str, password: str, address: str = "") -> User:
    """The account if ``password`` is right; raises :class:`LoginFailed` (or :class:`LoginLocked`) otherwise.

    ``address`` is the client's network address (per-address lockout, audit).
    """
    start = time.monotonic()
    name, address = name.strip()[:64], (address or "")[:64]
    where = f"dari {address or 'alamat tak dikenal'}"
    try:
        locked = _locked_for(store, name, address)
        if locked:
            raise LoginLocked(f"Terlalu banyak percobaan masuk yang gagal. Coba lagi dalam {locked} menit, atau "
                              "minta admin membuka akun ini.")
        row = store.db.one("SELECT * FROM users WHERE name=?", (name,))
        ok = check_password(password, row["password"] if row is not None else _dummy_hash())
        if row is None or not ok or not row["active"]:
            raise LoginFailed("Nama pengguna atau kata sandi salah.")
    except LoginFailed as e:
        with store.tx() as c:
            if not isinstance(e, LoginLocked):
                c.execute("INSERT INTO login_failures (name, address, at) VALUES (?, ?, ?)", (name, address, now()))
            audit.write(c, name or "-", "login_locked" if isinstance(e, LoginLocked) else "login_failed",
                        field=name, note=where)
        time.sleep(max(0.0, FAIL_SECONDS - (time.monotonic() - start)))
        raise
    with store.tx() as c:
        at = now()
        c.execute("UPDATE users SET last_login=? WHERE name=?", (at, row["name"]))
        c.execute("DELETE FROM login_failures WHERE name=?", (row["name"],))
        audit.write(c, row["name"], "login", field=row["name"], note=where, at=at)
    return _user(row)


def _locked_for(store: Store, name: str, address: str) -> int:
    """Minutes until this name (or address) may try again; 0 if it is not locked."""
    since = _iso(datetime.now(UTC) - timedelta(seconds=LOCK_WINDOW_S))
    waits = []
    for col, value, limit in (("name", name, LOCK_AFTER), ("address", address, ADDRESS_LOCK_AFTER)):
        if not value:
            continue
        rows = store.db.q(f"SELECT at FROM login_failures WHERE {col}=? AND at>? ORDER BY at DESC LIMIT ?",
                          (value, since, limit))
        if len(rows) >= limit:
            until = datetime.fromisoformat(rows[-1]["at"]) + timedelta(seconds=LOCK_WINDOW_S)
            waits.append(max(1, int((until - datetime.now(UTC)).total_seconds() // 60) + 1))
    return max(waits, default=0)


def open_session(store: Store, user: User, address: str = "") -> tuple[str, str]:
    """A new login session: ``(token, handoff)``; only their hashes are stored.

    The token identifies the session in the app's server-side session state; the
    one-time ``handoff`` code is exchanged by the browser for its HttpOnly cookie
    (:func:`take_handoff`), so that a reload keeps the login.
    """
    token, handoff = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    at = datetime.now(UTC)
    with store.tx() as c:
        c.execute("INSERT INTO sessions (token_hash, name, address, created_at, expires_at, handoff_hash, "
                  "handoff_expires) VALUES (?, ?, ?, ?, ?, ?, ?)",
                  (_digest(token), user.name, address[:64], _iso(at), _iso(at + timedelta(hours=SESSION_HOURS)),
                   _digest(handoff), _iso(at + timedelta(seconds=HANDOFF_S))))
    return token, handoff


def take_handoff(store: Store, handoff: str) -> tuple[str, int] | None:
    """Exchange a one-time code for ``(cookie value, seconds left)``; None if unknown, used or expired.

    The cookie value is a second random token of the same session (same account, same
    expiry), so the session state's token never reaches the browser's script.
    """
    with store.tx() as c:
        row = c.one("SELECT * FROM sessions WHERE handoff_hash=? AND handoff_expires>? AND revoked_at IS NULL",
                    (_digest(handoff), now()))
        if row is None:
            return None
        cookie = secrets.token_urlsafe(32)
        c.execute("UPDATE sessions SET handoff_hash=NULL, handoff_expires=NULL WHERE token_hash=?",
                  (row["token_hash"],))
        c.execute("INSERT INTO sessions (token_hash, name, address, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                  (_digest(cookie), row["name"], row["address"], row["created_at"], row["expires_at"]))
    left = int((datetime.fromisoformat(row["expires_at"]) - datetime.now(UTC)).total_seconds())
    return cookie, max(left, 0)


def session_user(store: Store, token: str | None) -> User | None:
    """The account of a live session (not expired, not ended, account active), or None."""
    if not token:
        return None
    row = store.db.one("SELECT u.* FROM sessions s JOIN users u ON u.name = s.name WHERE s.token_hash=? "
                       "AND s.revoked_at IS NULL AND s.expires_at>? AND u.active=1", (_digest(token), now()))
    return _user(row) if row is not None else None


def close_session(store: Store, token: str | None) -> None:
    """Log out: end this session and the browser cookie made from it (audited)."""
    if not token:
        return
    with store.tx() as c:
        row = c.one("SELECT name, created_at FROM sessions WHERE token_hash=?", (_digest(token),))
        if row is None:
            return
        c.execute("UPDATE sessions SET revoked_at=? WHERE name=? AND created_at=? AND revoked_at IS NULL",
                  (now(), row["name"], row["created_at"]))
        audit.write(c, row["name"], "logout", field=row["name"])


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


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")
