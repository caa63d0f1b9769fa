"""The `terraform` tool: a stack is a Terraform root module (`dir`) with its own state.

Runs the `terraform` binary found on the PATH (or `binary`) in the stack's folder:
`init -input=false` once, `plan -detailed-exitcode -var-file=VARS.tfvars.json -out=PLAN`,
`apply PLAN`, `output -json`. The state is whatever backend the module declares (a local
`terraform.tfstate` when none). Every failure is an InfraError ending with Terraform's error.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field

from backout.durations import PositiveDuration
from backout.infra.base import InfraError, StackPlan, Variables
from backout.infra.context import StackContext
from backout.registry import PluginSettings

_TAIL_LINES = 12
_SUMMARY = re.compile(r"^Plan: .*$", re.MULTILINE)
# Exit codes of `plan -detailed-exitcode`.
_NO_CHANGES, _CHANGES = 0, 2
_MAY_ASK = frozenset({"init", "plan", "apply"})  # the commands taking -input=false


class TerraformSettings(PluginSettings):
    dir: str = Field(
        description="The stack's root module folder (relative to backout.yaml's folder)."
    )
    binary: str = Field("terraform", description="The terraform program (default: on the PATH).")
    timeout: PositiveDuration = Field(
        timedelta(minutes=15), description="How long one terraform command may take."
    )


class Terraform:
    """One stack's root module, planned and applied by the terraform binary."""

    def __init__(self, settings: TerraformSettings, context: StackContext) -> None:
        self._dir = context.resolve(settings.dir)
        self._binary = settings.binary
        self._timeout_s = settings.timeout.total_seconds()
        self._where = f"{context.where}.tool.dir"
        self._work = context.state_dir / "infra" / context.service
        self._initialised = False

    def plan(self, variables: Variables, save_to: Path) -> StackPlan:
        save_to.parent.mkdir(parents=True, exist_ok=True)
        var_file = save_to.with_suffix(".tfvars.json")
        var_file.write_text(json.dumps(variables, indent=2, sort_keys=True))
        done = self._terraform(
            "plan", "-detailed-exitcode", f"-var-file={var_file}", f"-out={save_to}",
            ok=(_NO_CHANGES, _CHANGES),
        )  # fmt: skip
        text = done.stdout.strip()
        found = _SUMMARY.search(text)
        summary = found.group(0).removeprefix("Plan: ").rstrip(".") if found else "no changes"
        return StackPlan(text, done.returncode == _CHANGES, summary, save_to)

    def apply(self, saved: Path) -> None:
        self._terraform("apply", "-auto-approve", str(saved))

    def matches(self, variables: Variables) -> bool:
        self._work.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self._work) as scratch:
            var_file = Path(scratch) / "check.tfvars.json"
            var_file.write_text(json.dumps(variables))
            done = self._terraform(
                "plan", "-detailed-exitcode", "-lock=false", f"-var-file={var_file}",
                ok=(_NO_CHANGES, _CHANGES),
            )  # fmt: skip
        return done.returncode == _NO_CHANGES

    def outputs(self) -> dict[str, Any]:
        done = self._terraform("output", "-json")
        shown: dict[str, Any] = json.loads(done.stdout or "{}")
        return {
            name: "(sensitive)" if item.get("sensitive") else item.get("value")
            for name, item in shown.items()
        }

    def _terraform(
        self, command: str, *args: str, ok: tuple[int, ...] = (0,)
    ) -> subprocess.CompletedProcess[str]:
        if command != "init" and not self._initialised:
            self._terraform("init")
            self._initialised = True
        asks = ["-input=false"] if command in _MAY_ASK else []
        done = self._run([self._binary, command, *asks, "-no-color", *args])
        if done.returncode not in ok:
            raise InfraError(
                f"terraform {command} in {self._dir} failed (exit {done.returncode}): "
                + _tail(done.stderr or done.stdout)
            )
        return done

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        if not self._dir.is_dir():
            raise InfraError(f"the stack folder {self._dir} does not exist ({self._where})")
        env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
        try:
            return subprocess.run(
                argv,
                cwd=self._dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=self._timeout_s,
                check=False,
            )
        except FileNotFoundError:
            raise InfraError(
                f"cannot run {self._binary!r}: not found (install Terraform, "
                "https://developer.hashicorp.com/terraform/install, or set tool.binary)"
            ) from None
        except subprocess.TimeoutExpired:
            raise InfraError(
                f"terraform {argv[1]} in {self._dir} took longer than {self._timeout_s:.0f} s "
                "(tool.timeout)",
                retryable=True,
            ) from None


def _tail(text: str) -> str:
    """The last lines of what terraform said from its first error on (its warnings before, such
    as a missing CLI configuration, say nothing of this failure), without its box drawing."""
    lines = [line.strip(" │╷╵") for line in text.strip().splitlines()]
    kept = [line for line in lines if line]
    first_error = next((i for i, line in enumerate(kept) if line.startswith("Error:")), 0)
    kept = kept[first_error:]
    return " / ".join(kept[-_TAIL_LINES:]) or "(it said nothing)"
