"""The CLICKTAIL_* variables that deploy/ sets must be ones the binary reads.

The binary's names come from its sources (clap `env = "CLICKTAIL_..."`
attributes or any other literal in the Rust code). Each name deploy/ sets is
listed below with the roles that read it. Once a role's subcommand is
implemented (its `src/cmd/<role>.rs` no longer bails with "not implemented
yet"), every name of that role must be one the binary reads: a typo in
deploy/ would otherwise be silently ignored in production. Names of roles
still being written are reported as a skip.
"""

from __future__ import annotations

import re

import pytest

from conftest import K8S, REPO, SYSTEMD

NAME = re.compile(r"\bCLICKTAIL_[A-Z0-9_]+\b")
# Crates whose code runs inside the `clicktail` binary.
SOURCE_DIRS = ["src", "engine/src", "gateway/src", "bench/src"]


def names_in_deploy() -> dict[str, set[str]]:
    """name -> files under deploy/ that set it."""
    found: dict[str, set[str]] = {}
    files = [*K8S.rglob("*.yaml"), *K8S.rglob("*.env"), SYSTEMD / "clicktail.env.example"]
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line.startswith("#") and not re.match(r"#CLICKTAIL_\w+=", line):
                continue  # prose, except commented-out optional settings
            for name in NAME.findall(line):
                found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


def names_in_binary() -> set[str]:
    names = set()
    for directory in SOURCE_DIRS:
        for path in (REPO / directory).rglob("*.rs"):
            names.update(NAME.findall(path.read_text(encoding="utf-8", errors="replace")))
    return names


ROLES_OF = {
    "CLICKTAIL_KAFKA_BROKERS": {"worker", "gateway"},
    "CLICKTAIL_DATABASE_URL": {"worker", "gateway", "migrate"},
    "CLICKTAIL_RAW_TOPIC": {"worker", "gateway"},
    "CLICKTAIL_FILTERED_TOPIC": {"worker", "gateway"},
    "CLICKTAIL_NODE_NAME": {"worker", "gateway"},
    "CLICKTAIL_WORKER_GROUP": {"worker"},
    "CLICKTAIL_WORKER_THREADS": {"worker"},
    "CLICKTAIL_METRICS_ADDR": {"worker"},
    "CLICKTAIL_LISTEN": {"gateway"},
    "CLICKTAIL_ADMIN_TOKEN": {"gateway"},
    "CLICKTAIL_CONNECTIONS_MAX": {"gateway"},
    "CLICKTAIL_EVENT_LOOPS": {"gateway"},
}


def implemented(role: str) -> bool:
    source = REPO / "src" / "cmd" / f"{role}.rs"
    return source.is_file() and "not implemented yet" not in source.read_text(encoding="utf-8")


def test_every_deployed_name_is_classified():
    deployed = names_in_deploy()
    assert {"CLICKTAIL_KAFKA_BROKERS", "CLICKTAIL_DATABASE_URL"} <= set(deployed)
    unclassified = set(deployed) - set(ROLES_OF)
    assert not unclassified, f"add to ROLES_OF in {__file__}: {sorted(unclassified)}"


def test_deploy_sets_only_variables_the_binary_reads():
    deployed = names_in_deploy()
    known = names_in_binary()
    unknown, pending = {}, []
    for name, files in sorted(deployed.items()):
        if name in known:
            continue
        roles = ROLES_OF.get(name, set())
        if any(implemented(role) for role in roles):
            unknown[name] = sorted(files)
        else:
            pending.append(f"{name} ({'/'.join(sorted(roles))})")
    assert not unknown, f"set in deploy/ but never read by the binary: {unknown}"
    if pending:
        pytest.skip("not yet read because their subcommand is a stub: " + ", ".join(pending))
