//! The event file of one process, as TensorBoard's `EventFileWriter` makes it: a new file per
//! writer, named `events.out.tfevents.<secs>.<host>.<pid>.<n>`, opening with a file-version
//! record. Events are collected in memory and appended with one write at each
//! [`EventWriter::flush`], so a reader never sees half of a tick.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message as _;

use super::proto::{Event, Kind, SessionLog, SessionStatus, Summary, Value, What};
use super::record::append_record;
use crate::run_files::{EVENTS_FILE_PREFIX, events_file};

/// The format TensorBoard's readers expect (version 2 purges on `SessionLog.START`).
const FILE_VERSION: &str = "brain.Event:2";

/// The writers this process has opened, as TensorBoard's `_global_uid`: the last part of a name.
static WRITERS: AtomicU64 = AtomicU64::new(0);

/// Seconds since 1970, as Python's `time.time()`.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The time field of an event file's name (`None` for other files).
fn file_secs(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(EVENTS_FILE_PREFIX)?;
    rest.split('.').next()?.parse().ok()
}

/// A new event file's time field: now, or one second past the newest event file already in `dir`
/// when that one is not older, so that TensorBoard — which reads a directory's event files in
/// name order — reads this process's events after every earlier process's.
fn next_secs(dir: &Path, now_secs: u64) -> std::io::Result<u64> {
    let newest = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|entry| file_secs(&entry.file_name().to_string_lossy()))
        .max();
    Ok(match newest {
        Some(secs) if secs >= now_secs => secs + 1,
        _ => now_secs,
    })
}

/// An open event file.
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    file: File,
    pending: Vec<u8>,
}

impl EventWriter {
    /// Create a new event file in the directory `dir` and write its file-version record.
    pub fn create(dir: &Path) -> std::io::Result<EventWriter> {
        let wall_time = now();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "seconds since 1970 are positive and far below 2^64"
        )]
        let secs = next_secs(dir, wall_time as u64)?;
        let host = nix::unistd::gethostname().map_or_else(
            |_| "localhost".to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        let name = events_file(
            secs,
            &host,
            std::process::id(),
            WRITERS.fetch_add(1, Ordering::Relaxed),
        );
        let path = dir.join(name);
        let file = File::options().append(true).create_new(true).open(&path)?;
        let mut writer = EventWriter {
            path,
            file,
            pending: Vec::new(),
        };
        writer.push(wall_time, 0, What::FileVersion(FILE_VERSION.into()));
        writer.flush()?;
        Ok(writer)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn push(&mut self, wall_time: f64, step: i64, what: What) {
        let event = Event {
            wall_time,
            step,
            what: Some(what),
        };
        append_record(&mut self.pending, &event.encode_to_vec());
    }

    /// A scalar under `tag` at `step`, stored as float32 (as `SummaryWriter.add_scalar`).
    pub fn scalar(&mut self, tag: &str, value: f64, step: i64, wall_time: f64) {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "TensorBoard's simple values are float32"
        )]
        let value = value as f32;
        let summary = Summary {
            value: vec![Value {
                tag: tag.to_string(),
                kind: Some(Kind::SimpleValue(value)),
            }],
        };
        self.push(wall_time, step, What::Summary(summary));
    }

    /// A `SessionLog` START at `step` (as `SummaryWriter(purge_step=step)`): TensorBoard's reader
    /// drops every event of every tag at or past `step` that it read before this one, in this file
    /// or in earlier ones.
    pub fn session_start(&mut self, step: i64) {
        let start = SessionLog {
            status: SessionStatus::Start.into(),
        };
        self.push(now(), step, What::SessionLog(start));
    }

    /// Append the events since the last flush to the file, in one write.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            self.file.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::EventWriter;
    use crate::tfevents::proto::{Event, Kind, What};

    /// The events of a file: each record's data, checked against its length.
    fn events(bytes: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let length =
                usize::try_from(u64::from_le_bytes(rest[..8].try_into().unwrap())).unwrap();
            events.push(Event::decode(&rest[12..12 + length]).unwrap());
            rest = &rest[12 + length + 4..];
        }
        events
    }

    #[test]
    fn each_writer_opens_a_new_file_that_sorts_after_the_earlier_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = EventWriter::create(dir.path()).unwrap();
        let second = EventWriter::create(dir.path()).unwrap();
        let name = |w: &EventWriter| w.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name(&first).starts_with("events.out.tfevents."));
        assert!(
            name(&first) < name(&second),
            "{} {}",
            name(&first),
            name(&second)
        );

        first.scalar("Loss/G/loss", 0.1, 2, 5.5);
        first.session_start(3);
        let before = std::fs::read(first.path()).unwrap();
        assert_eq!(events(&before).len(), 1, "written only at flush");
        first.flush().unwrap();
        let written = events(&std::fs::read(first.path()).unwrap());
        assert_eq!(written.len(), 3);
        assert_eq!(
            written[0].what,
            Some(What::FileVersion("brain.Event:2".into()))
        );
        assert_eq!((written[1].step, written[1].wall_time), (2, 5.5));
        let Some(What::Summary(summary)) = &written[1].what else {
            panic!("{:?}", written[1]);
        };
        assert_eq!(summary.value[0].tag, "Loss/G/loss");
        assert_eq!(summary.value[0].kind, Some(Kind::SimpleValue(0.1)));
        assert_eq!(written[2].step, 3);
    }
}
