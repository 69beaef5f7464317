//! Transparent huge pages off for a process: a gateway, and `clicktail
//! match`.
//!
//! mimalloc asks the kernel for transparent huge pages on its arenas
//! (`madvise(MADV_HUGEPAGE)`).
//!
//! - A gateway's heap is tens of thousands of small allocations per node, a
//!   few per admin session, and a 2 MiB page that a few sessions'
//!   allocations touch is resident in full. Measured with the fan-out
//!   benchmark at 10,000 idle sessions: 2.9 KiB of RSS per session with
//!   huge pages, 1.9 KiB without, and 9 MiB less at start
//!   (perf/results/gateway-50k.md).
//! - `clicktail match` lives a fraction of a second and takes about 100 MB
//!   at once (the compiled filters, the chunks in flight). Each huge page
//!   it faults in must be zeroed, and once other processes have fragmented
//!   memory the kernel compacts memory to find one (`defrag` is `madvise`
//!   by default): right after a `jq` run over the same file, a run took
//!   0.34–0.44 s with huge pages and 0.25–0.30 s without
//!   (perf/results/match-parallel.md, 2026-12-05).
//!
//! A worker keeps them: it lives long, and its matcher's tables are large
//! and read at random, where huge pages save TLB misses.

/// Turns transparent huge pages off for this whole process, for memory
/// mapped from now on and for pages of existing mappings touched from now
/// on. Call it first thing in the process.
#[cfg(target_os = "linux")]
pub fn use_small_pages() -> std::io::Result<()> {
    // SAFETY: PR_SET_THP_DISABLE takes integers only and changes a flag of
    // this process's memory map.
    let result = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Elsewhere there is no such switch; pages stay as the system gives them.
#[cfg(not(target_os = "linux"))]
pub fn use_small_pages() -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn huge_pages_are_off_for_the_process_afterwards() {
        super::use_small_pages().unwrap();
        // SAFETY: PR_GET_THP_DISABLE takes no pointers.
        let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(disabled, 1);
    }
}
