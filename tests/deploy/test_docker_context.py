"""The Docker build, checked without a Docker engine: apply .dockerignore to
the working tree the way BuildKit does (moby/patternmatcher semantics), then
check that every file the Dockerfile COPYs is in that context, that every
crate and every include_str!/include_bytes! target the build reads is
copied, that build output and caches stay out, and that the runtime stage is
the small non-root image the Kubernetes manifests expect.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import K8S, REPO, load_yaml_documents

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

# Context size past which something big (a target/ dir, a data dump) leaked in.
CONTEXT_BYTES_MAX = 64 * 1024 * 1024


# --- .dockerignore ---------------------------------------------------------------


def pattern_to_regex(pattern: str) -> re.Pattern:
    """One .dockerignore pattern (Go filepath.Match plus `**`) as a regex."""
    out, index = "^", 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            if pattern.startswith("**", index):
                index += 2
                if pattern.startswith("/", index):  # "**/": zero or more directories
                    index += 1
                    out += "(?:.*/)?"
                else:  # trailing "**": anything, across directories
                    out += ".*"
                continue
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end == -1:
                out += re.escape(char)
            else:
                body = pattern[index + 1:end]
                out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
                index = end
        elif char == "\\" and index + 1 < len(pattern):
            index += 1
            out += re.escape(pattern[index])
        else:
            out += re.escape(char)
        index += 1
    return re.compile(out + "$")


@lru_cache(maxsize=None)
def ignore_rules() -> tuple[tuple[re.Pattern, bool], ...]:
    """(regex, is_exception) per line, in file order; cleaned like BuildKit
    (filepath.Clean: no leading '/', no trailing '/', no './')."""
    rules = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        if exception:
            line = line[1:].strip()
        line = os.path.normpath(line).lstrip("/")
        if line in (".", ""):
            continue
        rules.append((pattern_to_regex(line), exception))
    return tuple(rules)


def ignored(relative: str) -> bool:
    """True if the path (relative, '/'-separated) is left out of the context:
    the last rule matching the path or one of its parent directories wins."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for regex, exception in ignore_rules():
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not exception
    return excluded


@lru_cache(maxsize=None)
def context_files() -> tuple[str, ...]:
    """Every file BuildKit would send, relative to the repo root."""
    has_exceptions = any(exception for _regex, exception in ignore_rules())
    files = []
    for directory, subdirectories, names in os.walk(REPO):
        base = Path(directory).relative_to(REPO).as_posix()
        base = "" if base == "." else base + "/"
        if not has_exceptions:  # an excluded directory cannot be re-included
            subdirectories[:] = [d for d in subdirectories if not ignored(base + d)]
        files.extend(base + n for n in names if not ignored(base + n))
    return tuple(sorted(files))


@pytest.mark.parametrize(
    "path, expected",
    [
        ("target/release/clicktail", True),
        ("target/dist/clicktail", True),
        ("target", True),
        ("engine/target/debug/x", True),
        (".cache/deploy-venv/bin/python", True),
        (".cache/services/env", True),
        (".git/HEAD", True),
        ("gateway/ui/node_modules/left-pad/index.js", True),
        ("node_modules/x/y.js", True),
        ("perf/out/flame.svg", True),
        ("default.profraw", True),
        ("Cargo.toml", False),
        ("Cargo.lock", False),
        ("src/main.rs", False),
        ("engine/src/lib.rs", False),
        ("gateway/src/lib.rs", False),
        ("perf/README.md", False),
        ("targets.md", False),
    ],
)
def test_dockerignore_rules(path, expected):
    assert ignored(path) is expected, f"{path}: ignored={not expected} expected {expected}"


def test_pattern_semantics():
    """The matcher itself, on the documented Docker examples."""
    assert pattern_to_regex("*/temp*").match("somedir/temporary.txt")
    assert not pattern_to_regex("*/temp*").match("somedir/sub/temp")
    assert pattern_to_regex("**/*.go").match("a/b/c.go") and pattern_to_regex("**/*.go").match("c.go")
    assert pattern_to_regex("temp?").match("tempa") and not pattern_to_regex("temp?").match("temp/a")


def test_context_leaves_out_build_output_and_caches():
    files = context_files()
    for prefix in ("target/", ".cache/", ".git/", "perf/out/"):
        leaked = [f for f in files if f.startswith(prefix)]
        assert not leaked, f"{prefix} leaks into the Docker context: {leaked[:5]}"
    assert not [f for f in files if "/node_modules/" in "/" + f]
    assert not [f for f in files if re.search(r"(^|/)target/", f)]
    size = sum((REPO / f).stat().st_size for f in files if (REPO / f).is_file())
    assert size <= CONTEXT_BYTES_MAX, f"Docker context is {size / 2**20:.1f} MiB"


# --- Dockerfile ------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    result, pending = [], ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        line = pending + stripped
        pending = ""
        keyword, _, arguments = line.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return result


def stages() -> list[dict]:
    """Build stages: base image (ARG defaults resolved), name, instructions."""
    global_args, found = {}, []
    for keyword, arguments in instructions():
        if keyword == "ARG" and not found:
            name, _, default = arguments.partition("=")
            global_args[name] = default
        elif keyword == "FROM":
            words = [w for w in arguments.split() if not w.startswith("--")]
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: global_args[m.group(1) or m.group(2)], words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            found.append({"image": image, "name": name, "instructions": []})
        else:
            assert found, f"{keyword} before FROM"
            found[-1]["instructions"].append((keyword, arguments))
    return found


def copies(stage: dict) -> list[tuple[dict, list[str], str]]:
    """(flags, sources, destination) of each COPY/ADD in a stage."""
    result = []
    for keyword, arguments in stage["instructions"]:
        if keyword not in ("COPY", "ADD"):
            continue
        words = arguments.split()
        flags = {}
        while words and words[0].startswith("--"):
            key, _, value = words.pop(0)[2:].partition("=")
            flags[key] = value
        rest = " ".join(words)
        paths = json.loads(rest) if rest.startswith("[") else rest.split()
        assert len(paths) >= 2, f"{keyword} {arguments}: needs source and destination"
        result.append((flags, paths[:-1], paths[-1]))
    return result


def context_sources() -> list[str]:
    """Sources of every COPY that reads the build context (no --from)."""
    return [
        source.rstrip("/").removeprefix("./")
        for stage in stages()
        for flags, sources, _destination in copies(stage)
        if "from" not in flags
        for source in sources
    ]


def copied(relative: str) -> bool:
    return any(relative == s or relative.startswith(s + "/") for s in context_sources())


def test_copy_sources_exist_in_context():
    files = set(context_files())
    sources = context_sources()
    assert sources, "the Dockerfile copies nothing from the context"
    for source in sources:
        assert "*" not in source and "?" not in source, f"COPY {source}: list files explicitly"
        present = source in files or any(f.startswith(source + "/") for f in files)
        assert present, f"COPY {source}: not in the Docker context (missing, or excluded by .dockerignore)"


def workspace_paths() -> set[str]:
    """Directories cargo reads to build the workspace: members + path deps."""
    manifest = tomllib.loads((REPO / "Cargo.toml").read_text())
    paths = set(manifest.get("workspace", {}).get("members", []))
    tables = [manifest.get("workspace", {}).get("dependencies", {}), manifest.get("dependencies", {}),
              manifest.get("build-dependencies", {})]
    for table in tables:
        for spec in table.values():
            if isinstance(spec, dict) and "path" in spec:
                paths.add(spec["path"])
    return {p.rstrip("/").removeprefix("./") for p in paths}


def test_every_workspace_crate_is_copied():
    assert copied("Cargo.toml") and copied("Cargo.lock"), "Cargo.toml and Cargo.lock (for --locked) must be copied"
    assert copied("src/main.rs")
    for path in workspace_paths():
        assert (REPO / path / "Cargo.toml").is_file(), f"workspace path {path} has no Cargo.toml"
        assert copied(path + "/Cargo.toml"), f"{path} is a workspace crate but the Dockerfile does not COPY it"


INCLUDE = re.compile(r"""\b(?:include_str|include_bytes)!\s*\(\s*(?:concat!\s*\(\s*env!\s*\(\s*"CARGO_MANIFEST_DIR"\s*\)\s*,\s*)?"([^"]+)\"""")


def test_included_files_are_copied():
    """include_str!/include_bytes! read files at compile time (migrations, UI
    assets, tracker.js): each target must be in the context and copied."""
    files = set(context_files())
    checked = 0
    for rust_file in (f for f in files if f.endswith(".rs") and copied(f)):
        text = (REPO / rust_file).read_text(encoding="utf-8", errors="replace")
        for match in INCLUDE.finditer(text):
            literal = match.group(1)
            if "CARGO_MANIFEST_DIR" in text[match.start():match.end()]:
                crate = Path(rust_file)
                while not (REPO / crate / "Cargo.toml").is_file():
                    crate = crate.parent
                target = (REPO / crate / literal.lstrip("/")).resolve()
            else:
                target = ((REPO / rust_file).parent / literal).resolve()
            relative = target.relative_to(REPO).as_posix()
            assert relative in files, f"{rust_file}: includes {literal} -> {relative}, not in the Docker context"
            assert copied(relative), f"{rust_file}: includes {relative}, which no COPY brings into the build"
            checked += 1
    print(f"{checked} include_str!/include_bytes! targets checked")


def test_builder_stage():
    builder = stages()[0]
    assert builder["image"] == "rust:1-bookworm" and builder["name"] == "builder"
    runs = " ".join(a for k, a in builder["instructions"] if k == "RUN")
    for package in ("cmake", "build-essential"):  # build-essential = gcc + make
        assert package in runs, f"builder must install {package} for rdkafka's bundled librdkafka"
    assert re.search(r"cargo build --profile dist --locked -p clicktail\b", runs)


def test_runtime_stage_is_small_and_unprivileged():
    runtime = stages()[-1]
    assert runtime["image"] == "debian:bookworm-slim"
    for flags, sources, _destination in copies(runtime):
        assert flags.get("from") == "builder", f"runtime COPY {sources} must come from the builder"
    assert [sources for _f, sources, _d in copies(runtime)] == [["/out/clicktail"]], "runtime gets the binary only"
    users = [a for k, a in runtime["instructions"] if k == "USER"]
    assert users, "runtime stage has no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "USER must be a numeric non-root uid (runAsNonRoot verifies numbers)"
    # The Kubernetes pods run as the same uid.
    for path in (K8S / "base").glob("*.yaml"):
        for document in load_yaml_documents(path):
            template = document.get("spec", {}).get("template", {}) if isinstance(document.get("spec"), dict) else {}
            run_as = template.get("spec", {}).get("securityContext", {}).get("runAsUser")
            if run_as is not None:
                assert str(run_as) == uid, f"{path.name}: runAsUser {run_as} != Dockerfile USER {uid}"
    (entrypoint,) = [json.loads(a) for k, a in runtime["instructions"] if k == "ENTRYPOINT"]
    assert entrypoint[-1] == "/usr/local/bin/clicktail"
    exposed = {int(p.split("/")[0]) for k, a in runtime["instructions"] if k == "EXPOSE" for p in a.split()}
    assert exposed == {8080, 9100}
