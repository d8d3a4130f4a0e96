"""deploy/docker: the Dockerfiles copy files that exist and run a real CLI with real settings.

No Docker engine here; the instructions are parsed and checked against the repository.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.unit.deploy.conftest import DEPLOY, REPO
from tests.unit.deploy.settings_check import is_cli_command, is_setting, settings_from_env

DOCKERFILES = ["Dockerfile", "Dockerfile.cuda"]


def _instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    text = (DEPLOY / "docker" / name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, args = line.strip().partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def _env(name: str) -> dict[str, str]:
    """The ENV of the final stage (KEY=VALUE form)."""
    instructions = _instructions(name)
    last_from = max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM")
    env: dict[str, str] = {}
    for instruction, args in instructions[last_from:]:
        if instruction == "ENV":
            env.update(re.findall(r"(\w+)=(\S+)", args))
    return env


@pytest.mark.parametrize("name", DOCKERFILES)
def test_copied_sources_exist_in_the_repository(name: str) -> None:
    copies = [a for ins, a in _instructions(name) if ins == "COPY" and "--from" not in a]
    assert copies
    for args in copies:
        words = [w for w in args.split() if not w.startswith("--")]
        for source in words[:-1]:
            assert (REPO / source).exists(), f"{name}: COPY {source} does not exist"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_entrypoint_is_the_cli_and_cmd_a_real_subcommand(name: str) -> None:
    instructions = dict(_instructions(name))
    assert json.loads(instructions["ENTRYPOINT"]) == ["streamapp"]
    assert is_cli_command(json.loads(instructions["CMD"]))
    assert "USER" in instructions and instructions["USER"] != "root"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_env_names_are_settings_and_load(name: str) -> None:
    env = {k: v for k, v in _env(name).items() if k.startswith("STREAMAPP_")}
    assert {"STREAMAPP_HTTP__HOST", "STREAMAPP_HTTP__PORT", "STREAMAPP_LOG__FORMAT"} <= set(env)
    assert all(is_setting(k) for k in env), env
    settings = settings_from_env(env)
    assert settings.http.host == "0.0.0.0"
    instructions = _instructions(name)
    exposed = [args for ins, args in instructions if ins == "EXPOSE"]
    assert exposed == [str(settings.http.port)]
    (healthcheck,) = [args for ins, args in instructions if ins == "HEALTHCHECK"]
    assert f"127.0.0.1:{settings.http.port}/health/live" in healthcheck


def test_cuda_image_scores_on_gpu_and_cpu_image_on_cpu() -> None:
    assert settings_from_env(_env("Dockerfile.cuda")).model.device == "cuda"
    assert settings_from_env(_env("Dockerfile")).model.device == "cpu"
    cuda = (DEPLOY / "docker" / "Dockerfile.cuda").read_text(encoding="utf-8")
    assert "onnxruntime-gpu" in cuda and "nvidia/cuda" in cuda
    cpu = (DEPLOY / "docker" / "Dockerfile").read_text(encoding="utf-8")
    assert "whl/cpu" in cpu


@pytest.mark.parametrize("name", DOCKERFILES)
def test_build_context_filter_keeps_what_the_build_copies(name: str) -> None:
    ignore = (DEPLOY / "docker" / f"{name}.dockerignore").read_text(encoding="utf-8")
    kept = {line[1:].split("/")[0] for line in ignore.splitlines() if line.startswith("!")}
    for args in (a for ins, a in _instructions(name) if ins == "COPY" and "--from" not in a):
        for source in [w for w in args.split() if not w.startswith("--")][:-1]:
            assert source.rstrip("/") in kept, f"{source} is excluded from the build context"
