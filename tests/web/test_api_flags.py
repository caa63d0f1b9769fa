"""The kill switch over the API: flags are read with a viewer token and changed with an
operator's, each change recorded as the token, like the CLI's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from web_support import Api, Serve, write_config

from backout.flags import Evaluator
from backout.operations.tokens import Role, create_token
from backout.runtime import Runtime


@pytest.fixture
def flag_runtime(tmp_path: Path) -> Iterator[Runtime]:
    path = write_config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["services"]["api"]["guarded_by"] = ["waitlist"]
    config["flags"] = {"definitions": {"waitlist": {"rollout": 30}}}
    path.write_text(yaml.safe_dump(config))
    runtime = Runtime.open(path)
    yield runtime
    runtime.close()


@pytest.fixture
def flags_api(serve: Serve, flag_runtime: Runtime) -> Api:
    return serve(flag_runtime)


def token(runtime: Runtime, role: Role) -> str:
    return create_token(runtime, role.name.lower(), role, actor="test")


def test_the_kill_switch_over_the_api_turns_the_flag_off_and_records_the_token(
    flags_api: Api, flag_runtime: Runtime
) -> None:
    operator = token(flag_runtime, Role.OPERATOR)

    answer = flags_api.post(
        "/api/v1/flags/waitlist/disable", operator, json={"reason": "sessions 500s"}
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["sentence"] == "flag waitlist: on (30 %) → off"
    served = Evaluator.from_client_features(flag_runtime.flags().client_features())
    assert not any(served.is_enabled("waitlist", {"userId": str(i)}) for i in range(100))
    [change] = flags_api.get("/api/v1/flags/waitlist", operator).json()["changes"]
    assert (change["actor"], change["reason"]) == ("token:operator", "sessions 500s")


def test_a_viewer_reads_flags_but_may_not_change_them(
    flags_api: Api, flag_runtime: Runtime
) -> None:
    viewer = token(flag_runtime, Role.VIEWER)

    listed = flags_api.get("/api/v1/flags", viewer)
    refused = flags_api.post("/api/v1/flags/waitlist/disable", viewer, json={"reason": "x"})

    assert [f["exposure"] for f in listed.json()] == ["on (30 %)"]
    assert refused.status_code == 403
    assert flag_runtime.flags().flag("waitlist").enabled


def test_a_rollout_outside_0_to_100_and_an_unknown_flag_are_clear_errors(
    flags_api: Api, flag_runtime: Runtime
) -> None:
    operator = token(flag_runtime, Role.OPERATOR)

    too_much = flags_api.post(
        "/api/v1/flags/waitlist/rollout", operator, json={"reason": "x", "percent": 120}
    )
    unknown = flags_api.post("/api/v1/flags/nope/disable", operator, json={"reason": "x"})

    assert too_much.status_code == 422
    assert unknown.status_code == 404
    assert "unknown flag 'nope'" in unknown.text
    assert flag_runtime.flags().flag("waitlist").rollout == 30
