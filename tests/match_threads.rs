//! `clicktail match` on several threads prints the same bytes as on one:
//! for every fixture and a generated file with malformed lines, a line over
//! the size bound and a last line without `\n`; in every output shape; from
//! a file and from standard input; with chunks of the default size and with
//! chunks so small that most lines straddle two reads.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");

/// Runs the binary: (status, stdout, stderr). `stdin` is fed through a
/// thread, since the child may fill its stdout pipe before reading it all.
fn run(args: &[&str], stdin: Option<&Path>) -> (Option<i32>, Vec<u8>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clicktail"))
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let writer = stdin.map(|path| {
        let bytes = std::fs::read(path).unwrap();
        let mut input = child.stdin.take().unwrap();
        std::thread::spawn(move || input.write_all(&bytes).unwrap())
    });
    let output = child.wait_with_output().unwrap();
    if let Some(writer) = writer {
        writer.join().unwrap();
    }
    (output.status.code(), output.stdout, String::from_utf8(output.stderr).unwrap())
}

/// The summary without its timing: `... 12 matches in 0.003 s (4000 events/s) (...)`
/// becomes `... 12 matches (...)`.
fn untimed(stderr: &str) -> String {
    let start = stderr.find(" in ").unwrap_or_else(|| panic!("no summary in {stderr:?}"));
    let end = stderr[start..].find(" events/s)").unwrap() + start + " events/s)".len();
    format!("{}{}", &stderr[..start], &stderr[end..])
}

/// Asserts that `args` (plus `--threads N` and the chunk size) print the
/// same stdout and summary for 1, 2 and 8 threads; returns the 1-thread run.
fn same_for_every_thread_count(args: &[&str], stdin: Option<&Path>) -> (Vec<u8>, String) {
    let mut reference = None;
    for chunk_bytes in ["1048576", "997"] {
        for threads in ["1", "2", "8"] {
            let mut full = args.to_vec();
            full.extend(["--threads", threads, "--chunk-bytes", chunk_bytes]);
            let (status, stdout, stderr) = run(&full, stdin);
            assert_eq!(status, Some(0), "{full:?}: {stderr}");
            let run = (stdout, untimed(&stderr));
            match &reference {
                None => reference = Some(run),
                Some(reference) => {
                    assert!(run.0 == reference.0, "{full:?}: stdout differs from 1 thread's");
                    assert_eq!(run.1, reference.1, "{full:?}: summary differs from 1 thread's");
                }
            }
        }
    }
    reference.unwrap()
}

/// Every shape of output for these filters and events.
fn every_shape_the_same(filters: &Path, events: &Path, extra: &[&str]) -> Vec<(Vec<u8>, String)> {
    let (filters, events) = (filters.to_str().unwrap(), events.to_str().unwrap());
    [&[][..], &["--count"], &["--format", "json"]]
        .iter()
        .map(|shape| {
            let mut args = vec!["match", "--filters", filters, "--events", events];
            args.extend_from_slice(shape);
            args.extend_from_slice(extra);
            same_for_every_thread_count(&args, None)
        })
        .collect()
}

#[test]
fn every_fixture_prints_the_same_for_1_2_and_8_threads() {
    let events = Path::new(FIXTURES).join("events-sample.jsonl");
    let runs = every_shape_the_same(&Path::new(FIXTURES).join("filters-mixed.txt"), &events, &[]);
    assert!(runs[0].1.starts_with("clicktail match: 1000 events, 0 malformed, 22215 matches"), "{}", runs[0].1);
    // The 50,000 selective filters take seconds to compile in a debug
    // build: one shape, chunks of both sizes.
    let selective = Path::new(FIXTURES).join("filters-selective.txt");
    let (stdout, summary) = same_for_every_thread_count(
        &["match", "--filters", selective.to_str().unwrap(), "--events", events.to_str().unwrap()],
        None,
    );
    assert!(summary.starts_with("clicktail match: 1000 events, 0 malformed, 37 matches"), "{summary}");
    assert_eq!(stdout.iter().filter(|&&byte| byte == b'\n').count(), 37);
}

/// A generated file of about 2 MB: 2% malformed events, users drawn from
/// twice the filters' range (about half the events match one filter), a
/// line over `--event-bytes-max`, a blank line, and a last line without `\n`.
#[test]
fn a_generated_file_with_malformed_lines_prints_the_same_for_1_2_and_8_threads() {
    let dir = common::scratch_dir("match_threads", "generated");
    let (events, filters) = (dir.join("events.jsonl"), dir.join("filters.txt"));
    let fixtures = |args: &[&str]| {
        let (status, _, stderr) = run(args, None);
        assert_eq!(status, Some(0), "{stderr}");
    };
    let events_text = events.to_str().unwrap();
    fixtures(&[
        "fixtures",
        "events",
        "--count",
        "3000",
        "--seed",
        "5",
        "--users",
        "1000",
        "--malformed-per-million",
        "20000",
        "--out",
        events_text,
    ]);
    fixtures(&["fixtures", "filters", "selective", "--count", "500", "--out", filters.to_str().unwrap()]);
    let mut file = std::fs::OpenOptions::new().append(true).open(&events).unwrap();
    let too_long = format!("{{\"user\":{{\"id\":\"u-1\"}},\"pad\":\"{}\"}}\n", "x".repeat(5_000));
    file.write_all(too_long.as_bytes()).unwrap();
    file.write_all(b"\n{\"user\":{\"id\":\"u-2\"}}").unwrap();
    drop(file);

    let runs = every_shape_the_same(&filters, &events, &["--event-bytes-max", "4000"]);
    // 3,000 generated, the long line, the blank one and the unterminated one.
    assert!(runs[0].1.starts_with("clicktail match: 3003 events, "), "{}", runs[0].1);
    let lines = String::from_utf8(runs[0].0.clone()).unwrap();
    assert!(lines.ends_with("3003 2\n"), "the unterminated last line matches filter 2");
    assert!(!lines.contains("\n3001 "), "the line over the bound is malformed: {}", runs[0].1);
    let malformed: u64 = runs[0].1.split(", ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(malformed > 1, "{}", runs[0].1);

    // `-e` criteria and standard input.
    let from_stdin = same_for_every_thread_count(
        &["match", "-e", "user.id == \"u-7\"", "-e", "type == \"booking\"", "--event-bytes-max", "4000"],
        Some(&events),
    );
    assert!(from_stdin.1.starts_with("clicktail match: 3003 events, "), "{}", from_stdin.1);
    assert!(!from_stdin.0.is_empty());
}

/// Large filter sets are parsed on every core: bad lines are still all
/// reported, in line order, and nothing is matched.
#[test]
fn bad_filters_of_a_large_set_are_reported_in_line_order() {
    let dir = common::scratch_dir("match_threads", "bad-filters");
    let mut filters: Vec<String> = (1..=6_000).map(|n| format!("user.id == \"u-{n}\"")).collect();
    filters[2_999] = "type ==".to_owned();
    filters[5_999] = "a ~~ 1".to_owned();
    let path = dir.join("filters.txt");
    std::fs::write(&path, filters.join("\n")).unwrap();
    let path = path.to_str().unwrap();
    let (status, stdout, stderr) = run(&["match", "--filters", path, "--events", "/dev/null"], None);
    assert_eq!(status, Some(2));
    assert!(stdout.is_empty());
    assert_eq!(
        stderr,
        format!(
            "{path}:3000: column 8: expected a literal after '==' (a \"string\", a number, true, false or null), found the end of the filter\n\
             {path}:6000: column 3: unexpected character '~'\n\
             clicktail match: 2 filter(s) rejected, nothing matched\n"
        )
    );
}
