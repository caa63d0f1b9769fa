"""The `infrastructure:` section: the stacks a rollback may apply again with their previous
variables.

    infrastructure:
      - name: network
        tool: {type: terraform, dir: infra/network}
        variables: infra/network/live.tfvars.json   # what `backout infra record` reads

Each stack is the subject `stack:NAME` of runs and locks, so a name is listed once.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from backout.config.sections import PLAIN_NAME, PluginSpec, Section


class StackConfig(Section):
    """One infrastructure stack: its name, the tool that applies it, where its variables are."""

    name: str = Field(description="The stack's name: `stack:NAME` in runs and locks.")
    tool: PluginSpec = Field(
        description="What applies it: terraform (a root module folder, `dir`) or fake (a JSON "
        "file, for dry runs)."
    )
    variables: str | None = Field(
        None,
        description="The JSON file of the variables the pipeline applied (relative to "
        "backout.yaml's folder): what `backout infra record NAME` records when not given --vars.",
    )

    @field_validator("name")
    @classmethod
    def _a_plain_name(cls, value: str) -> str:
        if not PLAIN_NAME.fullmatch(value):
            raise ValueError(f"expected letters, digits, '.', '_' or '-' (up to 63), got {value!r}")
        return value
