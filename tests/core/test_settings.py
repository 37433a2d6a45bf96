"""Settings come from SHEQU_* variables only and fail fast on bad values."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def run_check(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHEQU_")}
    clean |= {"SHEQU_VAR_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-m", "shequ", "check", "--deploy", "--fail-level", "WARNING"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SHEQU_DEBUG", "maybe", "must be a boolean"),
        ("SHEQU_SESSION_IDLE_MINUTES", "abc", "must be an integer"),
        ("SHEQU_LOGIN_MAX_FAILURES", "0", "between 1 and 100"),
        ("SHEQU_DATABASE_URL", "mysql://x/y", "sqlite:// or postgres://"),
        ("SHEQU_TASKS_BACKEND", "rq", "must be one of"),
    ],
)
def test_bad_values_fail_fast_with_a_message(tmp_path, name, value, says):
    result = run_check(tmp_path, **{name: value})
    assert result.returncode != 0
    assert says in result.stderr


def test_prod_profile_needs_allowed_hosts(tmp_path):
    result = run_check(tmp_path, SHEQU_PROFILE="prod")
    assert result.returncode != 0 and "SHEQU_ALLOWED_HOSTS" in result.stderr


def test_prod_profile_passes_the_deploy_check(tmp_path):
    result = run_check(tmp_path, SHEQU_PROFILE="prod", SHEQU_ALLOWED_HOSTS="shequ.example.cn")
    assert result.returncode == 0, result.stdout + result.stderr


def test_secrets_are_generated_once_into_var(tmp_path):
    run_check(tmp_path)
    first = (tmp_path / "secret_key").read_text()
    assert len(first) > 40 and oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"
    run_check(tmp_path)
    assert (tmp_path / "secret_key").read_text() == first


def test_an_empty_variable_counts_as_unset(tmp_path):
    # SHEQU_VAR_DIR= once put the generated secrets into the working directory.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHEQU_")}
    result = subprocess.run(
        [sys.executable, "-c", "from shequ import settings; print(settings.VAR_DIR)"],
        env=clean | {"SHEQU_VAR_DIR": "", "SHEQU_DEBUG": " "},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "var")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["var"]
