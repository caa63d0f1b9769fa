"""The story's infrastructure: a Terraform root module made only of what needs no provider
download (`terraform_data`, variables, outputs, a local state), applied as a pipeline would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from backout.errors import BackoutError
from backout.quickstart.platforms._children import require_program

INSTALL = (
    "install terraform (1.4 or newer; Debian has no package): "
    "https://developer.hashicorp.com/terraform/install"
)
STACK = "app"
TIMEOUT_S = 120

MAIN_TF = """\
# The Badminton Group's infrastructure, as the quickstart models it: the image the API runs and
# how many replicas. terraform_data is built into Terraform, so nothing is downloaded.
variable "api_image" { type = string }
variable "replicas" {
  type    = number
  default = 2
}
resource "terraform_data" "api" {
  input = { image = var.api_image, replicas = var.replicas }
}
output "api_image" { value = terraform_data.api.output.image }
output "replicas" { value = terraform_data.api.output.replicas }
"""


def write_module(folder: Path) -> None:
    require_program("terraform", INSTALL)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.tf").write_text(MAIN_TF, encoding="utf-8")


def apply(folder: Path, variables: dict[str, Any], vars_file: Path) -> None:
    """`terraform init` and `apply` with `variables` (written to `vars_file`), as a pipeline."""
    vars_file.write_text(json.dumps(variables), encoding="utf-8")
    _terraform(folder, "init", "-input=false", "-no-color")
    _terraform(
        folder, "apply", "-auto-approve", "-input=false", "-no-color", f"-var-file={vars_file}"
    )


def outputs(folder: Path) -> dict[str, Any]:
    done = _terraform(folder, "output", "-json")
    return {name: value["value"] for name, value in json.loads(done).items()}


def _terraform(folder: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["terraform", *args],
            cwd=folder,
            check=False,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise BackoutError(f"terraform {args[0]} did not finish in {TIMEOUT_S}s") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise BackoutError(f"terraform {args[0]} failed in {folder}: {' '.join(said)}")
    return done.stdout
