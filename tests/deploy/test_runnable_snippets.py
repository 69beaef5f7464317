"""The shell snippets of README.md and docs/operations.md marked runnable run
as pasted (issue 14: docs that fail when pasted).

A snippet is marked by an HTML comment, invisible on a rendered page, on the
line before its ```sh fence:

    <!-- runnable -->                  safe and fast with no service
    <!-- runnable, needs services -->  needs the dev services of
                                       scripts/services.sh (CLICKTAIL_* set,
                                       as scripts/test.sh exports them)

Each runs with `bash -euo pipefail` from the repository root, so a command
that fails anywhere in a pipeline fails the test. `target/release/clicktail`
in a snippet is the release binary when built, else the debug one (CI builds
only debug). Mark only snippets that are safe to run on a shared machine
(they start, stop or delete nothing) and take seconds.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

DOCS = [REPO / "README.md", REPO / "docs" / "operations.md"]
MARKED = re.compile(r"^<!-- runnable(, needs services)? -->\n```sh\n(.*?)^```$", re.M | re.S)
SNIPPET_TIMEOUT_S = 120


def snippets() -> list[tuple[str, bool, str]]:
    """(doc:line, needs services, code) of every marked snippet."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in MARKED.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{doc.relative_to(REPO)}:{line}", bool(match.group(1)), match.group(2)))
    return found


def clicktail_binary() -> Path | None:
    for profile in ("release", "debug"):
        binary = REPO / "target" / profile / "clicktail"
        if binary.is_file():
            return binary
    return None


def test_each_doc_has_runnable_snippets():
    """A marker lost in an edit must not silently turn the check off."""
    places = {place.split(":")[0] for place, _, _ in snippets()}
    assert places == {str(doc.relative_to(REPO)) for doc in DOCS}


@pytest.mark.parametrize("place,needs_services,code", snippets(), ids=[place for place, _, _ in snippets()])
def test_snippet_runs_as_pasted(place: str, needs_services: bool, code: str):
    if needs_services and not os.environ.get("CLICKTAIL_KAFKA_BROKERS"):
        pytest.skip("needs the dev services: run through scripts/test.sh or after `eval \"$(scripts/services.sh up)\"`")
    if "target/release/clicktail" in code:
        binary = clicktail_binary()
        if binary is None:
            pytest.skip("no clicktail binary: `cargo build` first")
        code = code.replace("target/release/clicktail", shlex.quote(str(binary)))
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=SNIPPET_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, (
        f"{place} failed with status {result.returncode}:\n{code}\n"
        f"--- stdout\n{result.stdout[-2000:]}\n--- stderr\n{result.stderr[-2000:]}"
    )
