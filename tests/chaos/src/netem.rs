//! A network emulator in user space, because this machine's kernel has no
//! `sch_netem` (`tc qdisc add ... netem` answers "Specified qdisc kind is
//! unknown"; CONFIG_NET_SCH_NETEM is not set): the broker runs in a network
//! namespace of its own, and so does one worker; every packet between the
//! namespaces and the host crosses a TUN device of ours, where it is
//! delayed, dropped at random, or dropped altogether (a cut link) per link.
//!
//! ```text
//!  host ns: producer, reader, worker-a  ─ ct-host (10.200.9.1) ─┐
//!  ns ct-worker: worker-b ─ ct-worker (10.200.1.2) ─────────────┼─ this forwarder ─ ct-broker (10.200.0.2) ─ ns ct-broker: Kafka
//! ```
//!
//! Links are named by the side that is not the broker: [`Link::Host`] and
//! [`Link::Worker`]; a fault on a link applies in both directions.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

pub const BROKER_NS: &str = "ct-broker";
pub const WORKER_NS: &str = "ct-worker";
pub const BROKER_ADDRESS: [u8; 4] = [10, 200, 0, 2];
const HOST_ADDRESS: [u8; 4] = [10, 200, 9, 1];
const WORKER_ADDRESS: [u8; 4] = [10, 200, 1, 2];
const HOST_TUN: &str = "ct-host";
const BROKER_TUN: &str = "ct-broker";
const WORKER_TUN: &str = "ct-worker";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Host = 0,
    Worker = 1,
}

/// The faults of one link, changed while packets flow.
#[derive(Default)]
pub struct Faults {
    pub delay_ms: AtomicU32,
    /// Dropped packets per 10,000.
    pub loss_per_10k: AtomicU32,
    pub cut: AtomicBool,
}

/// Packets waiting for their time to leave through one TUN device.
#[derive(Default)]
struct Outbox {
    queue: Mutex<VecDeque<(Instant, Vec<u8>)>>,
    ready: Condvar,
}

/// The namespaces, the TUN devices and the threads moving packets; all
/// removed when dropped.
pub struct Network {
    pub faults: [Arc<Faults>; 2],
    stop: Arc<AtomicBool>,
    /// Packets dropped by loss or a cut, for the report.
    pub dropped: Arc<AtomicU32>,
}

impl Network {
    pub fn up() -> anyhow::Result<Self> {
        teardown();
        let setup = [
            format!("netns add {BROKER_NS}"),
            format!("netns add {WORKER_NS}"),
            format!("-n {BROKER_NS} link set lo up"),
            format!("-n {WORKER_NS} link set lo up"),
            format!("tuntap add dev {HOST_TUN} mode tun"),
            format!("-n {BROKER_NS} tuntap add dev {BROKER_TUN} mode tun"),
            format!("-n {WORKER_NS} tuntap add dev {WORKER_TUN} mode tun"),
            format!("addr add {}/32 dev {HOST_TUN}", dotted(HOST_ADDRESS)),
            format!("-n {BROKER_NS} addr add {}/32 dev {BROKER_TUN}", dotted(BROKER_ADDRESS)),
            format!("-n {WORKER_NS} addr add {}/32 dev {WORKER_TUN}", dotted(WORKER_ADDRESS)),
            format!("link set {HOST_TUN} up"),
            format!("-n {BROKER_NS} link set {BROKER_TUN} up"),
            format!("-n {WORKER_NS} link set {WORKER_TUN} up"),
            format!("route add {}/32 dev {HOST_TUN}", dotted(BROKER_ADDRESS)),
            format!("-n {BROKER_NS} route add 10.200.0.0/16 dev {BROKER_TUN}"),
            format!("-n {WORKER_NS} route add {}/32 dev {WORKER_TUN}", dotted(BROKER_ADDRESS)),
        ];
        for args in setup {
            ip(&args)?;
        }
        let host = open_tun(None, HOST_TUN)?;
        let broker = open_tun(Some(BROKER_NS), BROKER_TUN)?;
        let worker = open_tun(Some(WORKER_NS), WORKER_TUN)?;
        let network = Network {
            faults: [Arc::default(), Arc::default()],
            stop: Arc::new(AtomicBool::new(false)),
            dropped: Arc::default(),
        };
        let outboxes: [Arc<Outbox>; 3] = [Arc::default(), Arc::default(), Arc::default()];
        // Readers: host and worker packets go to the broker; the broker's
        // go to whichever side they are addressed to.
        let devices = [host, broker, worker];
        for (index, device) in devices.iter().enumerate() {
            let writer = device.try_clone()?;
            let outbox = outboxes[index].clone();
            let stop = network.stop.clone();
            std::thread::spawn(move || write_loop(writer, &outbox, &stop));
        }
        for (index, device) in devices.into_iter().enumerate() {
            let outboxes = outboxes.clone();
            let faults = network.faults.clone();
            let (stop, dropped) = (network.stop.clone(), network.dropped.clone());
            std::thread::spawn(move || read_loop(device, index, &outboxes, &faults, &stop, &dropped));
        }
        Ok(network)
    }

    pub fn set(&self, link: Link, delay_ms: u32, loss_percent: u32, cut: bool) {
        let faults = &self.faults[link as usize];
        faults.delay_ms.store(delay_ms, Ordering::Relaxed);
        faults.loss_per_10k.store(loss_percent * 100, Ordering::Relaxed);
        faults.cut.store(cut, Ordering::Relaxed);
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        teardown();
    }
}

/// Removes the namespaces and devices (also those a crashed run left).
pub fn teardown() {
    for args in [format!("netns del {BROKER_NS}"), format!("netns del {WORKER_NS}"), format!("link del {HOST_TUN}")] {
        let _ = Command::new("ip").args(args.split(' ')).stderr(std::process::Stdio::null()).status();
    }
}

pub fn dotted(address: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", address[0], address[1], address[2], address[3])
}

fn ip(args: &str) -> anyhow::Result<()> {
    let output = Command::new("ip").args(args.split(' ')).output().context("running ip (iproute2)")?;
    if !output.status.success() {
        bail!("ip {args}: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// Attaches to the persistent TUN device `name` (made by `ip tuntap add`)
/// in namespace `netns` (None: ours). setns(2) changes only the calling
/// thread's namespace, hence the short-lived thread; the descriptor keeps
/// working from any thread afterwards.
fn open_tun(netns: Option<&str>, name: &str) -> anyhow::Result<File> {
    let (netns, name) = (netns.map(str::to_owned), name.to_owned());
    std::thread::spawn(move || -> anyhow::Result<File> {
        if let Some(netns) = netns {
            let ns = File::open(format!("/var/run/netns/{netns}"))?;
            // SAFETY: setns on a valid namespace descriptor, for this thread only.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                bail!("setns {netns}: {}", std::io::Error::last_os_error());
            }
        }
        let tun = std::fs::OpenOptions::new().read(true).write(true).open("/dev/net/tun")?;
        // struct ifreq: 16 bytes of name, then the flags (short); 40 bytes in all.
        let mut request = [0u8; 40];
        request[..name.len()].copy_from_slice(name.as_bytes());
        let flags = (libc::IFF_TUN | libc::IFF_NO_PI) as i16;
        request[16..18].copy_from_slice(&flags.to_ne_bytes());
        const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
        // SAFETY: TUNSETIFF reads and writes a struct ifreq, which `request` is sized as.
        if unsafe { libc::ioctl(tun.as_raw_fd(), TUNSETIFF as _, request.as_mut_ptr()) } != 0 {
            bail!("attaching TUN device {name}: {}", std::io::Error::last_os_error());
        }
        Ok(tun)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the TUN thread panicked"))?
}

/// Device indices: 0 host, 1 broker, 2 worker.
fn read_loop(
    mut device: File,
    from: usize,
    outboxes: &[Arc<Outbox>; 3],
    faults: &[Arc<Faults>; 2],
    stop: &AtomicBool,
    dropped: &AtomicU32,
) {
    let mut buffer = vec![0u8; 65_536];
    let mut random = 0x9e37_79b9_7f4a_7c15_u64 ^ from as u64;
    while !stop.load(Ordering::Relaxed) {
        let Ok(n) = device.read(&mut buffer) else { return };
        // IPv4 only (the devices carry nothing else we route).
        if n < 20 || buffer[0] >> 4 != 4 {
            continue;
        }
        let destination = [buffer[16], buffer[17], buffer[18], buffer[19]];
        let (to, link) = match (from, destination) {
            (0, BROKER_ADDRESS) => (1, Link::Host),
            (2, BROKER_ADDRESS) => (1, Link::Worker),
            (1, HOST_ADDRESS) => (0, Link::Host),
            (1, WORKER_ADDRESS) => (2, Link::Worker),
            _ => continue,
        };
        let faults = &faults[link as usize];
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        if faults.cut.load(Ordering::Relaxed)
            || (random % 10_000) < u64::from(faults.loss_per_10k.load(Ordering::Relaxed))
        {
            dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let due = Instant::now() + Duration::from_millis(u64::from(faults.delay_ms.load(Ordering::Relaxed)));
        let outbox = &outboxes[to];
        outbox.queue.lock().unwrap().push_back((due, buffer[..n].to_vec()));
        outbox.ready.notify_one();
    }
}

fn write_loop(mut device: File, outbox: &Outbox, stop: &AtomicBool) {
    let mut queue = outbox.queue.lock().unwrap();
    while !stop.load(Ordering::Relaxed) {
        match queue.front() {
            None => queue = outbox.ready.wait_timeout(queue, Duration::from_millis(100)).unwrap().0,
            Some(&(due, _)) => {
                let now = Instant::now();
                if due > now {
                    queue = outbox.ready.wait_timeout(queue, due - now).unwrap().0;
                    continue;
                }
                let (_, packet) = queue.pop_front().expect("a front element");
                drop(queue);
                let _ = device.write(&packet);
                queue = outbox.queue.lock().unwrap();
            }
        }
    }
}
