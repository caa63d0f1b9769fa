"""What `backout check` checks further when a file is refused: the config with every refused key
left out — its default used, or its entry dropped — so that the plug-in sections the mistakes
left valid are checked in the same round."""

from __future__ import annotations

from pathlib import Path

from backout.config import Config, config_without_refused_keys

SERVICES = """\
services:
  api:
    tier: critical
    driver: {type: fake}
    health:
      - {type: command, command: "true"}
      - not a check
  web:
    tier: nonsense
    driver: {type: fake}
"""


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "backout.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_refused_key_with_a_default_takes_the_default(tmp_path: Path) -> None:
    config = config_without_refused_keys(written(tmp_path, "project: t\nwatch: {interval: 0s}\n"))

    assert config is not None
    assert config.watch.interval == Config(project="t").watch.interval


def test_a_refused_list_item_or_required_key_drops_its_entry_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    config = config_without_refused_keys(written(tmp_path, "project: t\n" + SERVICES))

    assert config is not None
    assert list(config.services) == ["api"], "web has no tier to fall back on: left out"
    assert len(config.services["api"].health) == 1


def test_nothing_is_given_when_nothing_valid_is_left_or_nothing_was_refused(
    tmp_path: Path,
) -> None:
    assert config_without_refused_keys(written(tmp_path, "project: [a, list]\n")) is None
    assert config_without_refused_keys(written(tmp_path, "project: t\n")) is None
    assert config_without_refused_keys(written(tmp_path, "project: t\n  bad: [\n")) is None
    assert config_without_refused_keys(tmp_path / "missing.yaml") is None
