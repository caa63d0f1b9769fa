"""A DNS record back to its previous target, end to end through the `backout` program: record
the target, change it, record again, `backout rollback dns_record:NAME`, and the real BIND
answers the previous target."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from backout.dns import RecordSet
from backout.operations.dns_runs import dns_rollback_parts
from backout.runtime import Runtime
from tests.bind_support import Bind
from tests.dns_records.conftest import SEEDED, Moto, rfc2136
from tests.dns_records.conftest import route53 as moto_provider

BACKOUT = Path(sys.executable).with_name("backout")
BAD = RecordSet.of("www.example.com", "A", ["203.0.113.66"], 60)
LATER = RecordSet.of("www.example.com", "A", ["203.0.113.77"], 60)


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def workspace(tmp_path: Path, bind: Bind) -> Path:
    """A backout.yaml whose one DNS record is www.example.com on the BIND, seeded back."""
    rfc2136(bind).apply(SEEDED)
    config = {
        "project": "dns-test",
        "state": {"database": "sqlite:///.backout/state.db", "directory": ".backout"},
        "dns": [
            {
                "name": "www.example.com",
                "type": "A",
                "zone": "example.com",
                "provider": {
                    "type": "rfc2136",
                    "server": bind.server,
                    "port": bind.port,
                    "key_name": "backout",
                    "key_file": str(bind.key_file),
                },
            }
        ],
    }
    (tmp_path / "backout.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


@contextmanager
def _opened(workspace: Path) -> Iterator[Runtime]:
    runtime = Runtime.open(workspace / "backout.yaml")
    try:
        yield runtime
    finally:
        runtime.close()


def backout(workspace: Path, *args: str, failpoints: str | None = None) -> Done:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOUT_")}
    env.update(COLUMNS="200", BACKOUT_ACTOR="alice@test")
    if failpoints is not None:
        env["BACKOUT_FAILPOINTS"] = failpoints
    done = subprocess.run(
        [str(BACKOUT), *args, "--config", str(workspace / "backout.yaml")],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Done(done.returncode, done.stdout, done.stderr)


def test_rollback_dns_record_puts_the_previous_target_back_on_bind(
    workspace: Path, bind: Bind
) -> None:
    assert backout(workspace, "dns", "record").code == 0
    rfc2136(bind).apply(BAD)  # the pipeline ships a bad target
    assert backout(workspace, "dns", "record", "www.example.com").code == 0

    preview = backout(workspace, "rollback", "dns_record:www.example.com", "--dry-run", "--json")
    assert preview.code == 0, preview
    assert preview.json()["to_version"] == "192.0.2.10 ttl 300"
    assert preview.json()["from_version"] == "203.0.113.66 ttl 60"

    done = backout(workspace, "rollback", "dns_record:www.example.com", "--yes", "--json")

    assert done.code == 0, done
    assert done.json()["state"] == "succeeded"
    assert bind.answers("www.example.com") == ["192.0.2.10"]
    shown = backout(workspace, "dns", "show", "--json").json()[0]
    assert shown["answers"] == shown["recorded_live"] == "A 192.0.2.10 (ttl 300)"


def test_the_bad_target_is_not_the_previous_one_after_the_rollback(
    workspace: Path, bind: Bind
) -> None:
    backout(workspace, "dns", "record")
    rfc2136(bind).apply(BAD)
    backout(workspace, "dns", "record")
    assert backout(workspace, "rollback", "dns_record:www.example.com", "--yes").code == 0

    rfc2136(bind).apply(LATER)
    backout(workspace, "dns", "record")
    done = backout(workspace, "rollback", "dns_record:www.example.com", "--yes")

    assert done.code == 0, done
    assert bind.answers("www.example.com") == ["192.0.2.10"]  # not 203.0.113.66: rolled back


def test_a_change_nobody_recorded_goes_back_to_the_recorded_target(
    workspace: Path, bind: Bind
) -> None:
    backout(workspace, "dns", "record")
    rfc2136(bind).apply(BAD)  # changed by hand, never recorded

    done = backout(workspace, "rollback", "dns_record:www.example.com", "--yes")

    assert done.code == 0, done.stdout + done.stderr
    assert bind.answers("www.example.com") == ["192.0.2.10"]


def test_a_target_put_back_by_hand_is_not_rolled_forward_to_the_bad_one(
    workspace: Path, bind: Bind
) -> None:
    backout(workspace, "dns", "record")
    good = rfc2136(bind).read("www.example.com", "A")
    assert good is not None
    rfc2136(bind).apply(BAD)
    backout(workspace, "dns", "record")
    rfc2136(bind).apply(good)  # someone on call put it back by hand, and recorded nothing

    done = backout(workspace, "rollback", "dns_record:www.example.com", "--yes")

    assert done.code == 1, done
    assert "answers its previous target already" in done.stderr
    assert "backout dns record www.example.com" in done.stderr
    assert bind.answers("www.example.com") == ["192.0.2.10"]  # left alone, not set to BAD


def test_nothing_recorded_is_a_readable_refusal(workspace: Path) -> None:
    done = backout(workspace, "rollback", "dns_record:www.example.com", "--yes")

    assert done.code == 4, done
    assert "no previous target of www.example.com is recorded" in done.stderr
    assert "backout dns record www.example.com" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_wrong_key_fails_the_run_saying_so_and_bind_is_unchanged(
    workspace: Path, bind: Bind
) -> None:
    backout(workspace, "dns", "record")
    rfc2136(bind).apply(BAD)
    backout(workspace, "dns", "record")
    wrong = workspace / "wrong.key"
    wrong.write_text('key "backout" { algorithm hmac-sha256; secret "d3Jvbmd3cm9uZ3dyb25n"; };')
    text = (workspace / "backout.yaml").read_text().replace(str(bind.key_file), str(wrong))
    (workspace / "backout.yaml").write_text(text)

    done = backout(workspace, "rollback", "dns_record:www.example.com", "--yes")

    assert done.code == 1, done
    said = done.stdout + done.stderr
    assert "the key 'backout' is not allowed to update zone example.com" in said
    assert "d3Jvbmd3cm9uZ3dyb25n" not in said
    assert bind.answers("www.example.com") == ["203.0.113.66"]


def test_full_rollback_parts_name_each_record_or_why_it_is_left(
    workspace: Path, bind: Bind
) -> None:
    backout(workspace, "dns", "record")
    with _opened(workspace) as rt:
        left = dns_rollback_parts(rt, reason="full")
        assert left.parts == []
        assert "no previous target" in left.untouched["www.example.com"]
    rfc2136(bind).apply(BAD)
    backout(workspace, "dns", "record")
    with _opened(workspace) as rt:
        found = dns_rollback_parts(rt, reason="full")
    ((target, steps),) = found.parts
    assert str(target.subject) == "dns_record:www.example.com"
    assert target.to_version == "192.0.2.10 ttl 300"
    assert [s.kind for s in steps] == ["dns_set", "dns_verify"]


@pytest.mark.parametrize("step", [1, 2])
def test_a_rollback_killed_after_a_step_acted_resumes_without_acting_twice(
    workspace: Path, bind: Bind, step: int
) -> None:
    backout(workspace, "dns", "record")
    rfc2136(bind).apply(BAD)
    backout(workspace, "dns", "record")

    killed = backout(
        workspace,
        "rollback",
        "dns_record:www.example.com",
        "--yes",
        failpoints=f"executor.after_act={step}",
    )
    assert killed.code == -9, killed
    resumed = backout(workspace, "resume")

    assert resumed.code == 0, resumed
    assert "observed after an interruption" in json.dumps(_steps(workspace)), _steps(workspace)
    assert bind.answers("www.example.com") == ["192.0.2.10"]
    shown = backout(workspace, "dns", "show", "--json").json()[0]
    assert shown["recorded_live"] == "A 192.0.2.10 (ttl 300)"


def _steps(workspace: Path) -> list[dict[str, Any]]:
    done = backout(workspace, "run", "show", "1", "--json")
    steps: list[dict[str, Any]] = done.json()["steps"]
    return steps


def test_route53_on_moto_rollback_dns_record_puts_the_previous_target_back(
    tmp_path: Path, moto: Moto
) -> None:
    zone_id = moto.hosted_zone("example.com", SEEDED)
    record = {
        "name": "www.example.com",
        "zone": "example.com",
        "provider": {"type": "route53", "hosted_zone_id": zone_id, "endpoint_url": moto.url},
    }
    config = {"project": "dns-test", "dns": [record]}
    (tmp_path / "backout.yaml").write_text(yaml.safe_dump(config))
    route53 = moto_provider(moto, zone_id)
    assert backout(tmp_path, "dns", "record").code == 0
    route53.apply(BAD)
    assert backout(tmp_path, "dns", "record").code == 0

    done = backout(tmp_path, "rollback", "dns_record:www.example.com", "--yes", "--json")

    assert done.code == 0, done
    assert route53.read("www.example.com", "A") == SEEDED


def test_the_tsig_secret_is_never_shown_nor_stored(workspace: Path, bind: Bind) -> None:
    secret = bind.key_file.read_text().split('secret "')[1].split('"')[0]
    backout(workspace, "dns", "record")
    rfc2136(bind).apply(BAD)
    backout(workspace, "dns", "record")
    said = [
        backout(workspace, "rollback", "dns_record:www.example.com", "--yes"),
        backout(workspace, "run", "show", "1", "--json"),
        backout(workspace, "dns", "show"),
    ]

    for done in said:
        assert secret not in done.stdout + done.stderr
    for written in (workspace / ".backout").rglob("*"):  # the store, its WAL, the logs
        if written.is_file():
            assert secret.encode() not in written.read_bytes(), written
