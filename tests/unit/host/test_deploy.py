"""The container images and manifests cannot serve a private broker."""

from __future__ import annotations

import re

from tests.conftest import REPO

DEPLOY = REPO / "deploy"


def test_no_manifest_asks_for_a_local_broker() -> None:
    files = [p for p in DEPLOY.rglob("*") if p.is_file() and p.suffix in {".yml", ".yaml"}]
    assert files
    offenders = [str(p) for p in files if "local-broker" in p.read_text(errors="replace")]
    assert offenders == []


def test_images_install_the_product_alone_and_default_to_a_worker() -> None:
    for name in ("Dockerfile", "Dockerfile.cuda"):
        text = (DEPLOY / "docker" / name).read_text()
        installs = re.findall(r"pip install (\S+)", text)
        assert "." in installs, name
        assert not [i for i in installs if i.startswith(".[")], name  # no extras: no Tansu
        commands = [line for line in text.splitlines() if line.startswith(("CMD", "ENTRYPOINT"))]
        assert 'CMD ["score"]' in commands and "local-broker" not in "".join(commands), name
