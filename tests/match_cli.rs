//! `clicktail match`, run as users run it: the built binary on files.

mod common;

use std::path::PathBuf;
use std::process::Command;

/// Runs `clicktail match` on these filters and events: (status, stdout, stderr).
fn run_match(test: &str, filters: &str, events: Option<&str>) -> (Option<i32>, String, String) {
    let dir = common::scratch_dir("match_cli", test);
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

/// Runs the binary with these arguments and this standard input:
/// (status, stdout, stderr).
fn run_clicktail(args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_clicktail"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_owned();
    // A thread writes standard input: the child may fill its stdout pipe
    // before reading all of it.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.code(), text(output.stdout), text(output.stderr))
}

const SMALL_EVENTS: &str = concat!(
    "{\"type\":\"booking\",\"price\":300}\n",
    "{\"type\":\"click\"}\n",
    "not json\n",
    "{ \"type\" : \"booking\" ,\"price\":  90 }\n",
);

/// The README's sample: the summary it quotes is the one the command prints.
#[test]
fn readme_sample_prints_the_readme_summary() {
    let (status, stdout, stderr) = run_clicktail(
        &["match", "--filters", "fixtures/filters-mixed.txt", "--events", "fixtures/events-sample.jsonl"],
        "",
    );
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 22_215);
    assert!(stderr.starts_with("clicktail match: 1000 events, 0 malformed, 22215 matches in "), "{stderr}");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains("clicktail match: 1000 events, 0 malformed, 22215 matches in "));
}

/// Issue 14, item 4: `-e` criteria, numbered from 1 in the order given;
/// events from standard input when there is no `--events`.
#[test]
fn criteria_given_with_e_match_events_from_standard_input() {
    let (status, stdout, stderr) =
        run_clicktail(&["match", "-e", "type == \"booking\"", "-e", "*", "-e", "price > 100"], SMALL_EVENTS);
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(stdout, "1 1\n1 2\n1 3\n2 2\n4 1\n4 2\n");
    assert!(stderr.starts_with("clicktail match: 4 events, 1 malformed, 6 matches in "), "{stderr}");
}

/// A criterion that does not parse is named by its position, and nothing
/// is matched (status 2, as for a filters file).
#[test]
fn a_bad_e_criterion_is_reported_by_its_position() {
    let (status, stdout, stderr) = run_clicktail(&["match", "-e", "*", "-e", "type =="], SMALL_EVENTS);
    assert_eq!(status, Some(2));
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "-e 2: column 8: expected a literal after '==' (a \"string\", a number, true, false or null), found the end of the filter\n\
         clicktail match: 1 filter(s) rejected, nothing matched\n"
    );
}

/// `--count`: each filter's number of matching events, zeros included, in
/// id order (like `grep -c` over several files: one count per input).
#[test]
fn count_prints_each_filters_number_of_matching_events() {
    let (status, stdout, stderr) = run_clicktail(
        &["match", "--count", "-e", "type == \"booking\"", "-e", "type == \"search\"", "-e", "*"],
        SMALL_EVENTS,
    );
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(stdout, "1 2\n2 0\n3 3\n");
    assert!(stderr.starts_with("clicktail match: 4 events, 1 malformed, 5 matches in "), "{stderr}");
}

/// `--format json`: each matching event once, its bytes unchanged, with its
/// line number and the ids of the filters it matched.
#[test]
fn format_json_prints_each_matching_event_with_its_filters() {
    let (status, stdout, stderr) =
        run_clicktail(&["match", "--format", "json", "-e", "price > 100", "-e", "type == \"booking\""], SMALL_EVENTS);
    assert_eq!(status, Some(0), "{stderr}");
    assert_eq!(
        stdout,
        concat!(
            "{\"line\":1,\"filters\":[1,2],\"event\":{\"type\":\"booking\",\"price\":300}}\n",
            "{\"line\":4,\"filters\":[2],\"event\":{ \"type\" : \"booking\" ,\"price\":  90 }}\n",
        )
    );
}

/// Issue 14: `--filters 'type == "booking"'` looked for a file of that name.
#[test]
fn a_filter_given_as_the_filters_file_suggests_e() {
    let (status, stdout, stderr) =
        run_clicktail(&["match", "--filters", "type == \"booking\" and user.id == 'x'", "--events", "-"], "");
    assert_eq!(status, Some(1));
    assert_eq!(stdout, "");
    // Not a filter (single quotes): the plain error.
    assert!(stderr.contains("cannot read filters file"), "{stderr}");
    let (status, _, stderr) = run_clicktail(&["match", "--filters", "type == \"booking\" or x == \"it's\""], "");
    assert_eq!(status, Some(1));
    assert_eq!(
        stderr,
        "clicktail: no such filters file: type == \"booking\" or x == \"it's\"; \
         did you mean -e 'type == \"booking\" or x == \"it'\\''s\"'?\n"
    );
}

/// Runs `clicktail match -e '*'` on `events_count` events with stdout (and
/// stderr too when `stderr_too`) into a pipe whose reader reads one line and
/// closes it, as `| head -n 1` does: (status, stderr if captured).
fn run_into_closed_pipe(test: &str, events_count: usize, stderr_too: bool) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let dir = common::scratch_dir("match_cli", test);
    let events = dir.join("events.jsonl");
    std::fs::write(&events, "{}\n".repeat(events_count)).unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    let stderr = if stderr_too { Stdio::from(writer.try_clone().unwrap()) } else { Stdio::piped() };
    let mut child = Command::new(env!("CARGO_BIN_EXE_clicktail"))
        .args(["match", "-e", "*", "--events"])
        .arg(&events)
        .stdout(writer)
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(reader);
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert_eq!(first, "1 1\n");
    drop(reader);
    let mut captured = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        stderr.read_to_string(&mut captured).unwrap();
    }
    (child.wait().unwrap().code(), captured)
}

/// Issue 14: `match ... | head` lost the summary. Output is cut after the
/// first line; the command stops reading, prints the summary of what it
/// read, and exits 0 (the reader took what it wanted).
#[test]
fn the_summary_survives_a_closed_standard_output() {
    // 9 bytes of output per event, 1 MB in all: far more than the pipe and
    // the output buffer hold, so the writes must meet the closed pipe.
    let (status, stderr) = run_into_closed_pipe("closed-stdout", 120_000, false);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(stderr.starts_with("clicktail match: "), "{stderr}");
    assert!(stderr.ends_with("; stopped early: standard output was closed\n"), "{stderr}");
    let events: u64 = stderr["clicktail match: ".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!(events < 120_000, "{stderr}");
}

/// `clicktail match ... 2>&1 | head -n 1`: the summary has nowhere to go,
/// which is no reason to panic (status 101).
#[test]
fn a_closed_standard_error_is_no_panic() {
    let (status, _) = run_into_closed_pipe("closed-stderr", 120_000, true);
    assert_eq!(status, Some(0));
}
