"""docs/models.md cannot rot: every python and bash block runs, in order, in an empty directory.

``# file: NAME`` blocks are written to NAME; ``bash`` lines run as ``python -m
streamapp ...``; ``sh`` blocks need a broker and are not run here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DOC = REPO / "docs" / "models.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


def test_the_page_has_what_the_test_runs() -> None:
    langs = [lang for lang, _ in blocks()]
    assert langs.count("python") >= 5 and langs.count("bash") >= 2


def _commands(text: str) -> list[list[str]]:
    joined = text.replace("\\\n", " ")
    return [shlex.split(line) for line in joined.splitlines() if line.strip()]


def test_every_block_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    namespace: dict[str, object] = {"__name__": "__doc__"}
    for lang, text in blocks():
        first = text.splitlines()[0] if text else ""
        if lang == "python" and first.startswith("# file: "):
            (tmp_path / first.removeprefix("# file: ").strip()).write_text(text)
        elif lang == "python":
            exec(compile(text, str(DOC), "exec"), namespace)
        elif lang == "bash":
            for argv in _commands(text):
                assert argv[0] == "streamapp", argv
                done = subprocess.run(
                    [sys.executable, "-m", "streamapp", *argv[1:]],
                    env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                )
                assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    assert (tmp_path / "models" / "friedman-gbr" / "2" / "profile.json").is_file()
    assert (tmp_path / "models" / "churn" / "1" / "model.onnx").is_file()
    for name in ("digits-ffn", "digits-ffn-cli", "digits-cnn", "messages"):  # tensor models
        assert (tmp_path / "models" / name / "1" / "reference.npz").is_file(), name
    assert (tmp_path / "models" / "messages" / "1" / "tokenizer.json").is_file()
