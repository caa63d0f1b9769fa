"""Every error backout raises on purpose, each knowing its exit code and whether a retry can help.

A library's own exceptions (httpx, psycopg, subprocess, SQLAlchemy) are translated into one of
these at the boundary of the module that calls the library, so the CLI and the API can print one
readable message and a pipeline can act on the exit code.
"""

from __future__ import annotations

from enum import IntEnum

from backout.redact import redact, redact_optional


class ExitCode(IntEnum):
    """What `backout` returns to the shell; documented in the README for CI/CD jobs."""

    OK = 0
    FAILED = 1
    USAGE = 2
    INVALID_CONFIG = 3
    NOT_FOUND = 4
    LOCKED = 5
    AWAITING_APPROVAL = 6
    ABORTED = 7
    UNAVAILABLE = 8
    NOT_CONFIRMED = 9


class BackoutError(Exception):
    """The root of every error backout raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILED
    retryable: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # Redacted once, here: every channel an error reaches (the CLI, `--json`, API bodies,
        # logs, a run's steps, the timeline) prints its message and hint, never a password.
        self.message = redact(message)
        self.hint = redact_optional(hint)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n  → {self.hint}"


class ConfigError(BackoutError):
    """The configuration file is missing, unreadable or invalid."""

    exit_code = ExitCode.INVALID_CONFIG

    shown_problems = 20
    """A file of thousands of unknown keys is one mistake: the first twenty say which."""

    def __init__(self, path: str, problems: list[str], *, hint: str | None = None) -> None:
        self.path = path
        self.problem_count = len(problems)
        self.problems = [redact(problem) for problem in problems[: self.shown_problems]]
        listing = "\n".join(f"  - {p}" for p in self.problems)
        more = self.problem_count - len(self.problems)
        if more:
            listing += f"\n  ... and {more} more problem(s)"
        super().__init__(f"{path}: {self.problem_count} problem(s)\n{listing}", hint=hint)


class NotFoundError(BackoutError):
    """A service, version, run or incident the caller named does not exist."""

    exit_code = ExitCode.NOT_FOUND


class UnknownServiceError(NotFoundError):
    def __init__(self, service: str, known: list[str]) -> None:
        super().__init__(
            f"unknown service {service!r}",
            hint=f"services in the config: {', '.join(known) or '(none)'}",
        )


class UnknownVersionError(NotFoundError):
    def __init__(self, service: str, version: str, known: list[str]) -> None:
        super().__init__(
            f"service {service!r} has no recorded release {version!r}",
            hint=f"known versions: {', '.join(known) or '(none recorded)'}",
        )


class LockedError(BackoutError):
    """Another run already holds the lock of this (environment, subject)."""

    exit_code = ExitCode.LOCKED

    def __init__(self, subject: str, holder_run_id: int, *, orphaned: bool = False) -> None:
        """`subject` as a person reads it: `service 'api'`, `database 'main'`; `orphaned`: no
        process executes the holder (it died): waiting would not help."""
        self.holder_run_id = holder_run_id
        hint = f"wait for it, or see: backout run show {holder_run_id}"
        if orphaned:
            hint = (
                f"no process executes run {holder_run_id} (its process is gone): finish it "
                f"with backout resume, or stop it with backout abort {holder_run_id}"
            )
        super().__init__(f"{subject} is locked by run {holder_run_id}", hint=hint)


class RefusedError(BackoutError):
    """The request is understood but not allowed in the current state."""

    exit_code = ExitCode.FAILED


class NothingToRollBackToError(RefusedError):
    """No release to go back to: refused (exit 1, HTTP 409), as the state does not allow it;
    nothing named was unknown."""

    def __init__(self, service: str, live_and_good: str | None = None) -> None:
        if live_and_good is not None:  # the live release is the last known good itself
            super().__init__(
                f"nothing to roll back: {live_and_good} is live and good; "
                "name an older release with --to",
                hint=f"the releases of {service}: backout releases {service}",
            )
            return
        super().__init__(
            f"service {service!r} has no release marked good to roll back to",
            hint="name one with --to VERSION, or mark one good: backout release mark",
        )


class NoUnaffectedReleaseError(RefusedError):
    """A security rollback found no release marked good that no advisory affects."""

    def __init__(self, service: str, advisory: str) -> None:
        super().__init__(
            f"no release of {service} is marked good and free of security advisories: nothing "
            f"to roll back to away from {advisory}",
            hint=f"deploy a fixed release (backout deploy {service} VERSION), or name one "
            f"with backout rollback {service} --to VERSION --force",
        )


class ForceRequiredError(RefusedError):
    """A person's command that would put back a release judged bad, or lose the last known
    good: refused unless they pass --force."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or "pass --force if that is what you mean")


class NotConfirmedError(BackoutError):
    """A destructive change was not confirmed (answered no, a wrong name typed): nothing changed.

    Every command that asks before a destructive change ends with this code when it gets no
    "yes", whatever the way of asking (a prompt, `--yes`, `--confirm NAME`).
    """

    exit_code = ExitCode.NOT_CONFIRMED


class ConfirmationRequiredError(NotConfirmedError):
    """A destructive change needs a confirmation and no one is at a terminal to give it."""


class PermissionDeniedError(BackoutError):
    """The actor's role does not allow this action."""

    exit_code = ExitCode.FAILED


class AwaitingApprovalError(BackoutError):
    """The run stopped at an approval gate; a person must approve it."""

    exit_code = ExitCode.AWAITING_APPROVAL


class FencedError(BackoutError):
    """This process lost its lease (paused, cut off from the store, taken over): what it was
    about to record or do is refused, because another process acts under the lease now."""

    exit_code = ExitCode.FAILED


class RunAbortedError(BackoutError):
    exit_code = ExitCode.ABORTED


class StepFailedError(BackoutError):
    """A step did not reach its goal; `retryable` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


class UnavailableError(BackoutError):
    """Something backout depends on (a tool, a server, the state store) is not reachable."""

    exit_code = ExitCode.UNAVAILABLE
    retryable = True


class DriverError(StepFailedError):
    """A driver could not do what it was asked; raised by drivers/, translated from the platform."""


class CheckError(BackoutError):
    """A check could not run at all (as opposed to running and failing)."""


class RouterError(StepFailedError):
    """A router could not do what it was asked; raised by routers/, translated from its protocol."""
