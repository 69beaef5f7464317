//! Transparent huge pages off for a gateway process.
//!
//! A gateway's heap is tens of thousands of small allocations per node, a
//! few per admin session. mimalloc asks the kernel for transparent huge
//! pages on its arenas (`madvise(MADV_HUGEPAGE)`), and a 2 MiB page that a
//! few sessions' allocations touch is resident in full. Measured with the
//! fan-out benchmark at 10,000 idle sessions: 2.9 KiB of RSS per session
//! with huge pages, 1.9 KiB without, and 9 MiB less at start
//! (perf/results/gateway-50k.md). A worker keeps them: its matcher's
//! tables are large and read at random, where huge pages save TLB misses.

/// Turns transparent huge pages off for this whole process, for memory
/// mapped from now on and for pages of existing mappings touched from now
/// on. Call it first thing in a process that is only a gateway.
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
