"""The `fake` infrastructure tool (a JSON file of the applied variables) through the same
rollback: what users dry-run a stack's plan with, and a check of the plan's logic without
terraform."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from tests.infra.conftest import backout, write_config

AWAITING_APPROVAL = 6


def _apply_and_record(workspace: Path, variables: dict[str, str]) -> None:
    state = workspace / ".backout" / "fake-stack.json"
    state.parent.mkdir(exist_ok=True)
    state.write_text(json.dumps({"variables": variables}))
    (workspace / "vars.json").write_text(json.dumps(variables))
    assert backout(workspace, "infra", "record", "net").code == 0


def test_a_fake_stack_goes_back_after_its_plan_is_approved(tmp_path: Path) -> None:
    write_config(tmp_path, {"name": "net", "tool": {"type": "fake"}, "variables": "vars.json"})
    _apply_and_record(tmp_path, {"cidr": "10.0.0.0/16"})
    _apply_and_record(tmp_path, {"cidr": "10.9.0.0/16"})

    waiting = backout(tmp_path, "rollback", "stack:net", "--yes", "--json")
    assert waiting.code == AWAITING_APPROVAL, waiting
    assert "cidr: '10.9.0.0/16' -> '10.0.0.0/16'" in waiting.json()["message"]
    done = backout(tmp_path, "approve", str(waiting.json()["run_id"]))

    assert done.code == 0, done
    state = json.loads((tmp_path / ".backout" / "fake-stack.json").read_text())
    assert state == {"variables": {"cidr": "10.0.0.0/16"}}


def test_a_stack_put_back_by_hand_is_refused_not_rolled_forward(tmp_path: Path) -> None:
    write_config(tmp_path, {"name": "net", "tool": {"type": "fake"}, "variables": "vars.json"})
    _apply_and_record(tmp_path, {"cidr": "10.0.0.0/16"})
    _apply_and_record(tmp_path, {"cidr": "10.9.0.0/16"})
    state = tmp_path / ".backout" / "fake-stack.json"
    state.write_text(json.dumps({"variables": {"cidr": "10.0.0.0/16"}}))  # not recorded

    done = backout(tmp_path, "rollback", "stack:net", "--dry-run")

    assert done.code != 0
    assert "matches its previous variables (cidr=10.0.0.0/16) already" in done.stderr


def test_a_secret_variable_is_masked_wherever_the_recorded_version_is_shown(
    tmp_path: Path,
) -> None:
    write_config(tmp_path, {"name": "net", "tool": {"type": "fake"}, "variables": "vars.json"})
    _apply_and_record(tmp_path, {"db_password": "hunter2infra", "image": "app:v1"})
    _apply_and_record(tmp_path, {"db_password": "hunter3infra", "image": "app:v1"})

    shown = backout(tmp_path, "infra", "show", "net")
    preview = backout(tmp_path, "rollback", "stack:net", "--dry-run")

    for said in (shown.stdout + shown.stderr, preview.stdout + preview.stderr):
        assert "hunter2infra" not in said
        assert "hunter3infra" not in said
    assert re.search(r"db_password=\*\*\*, image=app:v1 #[0-9a-f]{8}", preview.stdout), preview
    # The digest is keyed with this installation's key: a plain hash would let a reader test
    # guesses of the password against it.
    guessable = {"db_password": "hunter2infra", "image": "app:v1"}
    plain = hashlib.sha256(json.dumps(guessable, sort_keys=True, separators=(",", ":")).encode())
    assert plain.hexdigest()[:8] not in preview.stdout
    key = tmp_path / ".backout" / "infra-label.key"
    assert key.stat().st_mode & 0o777 == 0o600
