"""`backout token create|revoke`: a token is printed once, alone on stdout so a script can
capture it; names are unique, roles are checked, and a revoked token no longer opens the API."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from backout.errors import PermissionDeniedError
from backout.operations.tokens import Role, authenticate

if TYPE_CHECKING:
    from tests.cli.conftest import Backout


def test_token_create_prints_the_token_alone_on_stdout(backout: Backout) -> None:
    created = backout("token", "create", "ci", "--role", "operator")

    assert created.code == 0, created
    [token] = created.stdout.splitlines()
    assert token.startswith("bk_")
    assert len(token) > 30
    assert "token 'ci' (operator); keep it now, it is not shown again" in created.stderr
    with backout.runtime() as runtime:
        assert authenticate(runtime, token) == ("ci", Role.OPERATOR)


def test_token_create_makes_a_viewer_by_default(backout: Backout) -> None:
    token = backout.ok("token", "create", "dashboard").stdout.strip()

    with backout.runtime() as runtime:
        assert authenticate(runtime, token) == ("dashboard", Role.VIEWER)


def test_token_create_refuses_a_name_already_taken(backout: Backout) -> None:
    backout.ok("token", "create", "ci")

    backout("token", "create", "ci", "--role", "admin").refused(
        1, "a token named 'ci' exists", "pick another name"
    )


def test_token_create_refuses_a_role_that_does_not_exist(backout: Backout) -> None:
    result = backout("token", "create", "ci", "--role", "boss")

    result.refused(1, "unknown role 'boss'", "roles: viewer, operator, approver, admin")
    assert result.stdout == ""


def test_token_revoke_stops_a_token_at_once(backout: Backout) -> None:
    token = backout.ok("token", "create", "ci").stdout.strip()

    revoked = backout("token", "revoke", "ci")

    assert revoked.code == 0, revoked
    assert revoked.stdout.strip() == "token 'ci' revoked"
    with backout.runtime() as runtime, pytest.raises(PermissionDeniedError):
        authenticate(runtime, token)
    backout("token", "revoke", "ci").refused(1, "there is no active token named 'ci'")
