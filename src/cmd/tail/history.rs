//! `--last N`: the newest N records of the chosen filter(s), read
//! backwards in growing windows before following starts.
//!
//! A filter shares its partition with other filters (`id % partitions`),
//! so the last N records of the partition may hold fewer than N of it:
//! the window grows (×4) until N are found, the partition's start is
//! reached, or [`SCAN_RECORDS_MAX`] records were read.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use clicktail_engine::log::kafka::KafkaLog;
use clicktail_engine::log::{PartitionId, Record};

/// Records read backwards per partition at most, looking for the last N
/// of a filter (1,000,000: seconds on a local broker). Past it, fewer
/// than N are printed and stderr says so.
pub const SCAN_RECORDS_MAX: i64 = 1_000_000;

/// How long a range read waits for its next record before giving up (a
/// gap in the offsets, a broker away).
const RANGE_IDLE_MAX: Duration = Duration::from_secs(15);

/// Which records a tail prints.
#[derive(Clone, Copy, Debug)]
pub enum Wanted<'a> {
    /// Every record of the topic.
    All,
    /// Those whose key is this filter id in decimal (the key is the filter
    /// id in every format version, so records of an unknown version are
    /// still selected, then counted as unreadable).
    Key(&'a [u8]),
}

impl Wanted<'_> {
    pub fn selects(&self, record: &Record) -> bool {
        match self {
            Wanted::All => true,
            Wanted::Key(key) => record.key.as_deref() == Some(*key),
        }
    }
}

/// One partition to read: its offsets as of the start of the tail.
#[derive(Clone, Copy, Debug)]
pub struct PartitionRange {
    pub partition: PartitionId,
    /// The oldest offset still held.
    pub low: i64,
    /// The offset of the next record: the tail follows from here.
    pub high: i64,
}

/// The newest `count` wanted records before `high` of every partition,
/// oldest first: by match time (the record timestamp) across partitions,
/// in offset order within one. Also says whether a scan hit its bound.
pub fn last_records(
    log: &KafkaLog,
    topic: &str,
    ranges: &[PartitionRange],
    wanted: Wanted<'_>,
    count: usize,
) -> anyhow::Result<(Vec<Record>, bool)> {
    let mut all = Vec::new();
    let mut bounded = false;
    for range in ranges {
        let (records, hit_bound) = last_of_partition(log, topic, range, wanted, count)?;
        all.extend(records);
        bounded |= hit_bound;
    }
    // A stable sort: equal timestamps keep partition then offset order.
    all.sort_by_key(|record| (record.timestamp_ms, record.partition, record.offset));
    let excess = all.len().saturating_sub(count);
    all.drain(..excess);
    Ok((all, bounded))
}

fn last_of_partition(
    log: &KafkaLog,
    topic: &str,
    range: &PartitionRange,
    wanted: Wanted<'_>,
    count: usize,
) -> anyhow::Result<(VecDeque<Record>, bool)> {
    let mut kept: VecDeque<Record> = VecDeque::with_capacity(count);
    let mut end = range.high;
    let mut window = (count as i64).max(1);
    let mut scanned = 0i64;
    while kept.len() < count && end > range.low {
        if scanned >= SCAN_RECORDS_MAX {
            return Ok((kept, true));
        }
        let start = range.low.max(end - window);
        let mut older = read_range(log, topic, range.partition, start, end, wanted, count - kept.len())?;
        while let Some(record) = older.pop_back() {
            kept.push_front(record);
        }
        scanned += end - start;
        end = start;
        window = window.saturating_mul(4);
    }
    Ok((kept, false))
}

/// The newest `keep` wanted records of `partition` in `[start, end)`.
fn read_range(
    log: &KafkaLog,
    topic: &str,
    partition: PartitionId,
    start: i64,
    end: i64,
    wanted: Wanted<'_>,
    keep: usize,
) -> anyhow::Result<VecDeque<Record>> {
    let mut consumer = log.consumer_from(topic, &[(partition, start)])?;
    let mut kept = VecDeque::with_capacity(keep);
    let mut batch = Vec::new();
    let mut last_progress = Instant::now();
    let mut next = start;
    while next < end {
        batch.clear();
        consumer.poll(1_000, Duration::from_millis(200), &mut batch)?;
        if batch.is_empty() {
            if last_progress.elapsed() > RANGE_IDLE_MAX {
                anyhow::bail!(
                    "reading {topic:?} partition {} from offset {next} to {end}: no record for {} s",
                    partition.0,
                    RANGE_IDLE_MAX.as_secs()
                );
            }
            continue;
        }
        last_progress = Instant::now();
        for record in batch.drain(..) {
            next = record.offset + 1;
            if record.offset >= end || !wanted.selects(&record) {
                continue;
            }
            if kept.len() == keep {
                kept.pop_front();
            }
            kept.push_back(record);
        }
    }
    Ok(kept)
}
