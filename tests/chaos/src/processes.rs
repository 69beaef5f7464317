//! The processes under test: `clicktail worker` and `clicktail gateway`
//! children with their logs, signals, and plain HTTP probes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::suite::{Stage, Suite};

/// A child process, killed (SIGKILL) if still running when dropped.
pub struct Process {
    pub name: String,
    child: Child,
    exit: Option<ExitStatus>,
}

impl Process {
    /// Takes charge of a child started elsewhere.
    pub fn adopt(name: &str, child: Child) -> Self {
        Process { name: name.to_owned(), child, exit: None }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// `kill -9`: no chance to commit, flush or leave the group.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        self.exit = self.child.wait().ok();
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid, which it still is: the
        // child is reaped only by `wait`/`kill9` on `self`.
        unsafe {
            libc::kill(self.pid(), signal);
        }
    }

    /// Waits up to `within` for the process to exit; its status.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while self.exit.is_none() && Instant::now() < deadline {
            self.exit = self.child.try_wait().ok().flatten();
            std::thread::sleep(Duration::from_millis(20));
        }
        self.exit
    }

    pub fn running(&mut self) -> bool {
        self.exit.is_none() && self.child.try_wait().ok().flatten().is_none()
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&mut self) {
        if self.running() {
            self.signal(libc::SIGTERM);
            if self.wait_exit(Duration::from_secs(10)).is_none() {
                self.kill9();
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.exit.is_none() {
            self.kill9();
        }
    }
}

/// Settings of one worker process.
pub struct WorkerSpec<'a> {
    pub name: &'a str,
    /// Where its metrics (and health) are served; None: not served.
    pub metrics_port: Option<u16>,
    /// Network namespace to run in (`ip netns exec`), if any.
    pub netns: Option<&'a str>,
    /// The registry URL, if not the suite's (a worker in a namespace reaches
    /// PostgreSQL through its Unix socket).
    pub database_url: Option<&'a str>,
}

pub fn spawn_worker(suite: &Suite, stage: &Stage, scenario: &str, spec: &WorkerSpec<'_>) -> anyhow::Result<Process> {
    let mut command = match spec.netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(&suite.bin);
            c
        }
        None => Command::new(&suite.bin),
    };
    let metrics = spec.metrics_port.map_or_else(String::new, |port| format!("127.0.0.1:{port}"));
    command
        .arg("worker")
        .args(["--brokers", &stage.brokers])
        .args(["--database-url", spec.database_url.unwrap_or(&suite.database_url)])
        .args(["--database-schema", &stage.schema])
        .args(["--raw-topic", &stage.raw_topic, "--filtered-topic", &stage.filtered_topic])
        .args(["--group", &stage.group, "--threads", "1", "--no-pin"])
        // Short intervals: a scenario's figures come in seconds, not minutes.
        .args(["--commit-interval-ms", "500", "--sweep-interval-ms", "1000"])
        // The suite counts losses: a session filter's budget would thin its
        // matches on purpose (told in `stats` frames), so it is lifted here.
        .args(["--session-filter-rate-max-per-s", "0"])
        .args(["--metrics-addr", &metrics])
        .env("RUST_LOG", "info");
    let log = suite.log_path(scenario, spec.name);
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
    command.stdout(file.try_clone()?).stderr(file);
    let child = command.spawn().with_context(|| format!("starting worker {}", spec.name))?;
    Ok(Process { name: spec.name.to_owned(), child, exit: None })
}

/// A gateway and the address it listens on.
pub struct Gateway {
    pub process: Process,
    pub address: SocketAddr,
    pub node_name: String,
}

/// Starts a gateway on a kernel-picked loopback port; returns once it is ready.
pub fn spawn_gateway(suite: &Suite, stage: &Stage, scenario: &str, extra: &[&str]) -> anyhow::Result<Gateway> {
    let node_name = format!("chaos-{scenario}-{}", suite.run_id);
    let log = suite.log_path(scenario, "gateway");
    let mut command = Command::new(&suite.bin);
    command
        .arg("gateway")
        .args(["--brokers", &stage.brokers, "--database-url", &suite.database_url])
        .args(["--database-schema", &stage.schema])
        .args(["--raw-topic", &stage.raw_topic, "--filtered-topic", &stage.filtered_topic])
        .args(["--listen", "127.0.0.1:0", "--node-name", &node_name, "--no-admin-token"])
        // The suite's sessions must not drop frames: queues far above what
        // they are sent, so a missing match is a loss, not an overflow.
        .args(["--session-queue-frames-max", "200000", "--session-queue-bytes-max", "268435456"])
        .args(["--loop-inbox-max", "1000000"])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::OpenOptions::new().create(true).append(true).open(&log)?);
    let mut child = command.spawn().context("starting the gateway")?;
    let stdout = child.stdout.take().context("the gateway's stdout")?;
    let mut process = Process { name: "gateway".to_owned(), child, exit: None };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.split("http://").nth(1) {
                let _ = tx.send(url.trim_end_matches('/').to_owned());
            }
        }
    });
    let address: SocketAddr = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(address) => address.parse()?,
        Err(_) => {
            process.kill9();
            bail!("the gateway printed no address within 30 s (log: {})", log.display());
        }
    };
    if !wait_until(Duration::from_secs(30), || http_status(address, "/readyz") == Some(200)) {
        bail!("the gateway at {address} was not ready within 30 s (log: {})", log.display());
    }
    Ok(Gateway { process, address, node_name })
}

/// A loopback port free at the time of the call.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The status code of `GET path` (None: no answer within 2 s).
pub fn http_status(address: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).ok()?;
    let text = std::str::from_utf8(&head[..n]).ok()?;
    text.split(' ').nth(1)?.parse().ok()
}

/// Polls `condition` every 100 ms until it holds (true) or `within` passed (false).
pub fn wait_until(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
