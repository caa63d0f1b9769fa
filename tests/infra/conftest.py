"""Infrastructure stacks for the tests: a Terraform root module made only of what needs no
provider download (`terraform_data`, `local-exec`, variables, outputs; a local state), so the
real terraform runs offline; and a backout.yaml naming it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

BACKOUT = Path(sys.executable).with_name("backout")

# Each apply of the stack appends the image it deployed to deployed.log, as a real stack's
# provisioners would act on the world: the log tells how many applies ran.
MAIN_TF = """
variable "image" { type = string }
variable "replicas" {
  type    = number
  default = 1
}
resource "terraform_data" "app" {
  input            = { image = var.image, replicas = var.replicas }
  triggers_replace = [var.image, var.replicas] # a new deploy (and its provisioner) per change
  provisioner "local-exec" {
    command = "echo ${var.image} >> ${path.module}/deployed.log"
  }
}
output "image" { value = terraform_data.app.output.image }
output "replicas" { value = terraform_data.app.output.replicas }
"""


def needs_terraform() -> None:
    if shutil.which("terraform") is None:
        pytest.skip(
            "terraform is not on the PATH: install it from "
            "https://developer.hashicorp.com/terraform/install (Debian has no package)"
        )


@dataclass
class Stack:
    """The module folder of one test stack, applied with the terraform CLI as a pipeline would."""

    dir: Path

    def apply(self, variables: dict[str, Any]) -> None:
        var_file = self.dir.parent / "pipeline.tfvars.json"
        var_file.write_text(json.dumps(variables))
        for argv in (
            ["terraform", "init", "-input=false", "-no-color"],
            ["terraform", "apply", "-auto-approve", "-input=false", "-no-color",
             f"-var-file={var_file}"],
        ):  # fmt: skip
            subprocess.run(argv, cwd=self.dir, check=True, capture_output=True, timeout=120)

    def outputs(self) -> dict[str, Any]:
        done = subprocess.run(
            ["terraform", "output", "-json"], cwd=self.dir, check=True, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        return {k: v["value"] for k, v in json.loads(done.stdout).items()}

    def deployed(self) -> list[str]:
        log = self.dir / "deployed.log"
        return log.read_text().split() if log.exists() else []


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    needs_terraform()
    folder = tmp_path / "infra" / "app"
    folder.mkdir(parents=True)
    (folder / "main.tf").write_text(MAIN_TF)
    return Stack(folder)


def write_config(workspace: Path, *stacks: dict[str, Any], **more: Any) -> Path:
    config = {
        "project": "infra-test",
        "state": {"database": "sqlite:///.backout/state.db", "directory": ".backout"},
        "infrastructure": list(stacks),
        **more,
    }
    path = workspace / "backout.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def backout(workspace: Path, *args: str, failpoints: str | None = None) -> Done:
    """The `backout` program, run in `workspace` on its backout.yaml."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOUT_")}
    env.update(COLUMNS="200", BACKOUT_ACTOR="alice@test")
    if failpoints is not None:
        env["BACKOUT_FAILPOINTS"] = failpoints
    done = subprocess.run(
        [str(BACKOUT), *args, "--config", str(workspace / "backout.yaml")],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return Done(done.returncode, done.stdout, done.stderr)
