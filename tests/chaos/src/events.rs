//! The numbered events every scenario plays, and which of them each
//! criterion matches, computed once by `clicktail match` (the workers'
//! compiled matcher, offline).

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, ensure, Context};

/// The criteria the scenarios use, each with the `type` of a probe event
/// that matches it (see [`probe_event`]). Type criteria: their matches are
/// thousands per second at the scenarios' rates.
pub const CRITERIA: &[(&str, &str)] =
    &[(r#"type == "page_view""#, "page_view"), (r#"type == "click""#, "click"), (r#"type == "booking""#, "booking")];

pub const PAGE_VIEWS: usize = 0;
pub const CLICKS: usize = 1;
pub const BOOKINGS: usize = 2;

/// The generator seed: the same events on every run.
const SEED: &str = "11";

pub struct Events {
    /// The events, line by line (line 1 of the file is index 0).
    pub lines: Vec<Vec<u8>>,
    /// The Kafka key of each event: its user id, as the gateway keys them.
    pub keys: Vec<String>,
    /// `event_id` → index.
    index: HashMap<String, u32>,
    /// Per criterion of [`CRITERIA`], whether each event matches it.
    matches: Vec<Vec<bool>>,
}

impl Events {
    pub fn load(bin: &Path, work_dir: &Path, count: usize) -> anyhow::Result<Self> {
        let events_path = work_dir.join(format!("events-{count}-seed{SEED}.jsonl"));
        if !events_path.is_file() {
            let status = Command::new(bin)
                .args(["fixtures", "events", "--count", &count.to_string(), "--seed", SEED, "--out"])
                .arg(&events_path)
                .status()?;
            ensure!(status.success(), "clicktail fixtures events failed");
        }
        let text = std::fs::read(&events_path).with_context(|| format!("reading {}", events_path.display()))?;
        let lines: Vec<Vec<u8>> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
        ensure!(lines.len() == count, "{} holds {} events, not {count}", events_path.display(), lines.len());
        let mut index = HashMap::with_capacity(count);
        let mut keys = Vec::with_capacity(count);
        for (i, line) in lines.iter().enumerate() {
            let id = field(line, b"\"event_id\":\"").context("an event without event_id")?;
            if index.insert(id.to_owned(), i as u32).is_some() {
                bail!("event_id {id} appears twice in {}", events_path.display());
            }
            keys.push(field(line, b"\"user\":{\"id\":\"").unwrap_or("anonymous").to_owned());
        }
        let matches = expected_matches(bin, work_dir, &events_path, count)?;
        Ok(Events { lines, keys, index, matches })
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn index_of(&self, event_id: &str) -> Option<usize> {
        self.index.get(event_id).map(|&i| i as usize)
    }

    /// The events of `range` that criterion `criterion` (of [`CRITERIA`]) matches.
    pub fn expected(&self, criterion: usize, range: Range<usize>) -> Vec<usize> {
        range.filter(|&i| self.matches[criterion][i]).collect()
    }
}

/// A probe: an event outside the numbered set that matches criterion
/// `criterion`; seeing it arrive proves the filter is live.
pub fn probe_event(criterion: usize, number: u64) -> Vec<u8> {
    format!(r#"{{"event_id":"probe-{number}","type":"{}","user":{{"id":"probe"}}}}"#, CRITERIA[criterion].1)
        .into_bytes()
}

/// The string value following `prefix` in `line` (the generator writes no
/// escapes in ids), or None.
pub fn field<'a>(line: &'a [u8], prefix: &[u8]) -> Option<&'a str> {
    let start = memfind(line, prefix)? + prefix.len();
    let len = line[start..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&line[start..start + len]).ok()
}

fn memfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `clicktail match` of the events against [`CRITERIA`] (filter line k is
/// criterion k - 1).
fn expected_matches(bin: &Path, work_dir: &Path, events: &Path, count: usize) -> anyhow::Result<Vec<Vec<bool>>> {
    let filters_path = work_dir.join("criteria.txt");
    let filters: String = CRITERIA.iter().map(|(c, _)| format!("{c}\n")).collect();
    std::fs::write(&filters_path, filters)?;
    let output =
        Command::new(bin).arg("match").arg("--filters").arg(&filters_path).arg("--events").arg(events).output()?;
    ensure!(output.status.success(), "clicktail match failed: {}", String::from_utf8_lossy(&output.stderr));
    let mut matches = vec![vec![false; count]; CRITERIA.len()];
    for line in String::from_utf8(output.stdout)?.lines() {
        let (event, filter) = line.split_once(' ').context("a clicktail match line without a space")?;
        let (event, filter): (usize, usize) = (event.parse()?, filter.parse()?);
        matches[filter - 1][event - 1] = true;
    }
    Ok(matches)
}
