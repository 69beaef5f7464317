#!/usr/bin/env bash
# Development / test services for clicktail: a private PostgreSQL cluster and a
# single-node Apache Kafka broker (KRaft, no ZooKeeper), both bound to 127.0.0.1
# and kept under <repo>/.cache/services. See scripts/README.md.
# CLICKTAIL_SERVICES_DIR (with other CLICKTAIL_*_PORT values) keeps a second
# pair elsewhere: scripts/test.sh gives the chaos suite, which restarts its
# services, a pair of its own. The Kafka jar cache stays shared.
#
#   scripts/services.sh up | down | status | env | reset
#   scripts/services.sh start-kafka | stop-kafka | restart-kafka
#   scripts/services.sh start-postgres | stop-postgres | restart-postgres
#   scripts/services.sh topics-create NAME PARTITIONS [--config k=v ...]
#   scripts/services.sh topics-list | topics-delete NAME
#   scripts/services.sh kafka-tool MAIN_CLASS [ARGS...]   (any Kafka CLI class)
#   scripts/services.sh psql [ARGS...]                    (psql on the clicktail db)
#
# Progress and errors go to stderr; `up`, `start-*`, `restart-*` and `env`
# print only the connection settings (shell exports) on stdout, so
# `eval "$(scripts/services.sh up)"` works.
set -euo pipefail

# ---------------------------------------------------------------- settings --
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
SVC="${CLICKTAIL_SERVICES_DIR:-$ROOT/.cache/services}"
LOGS="$SVC/logs"
RUN="$SVC/run"

PG_PORT="${CLICKTAIL_PG_PORT:-55432}"
KAFKA_PORT="${CLICKTAIL_KAFKA_PORT:-59092}"
KAFKA_CONTROLLER_PORT="${CLICKTAIL_KAFKA_CONTROLLER_PORT:-59093}"
KAFKA_VERSION="${CLICKTAIL_KAFKA_VERSION:-4.4.0}"
LOG4J_VERSION="${CLICKTAIL_LOG4J_VERSION:-2.25.5}"
KAFKA_HEAP_OPTS="${CLICKTAIL_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
START_TIMEOUT="${CLICKTAIL_SERVICES_START_TIMEOUT:-120}"
STOP_TIMEOUT="${CLICKTAIL_SERVICES_STOP_TIMEOUT:-30}"

PG_ROLE=clicktail
PG_PASSWORD=clicktail
PG_DB=clicktail

KAFKA_LIBS_ROOT="$ROOT/.cache/services/kafka-libs"  # jar cache, survives `reset`
KAFKA_LIBS="$KAFKA_LIBS_ROOT/$KAFKA_VERSION"
KAFKA_DATA="$SVC/kafka-data"
KAFKA_CONF_DIR="$SVC/kafka-config"
KAFKA_CONF="$KAFKA_CONF_DIR/server.properties"
KAFKA_PIDFILE="$RUN/kafka.pid"
KAFKA_LOG="$LOGS/kafka.log"                 # log4j2 output of the broker
KAFKA_OUT="$LOGS/kafka.out"                 # JVM stdout/stderr
ENV_FILE="$SVC/env"
# names per-clone folders outside the repo (see pg_pick_base)
# (of the repo for its own services, of the folder for a second pair)
if [ "$SVC" = "$ROOT/.cache/services" ]; then
  ROOT_HASH="$(printf %s "$ROOT" | md5sum | cut -c1-10)"
else
  ROOT_HASH="$(printf %s "$SVC" | md5sum | cut -c1-10)"
fi

BROKERS="127.0.0.1:$KAFKA_PORT"
DATABASE_URL="postgres://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"

# ----------------------------------------------------------------- helpers --
say() { echo "services: $*" >&2; }
die() { echo "services: error: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# tail_log FILE [N]: show the end of a log on stderr (if it exists).
tail_log() {
  local f="$1" n="${2:-40}"
  if [ -s "$f" ]; then
    echo "----- last $n lines of $f -----" >&2
    tail -n "$n" "$f" >&2 || true
    echo "-----" >&2
  fi
}

# port_holder PORT: pid of the process listening on 127.0.0.1:PORT (or any
# address), empty if none; "?" if something listens but the pid is unknown.
port_holder() {
  local port="$1" line
  if command -v ss >/dev/null 2>&1; then
    line="$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n1)"
    [ -n "$line" ] || return 0
    local pid
    pid="$(grep -o 'pid=[0-9]*' <<<"$line" | head -n1 | cut -d= -f2)"
    echo "${pid:-?}"
  elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "?"
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# alive PID: the process exists and is not a zombie (a killed daemon can stay
# a zombie for a few seconds until init reaps it, and kill -0 still succeeds).
alive() {
  local pid="$1" state
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  state="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)" || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# wait_gone PID SECONDS: wait until PID has been reaped.
wait_gone() {
  local pid="$1" deadline=$((SECONDS + $2))
  while [ -e "/proc/$pid" ] && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
}

describe_pid() {
  local pid="$1"
  if [ "$pid" = "?" ]; then echo "unknown process"; return; fi
  echo "pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-200)"
}

# Fail with a clear message if PORT is taken by someone else.
require_free_port() {
  local port="$1" what="$2" env="$3" holder
  holder="$(port_holder "$port")"
  [ -z "$holder" ] && return 0
  die "$what port $port is already in use by $(describe_pid "$holder").
  Stop that process, or pick another port with $env=<port>."
}

wait_port_closed() {
  local port="$1" deadline=$((SECONDS + 15))
  while [ -n "$(port_holder "$port")" ] && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
}

# Serialize state-changing commands (several engineers / tests may call us).
# The lock fd (9) is closed for every long-lived child we start.
take_lock() {
  mkdir -p "$SVC"
  exec 9>"$SVC/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 600 9 || die "could not lock $SVC/.lock within 600 s (another services.sh still running?)"
  fi
}

write_env() {
  mkdir -p "$SVC"
  local tmp="$ENV_FILE.tmp.$$"
  cat >"$tmp" <<EOF
export CLICKTAIL_KAFKA_BROKERS=$BROKERS
export CLICKTAIL_DATABASE_URL=$DATABASE_URL
export CLICKTAIL_PG_PORT=$PG_PORT
export CLICKTAIL_KAFKA_PORT=$KAFKA_PORT
export CLICKTAIL_KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT
EOF
  mv -f "$tmp" "$ENV_FILE"
}

print_env() { write_env; cat "$ENV_FILE"; }

apt_install() {
  local sudo=()
  if ! is_root; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to apt-get install $*"
    sudo=(sudo -n)
  fi
  mkdir -p "$LOGS"
  say "installing Debian package(s): $* (log: $LOGS/apt.log)"
  if ! { "${sudo[@]}" apt-get update &&
         "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"; } \
         >>"$LOGS/apt.log" 2>&1; then
    tail_log "$LOGS/apt.log"
    die "apt-get install $* failed (see $LOGS/apt.log)"
  fi
}

# ============================================================== PostgreSQL ==
pg_installed_bindir() {
  local d best=""
  for d in /usr/lib/postgresql/*/bin; do
    if ! { [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; }; then continue; fi
    if [ -z "$best" ] || [ "$(basename "$(dirname "$d")")" -gt "$(basename "$(dirname "$best")")" ]; then
      best="$d"
    fi
  done
  echo "$best"
}

ensure_pg_installed() {
  if [ -z "$(pg_installed_bindir)" ]; then
    apt_install postgresql
    [ -n "$(pg_installed_bindir)" ] || die "postgresql installed but no /usr/lib/postgresql/*/bin/postgres found"
  fi
  command -v psql >/dev/null 2>&1 || apt_install postgresql-client
}

# Run a command as the database OS user (postgres when we are root), from /
# so that an unreadable cwd does not produce warnings. Closes the lock fd.
as_pg() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@" 9>&-)
  else
    (cd / && "$@" 9>&-)
  fi
}

# Where the cluster lives. Normally <repo>/.cache/services/pg. If the postgres
# OS user cannot reach that folder (e.g. the repo sits under a 0700 folder),
# fall back to /var/lib/postgresql/clicktail-<hash of repo path>.
pg_pick_base() {
  local in_tree="$SVC/pg"
  local fallback="/var/lib/postgresql/clicktail-$ROOT_HASH"
  if [ -f "$in_tree/data/PG_VERSION" ]; then PG_BASE="$in_tree"
  elif [ -f "$fallback/data/PG_VERSION" ]; then PG_BASE="$fallback"
  elif ! is_root || runuser -u postgres -- test -x "$SVC" 2>/dev/null; then PG_BASE="$in_tree"
  else PG_BASE="$fallback"
  fi
  PG_DATA="$PG_BASE/data"
  if [ "$PG_BASE" = "$in_tree" ]; then PG_LOG="$LOGS/postgres.log"; else PG_LOG="$PG_BASE/postgres.log"; fi
  # unix socket paths are limited to ~107 bytes
  PG_SOCKDIR="$PG_BASE/run"
  if [ $(( ${#PG_SOCKDIR} + 20 )) -gt 100 ]; then
    PG_SOCKDIR="/tmp/clicktail-pg-$ROOT_HASH"
  fi
}

pg_bindir() {
  local v
  if [ -f "$PG_DATA/PG_VERSION" ]; then
    v="$(cat "$PG_DATA/PG_VERSION")"
    [ -x "/usr/lib/postgresql/$v/bin/postgres" ] ||
      die "cluster in $PG_DATA was made by PostgreSQL $v, whose binaries are missing; install postgresql-$v or run '$0 reset'"
    echo "/usr/lib/postgresql/$v/bin"
  else
    pg_installed_bindir
  fi
}

pg_pid() { head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null || true; }

# The postmaster of our data dir is alive (not a zombie, really postgres).
pg_running() {
  local pid
  pid="$(pg_pid)"
  [ -n "$pid" ] && alive "$pid" || return 1
  case "$(cat "/proc/$pid/comm" 2>/dev/null)" in postgres*) return 0 ;; esac
  return 1
}

pg_init() {
  local bindir="$1"
  say "postgres: creating cluster in $PG_DATA"
  mkdir -p "$PG_BASE" "$LOGS"
  if is_root; then chown postgres:postgres "$PG_BASE"; fi
  if ! as_pg "$bindir/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 >"$LOGS/postgres-initdb.log" 2>&1; then
    tail_log "$LOGS/postgres-initdb.log"
    die "initdb failed (see $LOGS/postgres-initdb.log)"
  fi
  echo "include_if_exists = 'clicktail.conf'" | as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
}

pg_write_conf() {
  local tmp
  tmp="$(mktemp)"
  cat >"$tmp" <<EOF
# written by scripts/services.sh on each start; edits are overwritten
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKDIR'
max_connections = 200
# a throw-away test database: trade crash safety for speed
fsync = off
full_page_writes = off
log_line_prefix = '%m [%p] %q%u@%d '
log_timezone = 'UTC'
timezone = 'UTC'
EOF
  chmod 644 "$tmp"
  as_pg cp "$tmp" "$PG_DATA/clicktail.conf"
  rm -f "$tmp"
}

pg_psql_admin() {
  psql -X -q -h "$PG_SOCKDIR" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"
}

pg_ensure_role_db() {
  local out
  if ! out="$(pg_psql_admin -tA 2>&1 <<SQL
SELECT format('CREATE ROLE %I LOGIN SUPERUSER CREATEDB PASSWORD %L', '$PG_ROLE', '$PG_PASSWORD')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_ROLE') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$PG_DB', '$PG_ROLE')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_DB') \gexec
SQL
)"; then
    echo "$out" >&2
    die "could not create role/database $PG_ROLE/$PG_DB"
  fi
}

pg_start() {
  ensure_pg_installed
  pg_pick_base
  local bindir
  bindir="$(pg_bindir)"
  [ -f "$PG_DATA/PG_VERSION" ] || pg_init "$bindir"
  if pg_running; then
    pg_ensure_role_db
    say "postgres: running (pid $(pg_pid), 127.0.0.1:$PG_PORT)"
    return 0
  fi
  local stale
  stale="$(pg_pid)"
  if [ -n "$stale" ]; then
    # postmaster.pid left behind: the server died (killed, crashed, machine
    # restarted). Let the dead postmaster be reaped and its orphaned backends
    # exit, else the new postmaster refuses the lock file / shared memory.
    say "postgres: stale $PG_DATA/postmaster.pid (pid $stale is gone): the server died earlier"
    tail_log "$PG_LOG" 15
    wait_gone "$stale" 15
  fi
  require_free_port "$PG_PORT" "postgres" CLICKTAIL_PG_PORT
  mkdir -p "$LOGS" "$PG_SOCKDIR"
  if is_root; then
    chown postgres:postgres "$PG_SOCKDIR"
    touch "$PG_LOG" && chown postgres:postgres "$PG_LOG"
  fi
  pg_write_conf
  say "postgres: starting on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
  local try=1
  until as_pg "$bindir/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$START_TIMEOUT" start >&2; do
    # a just-killed server can still hold the lock file or shared memory
    if [ $try -ge 3 ] || pg_running; then
      tail_log "$PG_LOG"
      die "postgres did not start (log: $PG_LOG)"
    fi
    say "postgres: start failed (attempt $try), retrying in 2 s"
    try=$((try + 1))
    sleep 2
  done
  pg_ensure_role_db
  say "postgres: running (pid $(pg_pid), 127.0.0.1:$PG_PORT)"
}

pg_stop() {
  [ -n "$(pg_installed_bindir)" ] || { say "postgres: not installed"; return 0; }
  pg_pick_base
  if ! pg_running; then say "postgres: not running"; return 0; fi
  local pid bindir
  pid="$(pg_pid)"
  bindir="$(pg_bindir)"
  say "postgres: stopping (pid $pid)"
  if ! as_pg "$bindir/pg_ctl" -D "$PG_DATA" -m fast -w -t "$STOP_TIMEOUT" stop >&2; then
    say "postgres: graceful stop timed out after ${STOP_TIMEOUT}s, killing pid $pid"
    kill -KILL "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  fi
  wait_port_closed "$PG_PORT"
}

pg_status() {
  if [ -z "$(pg_installed_bindir)" ]; then echo "postgres: not installed"; return 1; fi
  pg_pick_base
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then echo "postgres: not created (run: $0 up)"; return 1; fi
  if pg_running; then
    if "$(pg_bindir)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; then
      echo "postgres: running (pid $(pg_pid), $DATABASE_URL, log $PG_LOG)"
      return 0
    fi
    echo "postgres: process up (pid $(pg_pid)) but not accepting connections on 127.0.0.1:$PG_PORT (log $PG_LOG)"
    return 1
  fi
  echo "postgres: stopped (data $PG_DATA, log $PG_LOG)"
  return 1
}

# =================================================================== Kafka ==
ensure_java() {
  command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
}

ensure_kafka_libs() {
  ensure_java
  [ -f "$KAFKA_LIBS/.complete" ] && return 0
  command -v mvn >/dev/null 2>&1 || apt_install maven
  mkdir -p "$KAFKA_LIBS_ROOT" "$LOGS"
  local work="$KAFKA_LIBS_ROOT/.build-$KAFKA_VERSION"
  rm -rf "$work"
  mkdir -p "$work"
  # kafka_2.13: the broker (kafka.Kafka, kafka.tools.StorageTool);
  # kafka-tools: the CLI classes (TopicCommand, ConsoleProducer, ...);
  # log4j-slf4j-impl: Kafka logs through slf4j 1.7, this routes it to log4j2.
  cat >"$work/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.clicktail</groupId>
  <artifactId>kafka-libs</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
  say "kafka: fetching Kafka $KAFKA_VERSION jars with Maven into $KAFKA_LIBS (log: $LOGS/maven.log)"
  if ! (cd "$work" && mvn -B -ntp -Dstyle.color=never \
          org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
          -DincludeScope=runtime -DoutputDirectory="$work/lib") >"$LOGS/maven.log" 2>&1; then
    tail_log "$LOGS/maven.log"
    die "could not fetch Kafka jars (see $LOGS/maven.log)"
  fi
  ls "$work/lib/kafka_2.13-$KAFKA_VERSION.jar" "$work/lib/kafka-tools-$KAFKA_VERSION.jar" >/dev/null ||
    die "Kafka jars missing after mvn copy-dependencies (see $LOGS/maven.log)"
  rm -rf "$KAFKA_LIBS"
  mv "$work/lib" "$KAFKA_LIBS"
  cp "$work/pom.xml" "$KAFKA_LIBS/pom.xml"
  rm -rf "$work"
  touch "$KAFKA_LIBS/.complete"
}

kafka_write_config() {
  mkdir -p "$KAFKA_CONF_DIR" "$KAFKA_DATA" "$LOGS" "$RUN"
  cat >"$KAFKA_CONF" <<EOF
# written by scripts/services.sh on each start; edits are overwritten
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=4
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# re-register quickly after the broker was killed (default session 9 s)
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
log.segment.bytes=268435456
delete.topic.enable=true
EOF
  cat >"$KAFKA_CONF_DIR/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn" name="clicktail-kafka">
  <Appenders>
    <RollingFile name="file" fileName="$KAFKA_LOG" filePattern="$KAFKA_LOG.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <Policies><SizeBasedTriggeringPolicy size="50 MB"/></Policies>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="file"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="org.apache.kafka.common.utils.AppInfoParser" level="WARN"/>
  </Loggers>
</Configuration>
EOF
  kafka_write_tools_log4j
}

kafka_write_tools_log4j() {
  mkdir -p "$KAFKA_CONF_DIR"
  [ -f "$KAFKA_CONF_DIR/tools-log4j2.xml" ] && return 0
  cat >"$KAFKA_CONF_DIR/tools-log4j2.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn" name="clicktail-kafka-tools">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="stderr"/></Root>
  </Loggers>
</Configuration>
EOF
}

# kafka_tool MAIN_CLASS ARGS...: run a Kafka CLI class with a small, quick JVM.
kafka_tool() {
  ensure_kafka_libs
  kafka_write_tools_log4j
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_CONF_DIR/tools-log4j2.xml" \
    -cp "$KAFKA_LIBS/*" "$@" 9>&-
}

is_our_kafka() {
  local pid="$1" cmd
  [ -r "/proc/$pid/cmdline" ] || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == *kafka.Kafka*"$KAFKA_CONF"* ]]
}

# Prints the pid of our running broker; returns 1 if none. Cleans a stale pid
# file (showing the log tail: the broker died) and adopts a broker of ours that
# lost its pid file.
# With "peek" it only looks (for status): no cleanup, no output but the pid.
kafka_pid() {
  local pid mode="${1:-}"
  if [ -f "$KAFKA_PIDFILE" ]; then
    pid="$(cat "$KAFKA_PIDFILE" 2>/dev/null || true)"
    if alive "$pid" && is_our_kafka "$pid"; then
      echo "$pid"; return 0
    fi
    [ "$mode" = peek ] && return 1
    say "kafka: stale pid file $KAFKA_PIDFILE (pid ${pid:-?} is not running): the broker died earlier"
    tail_log "$KAFKA_LOG" 20
    tail_log "$KAFKA_OUT" 10
    rm -f "$KAFKA_PIDFILE"
  fi
  pid="$(port_holder "$KAFKA_PORT")"
  if [ -n "$pid" ] && [ "$pid" != "?" ] && is_our_kafka "$pid"; then
    [ "$mode" = peek ] && { echo "$pid"; return 0; }
    mkdir -p "$RUN"
    echo "$pid" >"$KAFKA_PIDFILE"
    echo "$pid"; return 0
  fi
  return 1
}

kafka_format() {
  [ -f "$KAFKA_DATA/meta.properties" ] && return 0
  local cid
  cid="$(kafka_tool kafka.tools.StorageTool random-uuid 2>>"$LOGS/kafka-format.log" | tail -n1)"
  [ -n "$cid" ] || { tail_log "$LOGS/kafka-format.log"; die "kafka: could not generate a cluster id"; }
  say "kafka: formatting storage in $KAFKA_DATA (cluster id $cid)"
  if ! kafka_tool kafka.tools.StorageTool format --config "$KAFKA_CONF" --cluster-id "$cid" \
        --ignore-formatted >>"$LOGS/kafka-format.log" 2>&1; then
    tail_log "$LOGS/kafka-format.log"
    die "kafka: storage format failed (see $LOGS/kafka-format.log)"
  fi
}

# Wait until PID listens on the broker port and has logged that it started
# (after byte OFFSET of the log: this run only).
kafka_wait_ready() {
  local pid="$1" offset="$2" deadline=$((SECONDS + START_TIMEOUT)) size
  while :; do
    if ! alive "$pid"; then
      rm -f "$KAFKA_PIDFILE"
      tail_log "$KAFKA_LOG" 40
      tail_log "$KAFKA_OUT" 20
      die "kafka: the broker (pid $pid) exited during start-up; logs: $KAFKA_LOG, $KAFKA_OUT"
    fi
    size="$(stat -c %s "$KAFKA_LOG" 2>/dev/null || echo 0)"
    [ "$size" -ge "$offset" ] || offset=0   # log rolled over
    if port_open "$KAFKA_PORT" &&
       tail -c +"$((offset + 1))" "$KAFKA_LOG" 2>/dev/null | grep -q 'Kafka Server started'; then
      return 0
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail_log "$KAFKA_LOG" 40
      tail_log "$KAFKA_OUT" 20
      die "kafka: broker (pid $pid) not ready on $BROKERS after ${START_TIMEOUT}s; logs: $KAFKA_LOG, $KAFKA_OUT"
    fi
    sleep 0.2
  done
}

# A start right after a stop can fail on a loaded machine (the old broker's
# port or log-dir lock not yet released); tests restart the broker mid-run
# and need it back, so one failed start is retried once.
kafka_start_retrying() {
  ( kafka_start ) && return 0
  say "kafka: start failed; retrying once"
  sleep 2
  kafka_start
}

kafka_start() {
  ensure_kafka_libs
  local pid
  if pid="$(kafka_pid)"; then
    if ! port_open "$KAFKA_PORT"; then
      say "kafka: pid $pid is starting, waiting for $BROKERS"
      kafka_wait_ready "$pid" 0
    fi
    say "kafka: running (pid $pid, $BROKERS)"
    return 0
  fi
  require_free_port "$KAFKA_PORT" "kafka broker" CLICKTAIL_KAFKA_PORT
  require_free_port "$KAFKA_CONTROLLER_PORT" "kafka controller" CLICKTAIL_KAFKA_CONTROLLER_PORT
  kafka_write_config
  kafka_format
  local offset
  offset="$(stat -c %s "$KAFKA_LOG" 2>/dev/null || echo 0)"
  say "kafka: starting Kafka $KAFKA_VERSION on $BROKERS (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT, log: $KAFKA_LOG)"
  echo "=== $(date -u +%FT%TZ) starting kafka $KAFKA_VERSION" >>"$KAFKA_OUT"
  # setsid: own session, so the broker outlives this script and its caller's
  # process group; fd 9 (our lock) must not leak into it.
  # shellcheck disable=SC2086
  setsid nohup java $KAFKA_HEAP_OPTS -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_CONF_DIR/log4j2.xml" -Dkafka.logs.dir="$LOGS" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONF" \
    </dev/null >>"$KAFKA_OUT" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$KAFKA_PIDFILE"
  kafka_wait_ready "$pid" "$offset"
  say "kafka: running (pid $pid, $BROKERS)"
}

kafka_stop() {
  local pid
  if ! pid="$(kafka_pid)"; then say "kafka: not running"; return 0; fi
  say "kafka: stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  if alive "$pid"; then
    say "kafka: graceful stop timed out after ${STOP_TIMEOUT}s, killing pid $pid"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  fi
  rm -f "$KAFKA_PIDFILE"
  wait_port_closed "$KAFKA_PORT"
  wait_port_closed "$KAFKA_CONTROLLER_PORT"
}

kafka_status() {
  local pid
  if pid="$(kafka_pid peek)"; then
    if port_open "$KAFKA_PORT"; then
      echo "kafka: running (pid $pid, $BROKERS, Kafka $KAFKA_VERSION, log $KAFKA_LOG)"
      return 0
    fi
    echo "kafka: process up (pid $pid) but $BROKERS not listening yet (log $KAFKA_LOG)"
    return 1
  fi
  echo "kafka: stopped (data $KAFKA_DATA, log $KAFKA_LOG)"
  return 1
}

kafka_require_running() {
  if ! { kafka_pid peek >/dev/null && port_open "$KAFKA_PORT"; }; then
    die "kafka is not running on $BROKERS (run: $0 up)"
  fi
}

# ================================================================ commands ==
usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  up)
    take_lock
    t0=$SECONDS
    pg_start
    kafka_start
    say "all services up ($((SECONDS - t0)) s); settings in $ENV_FILE"
    print_env
    ;;
  down)
    take_lock
    kafka_stop
    pg_stop
    ;;
  status)
    rc=0
    pg_status || rc=3
    kafka_status || rc=3
    exit $rc
    ;;
  env)
    print_env
    ;;
  start-kafka)      take_lock; kafka_start_retrying; print_env ;;
  stop-kafka)       take_lock; kafka_stop ;;
  restart-kafka)    take_lock; kafka_stop; kafka_start_retrying; print_env ;;
  start-postgres)   take_lock; pg_start; print_env ;;
  stop-postgres)    take_lock; pg_stop ;;
  restart-postgres) take_lock; pg_stop; pg_start; print_env ;;
  topics-create)
    [ $# -ge 2 ] || die "usage: $0 topics-create NAME PARTITIONS [--config key=value ...]"
    name="$1" parts="$2"; shift 2
    [[ "$parts" =~ ^[1-9][0-9]*$ ]] || die "PARTITIONS must be a positive integer, got '$parts'"
    kafka_require_running
    kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --create \
      --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1 "$@" >&2
    say "kafka: topic $name ready"
    ;;
  topics-list)
    kafka_require_running
    kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --list
    ;;
  topics-delete)
    [ $# -eq 1 ] || die "usage: $0 topics-delete NAME"
    kafka_require_running
    kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --delete \
      --if-exists --topic "$1" >&2
    ;;
  kafka-tool)
    [ $# -ge 1 ] || die "usage: $0 kafka-tool MAIN_CLASS [ARGS...]"
    kafka_tool "$@"
    ;;
  psql)
    exec psql "$DATABASE_URL" "$@"
    ;;
  reset)
    take_lock
    kafka_stop
    pg_stop
    pg_pick_base 2>/dev/null || true
    say "removing service data under $SVC (keeping the jar cache $KAFKA_LIBS_ROOT)"
    find "$SVC" -mindepth 1 -maxdepth 1 ! -name kafka-libs ! -name .lock -exec rm -rf {} +
    rm -rf "/var/lib/postgresql/clicktail-$ROOT_HASH" "/tmp/clicktail-pg-$ROOT_HASH"
    ;;
  -h|--help|help) usage 0 ;;
  "") usage 2 ;;
  *) echo "services: unknown command '$cmd'" >&2; usage ;;
esac
