"""systemd units under deploy/systemd: they parse (`systemd-analyze verify`
where available, else a section/key check), carry the hardening and limits
the design needs, and read the same settings as the Kubernetes ConfigMap.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import K8S, SYSTEMD

UNITS = sorted(SYSTEMD.glob("*.service"))
BINARY = "/usr/local/bin/clicktail"
ENV_FILE = "/etc/clicktail/clicktail.env"

# Keys the fallback parser accepts per section: the ones these units use plus
# the common ones (systemd.unit(5), systemd.service(5), systemd.exec(5),
# systemd.kill(5)). A typo or a key in the wrong section fails.
KNOWN_KEYS = {
    "Unit": {"Description", "Documentation", "After", "Before", "Wants", "Requires",
             "BindsTo", "PartOf", "Conflicts", "StartLimitIntervalSec", "StartLimitBurst",
             "ConditionPathExists", "AssertPathExists"},
    "Service": {"Type", "ExecStart", "ExecStartPre", "ExecStartPost", "ExecReload", "ExecStop",
                "EnvironmentFile", "Environment", "DynamicUser", "User", "Group",
                "KillSignal", "KillMode", "TimeoutStopSec", "TimeoutStartSec", "Restart",
                "RestartSec", "RemainAfterExit", "LimitNOFILE", "NoNewPrivileges",
                "CapabilityBoundingSet", "AmbientCapabilities", "ProtectSystem", "ProtectHome",
                "PrivateTmp", "PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules",
                "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock", "ProtectHostname",
                "ProtectProc", "RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime",
                "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute",
                "SystemCallArchitectures", "SystemCallFilter", "UMask", "CPUAffinity",
                "StateDirectory", "RuntimeDirectory", "WorkingDirectory"},
    "Install": {"WantedBy", "RequiredBy", "Alias", "Also"},
}


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """INI-like unit parser: section -> key -> values (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    logical = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = logical + raw.strip()
        if line.endswith("\\"):
            logical = line[:-1] + " "
            continue
        logical = ""
        if not line or line.startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[([A-Za-z]+)\]", line)
        if header:
            current = header.group(1)
            assert current in KNOWN_KEYS, f"{path.name}:{number}: unknown section [{current}]"
            assert current not in sections, f"{path.name}:{number}: section [{current}] twice"
            sections[current] = {}
            continue
        assert current is not None, f"{path.name}:{number}: key before any section"
        key, separator, value = line.partition("=")
        assert separator, f"{path.name}:{number}: not 'Key=value': {line}"
        key = key.strip()
        assert key in KNOWN_KEYS[current], f"{path.name}:{number}: unknown key {key} in [{current}]"
        sections[current].setdefault(key, []).append(value.strip())
    return sections


def single(unit: dict, section: str, key: str) -> str:
    values = unit.get(section, {}).get(key)
    assert values, f"missing {key}= in [{section}]"
    return values[-1]


def test_units_present():
    names = {p.name for p in UNITS}
    assert names == {"clicktail-worker.service", "clicktail-gateway.service", "clicktail-migrate.service"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (the key check below still runs)")
def test_systemd_analyze_verify(tmp_path):
    """The real parser. verify also insists that ExecStart's binary exists,
    so the units are copied with ExecStart pointing at a stub."""
    stub = tmp_path / "clicktail"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text().replace(BINARY, str(stub)))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *[str(tmp_path / u.name) for u in UNITS]],
        capture_output=True, text=True, timeout=60, check=False,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not output, f"systemd-analyze verify:\n{output}"


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_keys_and_hardening(path):
    unit = parse_unit(path)
    assert set(unit) == {"Unit", "Service", "Install"}, path.name
    role = path.stem.removeprefix("clicktail-")
    assert single(unit, "Service", "ExecStart") == f"{BINARY} {role}"
    assert single(unit, "Service", "EnvironmentFile") == ENV_FILE
    # A dedicated unprivileged identity, no way back to root.
    assert single(unit, "Service", "DynamicUser") == "yes" or single(unit, "Service", "User") not in ("", "root")
    expected = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "RestrictSUIDSGID": "yes",
        "CapabilityBoundingSet": "", "SystemCallArchitectures": "native",
    }
    for key, value in expected.items():
        assert single(unit, "Service", key) == value, f"{path.name}: {key}"
    assert "network-online.target" in single(unit, "Unit", "After")
    assert single(unit, "Install", "WantedBy") == "multi-user.target"
    if role == "migrate":
        assert single(unit, "Service", "Type") == "oneshot"
        return
    # Long-running roles: ordered after the migration, drain on SIGTERM.
    assert "clicktail-migrate.service" in single(unit, "Unit", "After")
    assert "clicktail-migrate.service" in single(unit, "Unit", "Wants")
    assert single(unit, "Service", "KillSignal") == "SIGTERM"
    assert int(single(unit, "Service", "TimeoutStopSec")) >= 30
    assert single(unit, "Service", "Restart") in ("on-failure", "always")
    descriptors = int(single(unit, "Service", "LimitNOFILE").split(":")[0])
    if role == "gateway":
        # 50,000 sessions + as many ingest sockets + Kafka/PostgreSQL + slack.
        assert descriptors >= 2 * 50_000 + 10_000, "gateway: LimitNOFILE too low for 50,000 sessions"
    else:
        assert descriptors >= 4096


def test_fallback_parser_rejects_misplaced_keys(tmp_path):
    """The key check is a real check: a [Service] key in [Unit] fails."""
    bad = tmp_path / "bad.service"
    bad.write_text("[Unit]\nDescription=x\nLimitNOFILE=1\n[Service]\nExecStart=/bin/true\n")
    with pytest.raises(AssertionError, match="unknown key LimitNOFILE in \\[Unit\\]"):
        parse_unit(bad)


def test_env_example_covers_every_setting():
    """Bare metal and Kubernetes read the same variables."""
    example = SYSTEMD / "clicktail.env.example"
    settings = {}
    for line in example.read_text().splitlines():
        line = line.strip().lstrip("#").strip()
        match = re.fullmatch(r"(CLICKTAIL_[A-Z0-9_]+|RUST_LOG)=(.*)", line)
        if match:
            settings[match.group(1)] = match.group(2)
    config = {
        line.split("=", 1)[0]
        for line in (K8S / "base" / "config.env").read_text().splitlines()
        if line and not line.startswith("#")
    }
    missing = config - set(settings)
    assert not missing, f"clicktail.env.example lacks {sorted(missing)}"
    for secret in ("CLICKTAIL_DATABASE_URL", "CLICKTAIL_ADMIN_TOKEN"):
        assert "CHANGE_ME" in settings[secret], f"{secret} must be a placeholder"


def test_sysctl_file_parses_and_sizes_for_50k_sockets():
    values = {}
    for line in (SYSTEMD / "99-clicktail-sysctl.conf").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, separator, value = line.partition("=")
        assert separator, line
        assert re.fullmatch(r"[a-z0-9_.-]+", key.strip()), line
        values[key.strip()] = value.strip()
    assert int(values["net.core.somaxconn"]) >= 4096
    low, high = map(int, values["net.ipv4.ip_local_port_range"].split())
    assert high - low >= 50_000
    assert int(values["fs.nr_open"]) >= 262_144
