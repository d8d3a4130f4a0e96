"""``python -m tests.reliability [reduced|full] [pytest args...]``: run the suite, print the table.

Runs ``tests/reliability`` and ``tests/unit/test_security.py`` with
``STREAMAPP_RELIABILITY`` set to the chosen mode, collects every scenario's
figures into ``build/reliability/<mode>-<UTC timestamp>.jsonl`` and prints
them as the Markdown table published in ``docs/reliability.md``. Exits with
pytest's exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.reliability.conftest import REPORT_ENV
from tests.reliability.sizes import MODE_ENV

REPO = Path(__file__).resolve().parents[2]
COLUMNS = (
    ("scenario", "scenario"),
    ("load", "load"),
    ("faults", "faults injected"),
    ("events_in", "events in"),
    ("predictions_out", "predictions out"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("recovery_s", "recovery time (s)"),
)


def table(rows: list[dict[str, object]]) -> str:
    """The Markdown table of recorded scenario rows (extra fields go into a notes column)."""
    known = {key for key, _title in COLUMNS} | {"test", "mode", "date", "machine"}
    lines = [
        "| " + " | ".join(title for _k, title in COLUMNS) + " | notes |",
        "|" + "---|" * (len(COLUMNS) + 1),
    ]
    for row in rows:
        cells = [str(row.get(key, "")).replace("|", "/") for key, _title in COLUMNS]
        notes = "; ".join(f"{k}={v}" for k, v in row.items() if k not in known)
        lines.append("| " + " | ".join(cells) + f" | {notes.replace('|', '/')} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    mode = "reduced"
    if argv and argv[0] in ("reduced", "full"):
        mode, argv = argv[0], argv[1:]
    out_dir = REPO / "build" / "reliability"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = out_dir / f"{mode}-{stamp}.jsonl"
    env = {**os.environ, MODE_ENV: mode, REPORT_ENV: str(report)}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "tests/reliability",
        "tests/unit/test_security.py",
        *argv,
    ]
    code = subprocess.call(cmd, cwd=REPO, env=env)
    rows = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    if rows:
        print(f"\n{mode} run, {rows[0]['date']}, {rows[0]['machine']}\n")
        print(table(rows))
        print(f"\nfigures: {report}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
