"""What a run acts on: typed subjects, each with its own lock.

A subject is a kind and a name: `service:backend`, `database:main`, `flag:waitlist`, and — for
the whole-environment rollbacks to come — `stack:network` (an infrastructure stack) and
`dns_record:www.example.com`. A run holds the lock of every subject it acts on; a plan over
several subjects takes their locks in one transaction in `canonical_order`, so two such plans
can never wait on each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class SubjectKind(StrEnum):
    SERVICE = "service"
    DATABASE = "database"
    FLAG = "flag"
    STACK = "stack"  # an infrastructure stack (Terraform)
    DNS_RECORD = "dns_record"


@dataclass(frozen=True, order=True)
class Subject:
    kind: SubjectKind
    name: str

    @classmethod
    def service(cls, name: str) -> Subject:
        return cls(SubjectKind.SERVICE, name)

    @classmethod
    def database(cls, name: str) -> Subject:
        return cls(SubjectKind.DATABASE, name)

    @classmethod
    def flag(cls, key: str) -> Subject:
        return cls(SubjectKind.FLAG, key)

    @classmethod
    def stack(cls, name: str) -> Subject:
        return cls(SubjectKind.STACK, name)

    @classmethod
    def dns_record(cls, name: str) -> Subject:
        return cls(SubjectKind.DNS_RECORD, name)

    @classmethod
    def parse(cls, text: str) -> Subject:
        """`kind:name` as `str()` writes it; ValueError names what was expected."""
        kind, sep, name = text.partition(":")
        if not sep or not name or kind not in SubjectKind.__members__.values():
            kinds = ", ".join(k.value for k in SubjectKind)
            raise ValueError(f"expected KIND:NAME with KIND one of {kinds}, got {text!r}")
        return cls(SubjectKind(kind), name)

    @classmethod
    def from_key(cls, key: str) -> Subject:
        """The subject a `key` names (see `key`)."""
        return cls.parse(key) if ":" in key else cls.service(key)

    @property
    def key(self) -> str:
        """How runs and incidents are listed and filtered: a service by its bare name (as in
        backout.yaml), any other subject as `kind:name` (`database:main`, `flag:waitlist`)."""
        return self.name if self.kind is SubjectKind.SERVICE else str(self)

    @property
    def label(self) -> str:
        """How a person reads it: a service by its name, anything else with its kind."""
        if self.kind is SubjectKind.SERVICE:
            return self.name
        return f"{self.kind.value.replace('_', ' ')} {self.name}"

    @property
    def described(self) -> str:
        """In a sentence: `service 'api'`, `database 'main'`, `dns record 'www'`."""
        return f"{self.kind.value.replace('_', ' ')} {self.name!r}"

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.name}"


def canonical_order(subjects: Iterable[Subject]) -> list[Subject]:
    """The one order every run takes its locks in: by kind, then name; no duplicates."""
    return sorted(set(subjects))
