//! `clicktail match`, run as users run it: the built binary on files.

use std::path::PathBuf;
use std::process::Command;

/// A fresh directory under the target directory for one test's files.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("match_cli-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `clicktail match` on these filters and events: (status, stdout, stderr).
fn run_match(test: &str, filters: &str, events: Option<&str>) -> (Option<i32>, String, String) {
    let dir = scratch_dir(test);
    std::fs::write(dir.join("filters.txt"), filters).unwrap();
    let events_path = match events {
        Some(events) => {
            std::fs::write(dir.join("events.jsonl"), events).unwrap();
            dir.join("events.jsonl")
        }
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/events-sample.jsonl")),
    };
    let output = Command::new(env!("CARGO_BIN_EXE_clicktail"))
        .arg("match")
        .arg("--filters")
        .arg(dir.join("filters.txt"))
        .arg("--events")
        .arg(events_path)
        .output()
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.code(), text(output.stdout), text(output.stderr))
}

/// Issue 11, item 1: the two regexes panicked the matcher at build time.
#[test]
fn two_regexes_too_big_for_one_set_match_the_sample() {
    let filters = "page.title matches \".{10000}\"\npage.title matches \".{10001}\"\ntype == \"booking\"\n";
    let (status, stdout, stderr) = run_match("pair", filters, None);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(stderr.contains("1000 events, 0 malformed"), "{stderr}");
    // No title of the sample reaches 10,000 characters: only line 3 matches.
    assert!(!stdout.is_empty());
    assert!(stdout.lines().all(|line| line.ends_with(" 3")), "{stdout}");
}

#[test]
fn eleven_regexes_too_big_for_one_set_match_the_sample() {
    let filters: String = (1_000..=1_010).map(|n| format!("page.url matches \".{{{n}}}\"\n")).collect();
    let long_url = format!(r#"{{"page":{{"url":"{}"}}}}"#, "u".repeat(1_004));
    let (status, stdout, stderr) = run_match("eleven", &filters, Some(&format!("{long_url}\n{{}}\n")));
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(stdout, "1 1\n1 2\n1 3\n1 4\n1 5\n");
}

/// Issue 11, item 8: FILTERS.md makes an event "one JSON value, normally an
/// object" and only invalid JSON malformed: `42`, a string, `null` and an
/// array are events, which `*` matches (and so does a full-text term on a
/// root string); paths find nothing in them, except through an array's
/// objects (rule 1).
#[test]
fn json_values_that_are_not_objects_are_events() {
    let filters = "*\n\"string\"\nexists(a)\n";
    let events = "42\n\"a string\"\nnull\n[1,2,3]\n[{\"a\":1}]\nnot json\n";
    let (status, stdout, stderr) = run_match("non-objects", filters, Some(events));
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(stdout, "1 1\n2 1\n2 2\n3 1\n4 1\n5 1\n5 3\n");
    assert!(stderr.contains("6 events, 1 malformed"), "{stderr}");
}
