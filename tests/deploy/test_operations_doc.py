"""docs/operations.md covers what the issue asks for, and every repository
path it names exists (a renamed manifest must not leave a dead pointer)."""

from __future__ import annotations

import re

from conftest import REPO

DOC = REPO / "docs" / "operations.md"


def test_sections_present():
    text = DOC.read_text(encoding="utf-8")
    headings = [h.lower() for h in re.findall(r"^#+ (.+)$", text, flags=re.M)]
    for topic in ("topics and partitions", "postgresql", "capacity", "upgrade and rollback", "kernel"):
        assert any(topic in h for h in headings), f"operations.md has no section on {topic}"
    for figure in ("somaxconn", "ip_local_port_range", "LimitNOFILE", "max_connections", "8000 bytes", "perf/results/"):
        assert figure in text, f"operations.md does not mention {figure}"


def test_repository_paths_exist():
    text = DOC.read_text(encoding="utf-8")
    for path in sorted(set(re.findall(r"`((?:deploy|tests/deploy|docs)/[^`\s]+)`", text))):
        assert (REPO / path.rstrip("/")).exists(), f"operations.md names {path}, which does not exist"
