"""`pins:` — where a rolled-back release is pinned, so a deploy pipeline does not ship it again."""

from __future__ import annotations

from pathlib import PurePath

from pydantic import Field, field_validator

from backout.config.sections import Section


class PinSettings(Section):
    """A pin file in the team's deploy repository, committed by backout after each rollback.

    backout refuses to deploy a rolled-back release itself; the pin file tells everything else
    that deploys (a CI pipeline, a GitOps controller) the same thing.
    """

    repository: str = Field(
        min_length=1,
        description="A git working copy of the deploy repository (relative to the config file).",
    )
    file: str = Field(
        "backout-pins.json",
        min_length=1,
        description="The pin file, relative to the repository: JSON, "
        '{"pinned": {ENVIRONMENT: {SERVICE: {VERSION: {reason, incident, at}}}}}.',
    )
    push: bool = Field(
        False, description="Push each pin commit to the branch's upstream after committing."
    )
    author: str = Field(
        "backout <backout@localhost>",
        pattern=r"^[^<>]+ <[^<>]+>$",
        description="The commits' author, as `Name <email>`.",
    )

    @field_validator("file")
    @classmethod
    def _inside_the_repository(cls, value: str) -> str:
        path = PurePath(value)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError(
                f"expected a path inside the repository (such as backout-pins.json or "
                f"deploy/pins.json), got {value!r}: a pin outside it is committed nowhere"
            )
        return value
