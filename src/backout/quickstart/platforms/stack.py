"""The story's infrastructure: a Terraform root module made only of what needs no provider
download (`terraform_data`, variables, outputs, a local state), applied as a pipeline would —
through backout's own terraform tool (infra/terraform.py), as `infrastructure[0]` names it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backout.infra import stack_tool_for
from backout.quickstart.platforms._children import require_program
from backout.runtime import Runtime

INSTALL = (
    "install terraform (1.4 or newer; Debian has no package): "
    "https://developer.hashicorp.com/terraform/install"
)
STACK = "app"

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


def apply(runtime: Runtime, variables: dict[str, Any], vars_file: Path) -> None:
    """Plan and apply `variables` (kept in `vars_file`, which `backout infra record` reads),
    as the team's pipeline would."""
    vars_file.write_text(json.dumps(variables), encoding="utf-8")
    tool = stack_tool_for(runtime.config, STACK)
    saved = runtime.config.state_dir / "infra" / STACK / "pipeline.tfplan"
    tool.apply(tool.plan(variables, saved).saved)


def outputs(runtime: Runtime) -> dict[str, Any]:
    return stack_tool_for(runtime.config, STACK).outputs()
