"""The session store on its own, with a clock the test moves: sessions end at their age
limit, when their token is revoked, and at sign-out; a role changed is taken."""

from __future__ import annotations

from backout.errors import PermissionDeniedError
from backout.operations.tokens import Role
from backout.web.dashboard.sessions import SessionStore


class Tokens:
    """The store's answer for each token digest, changed by the test."""

    def __init__(self) -> None:
        self.roles: dict[str, Role] = {"d1": Role.OPERATOR}
        self.checks = 0

    def check(self, digest: str) -> tuple[str, Role]:
        self.checks += 1
        if digest not in self.roles:
            raise PermissionDeniedError("invalid or revoked API token")
        return "alice", self.roles[digest]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make() -> tuple[SessionStore, Tokens, Clock]:
    tokens, clock = Tokens(), Clock()
    return SessionStore(tokens.check, clock, max_age_s=3600, recheck_s=5), tokens, clock


def test_a_session_is_found_by_its_random_id_and_keeps_no_token() -> None:
    store, _, _ = make()

    session = store.open("d1", "alice", Role.OPERATOR)

    assert store.get(session.id) == session
    assert store.get("another id") is None
    assert len(session.id) >= 40
    assert session.csrf != session.id
    assert session.actor == "token:alice"


def test_the_token_is_checked_again_once_the_last_check_is_old_enough() -> None:
    store, tokens, clock = make()
    session = store.open("d1", "alice", Role.OPERATOR)

    clock.now += 4.9
    assert not store.due_for_check(session)
    clock.now += 0.1
    assert store.due_for_check(session)

    tokens.roles["d1"] = Role.APPROVER
    checked = store.recheck(session)
    assert checked is not None
    assert checked.role is Role.APPROVER
    assert not store.due_for_check(checked)


def test_a_revoked_token_ends_the_session() -> None:
    store, tokens, clock = make()
    session = store.open("d1", "alice", Role.OPERATOR)
    del tokens.roles["d1"]
    clock.now += 5

    assert store.recheck(session) is None
    assert store.get(session.id) is None


def test_a_session_ends_at_its_age_limit_and_at_sign_out() -> None:
    store, _, clock = make()
    old = store.open("d1", "alice", Role.OPERATOR)
    clock.now += 3599
    young = store.open("d1", "alice", Role.OPERATOR)
    clock.now += 1

    assert store.get(old.id) is None
    assert store.get(young.id) == young
    store.close(young.id)
    assert store.get(young.id) is None
    assert store.recheck(young) is None  # signed out meanwhile: not brought back
