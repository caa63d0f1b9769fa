"""Local throwaway clusters: where PostgreSQL's programs are looked for, and what is said when
they are missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from backout.db import local_cluster
from backout.errors import UnavailableError


def test_without_the_server_programs_the_error_names_the_package_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_cluster, "DEFAULT_BINDIR", tmp_path / "no-postgres")
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_config to ask either
    monkeypatch.delenv(local_cluster.BINDIR_ENV, raising=False)

    with pytest.raises(UnavailableError) as refused:
        local_cluster.require_bindir()

    assert "initdb, pg_ctl, postgres" in refused.value.message
    assert refused.value.hint is not None
    assert "apt-get install postgresql-15" in refused.value.hint


def test_the_bindir_setting_wins_when_it_holds_the_programs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for program in ("initdb", "pg_ctl", "postgres"):
        (tmp_path / program).write_text("")
    monkeypatch.setenv(local_cluster.BINDIR_ENV, str(tmp_path))

    assert local_cluster.find_bindir() == tmp_path
