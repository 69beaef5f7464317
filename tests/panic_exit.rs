//! A panic on any thread of a running `clicktail` ends the process with
//! status 101 (issue 11, item 1): the supervisor restarts it, instead of a
//! zombie whose health checks stay green.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_panicking_thread_ends_a_running_demo_with_status_101() {
    let mut demo = Command::new(env!("CARGO_BIN_EXE_clicktail"))
        .args(["demo", "--listen", "127.0.0.1:0", "--rate", "10"])
        .env("CLICKTAIL_TEST_PANIC_AFTER_MS", "1500")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = demo.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            demo.kill().unwrap();
            demo.wait().unwrap();
            panic!("the demo was still running 60 s after a thread panicked");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    demo.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(101), "{stderr}");
    assert!(stderr.contains("thread panicked; exiting the process"), "{stderr}");
    assert!(stderr.contains("clicktail-test-panic"), "{stderr}");
    assert!(stderr.contains("src/cmd/process.rs"), "the location is logged: {stderr}");
}
