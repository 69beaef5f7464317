# syntax=docker/dockerfile:1.7
#
# clicktail container image: one binary, every role.
#
#   docker build -t clicktail:dev .
#   docker run --rm clicktail:dev --help
#   docker run --rm -p 8080:8080 clicktail:dev demo          # no Kafka, no PostgreSQL
#
# The same image runs `worker`, `gateway` and `migrate`; the role is the first
# argument (see deploy/k8s/ and deploy/systemd/). Two stages:
#   1. builder: the Rust toolchain plus what rdkafka's bundled librdkafka needs
#      (gcc, make, cmake; its build.rs compiles librdkafka from source).
#   2. runtime: debian:bookworm-slim with CA certificates, tini and the binary,
#      running as an unprivileged user. No compiler, no sources, no shell tools
#      beyond what the base image ships.
#
# The Docker context's file list is checked by tests/deploy (no Docker engine
# is needed for that): every COPY source below must exist and every workspace
# member and include_str!/include_bytes! target must be copied.

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

############################################################################
FROM ${RUST_IMAGE} AS builder

# rdkafka-sys builds librdkafka from source (default "bundled" build): it
# needs a C toolchain and make; cmake is for the `cmake-build` feature should
# the engine switch to it. pkg-config + zlib headers for the libz feature.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# Only what `cargo build -p clicktail` reads. Listed one by one (not `COPY . .`)
# so that edits to docs/, deploy/ or perf/ do not invalidate the build layer.
# A new workspace member must be added here: tests/deploy fails until it is.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY engine ./engine
COPY gateway ./gateway
COPY bench ./bench
COPY migrations ./migrations
# Workspace members: cargo reads their manifests to load the workspace.
COPY tests/chaos ./tests/chaos
COPY tests/support ./tests/support

# --profile dist: fat LTO and one codegen unit (Cargo.toml), the fastest
# code; everyday `--release` builds trade a little of it for build time.
# --locked: build exactly the dependency versions in Cargo.lock, fail if the
# lock file is stale rather than silently resolving new versions.
# The cache mounts keep the registry and target/ between builds (BuildKit);
# the binary is copied out because a cache mount is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/build/target \
    cargo build --profile dist --locked -p clicktail \
 && install -D -m 0755 target/dist/clicktail /out/clicktail \
 && /out/clicktail --version

############################################################################
FROM ${RUNTIME_IMAGE} AS runtime

# ca-certificates: TLS to Kafka / PostgreSQL when the operator enables it.
# tini: PID 1 that forwards SIGTERM to clicktail and reaps zombies. Without it
# the binary would be PID 1, where the kernel drops signals that have no
# handler, and a graceful drain on `docker stop` / pod deletion depends on it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it without
# resolving names (deploy/k8s/base sets runAsUser: 10001 to match).
RUN groupadd --system --gid 10001 clicktail \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin clicktail

COPY --from=builder /out/clicktail /usr/local/bin/clicktail

USER 10001:10001

# Gateway HTTP (UI, /ws, /ingest, /healthz, /readyz, /metrics) and the
# worker's Prometheus port. Documentation only; the role decides which is used.
EXPOSE 8080 9100

# Stop signal that both roles treat as "drain and exit".
STOPSIGNAL SIGTERM

ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/clicktail"]
CMD ["--help"]
