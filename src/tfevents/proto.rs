//! The TensorBoard protocol buffer messages kimg writes, derived by hand with prost (no `protoc`):
//! the parts of `tensorboard/compat/proto/event.proto` and `summary.proto` that carry a file
//! version, scalars and a session start, with those files' field numbers and types.

/// One record of an event file (`tensorboard.Event`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Seconds; the official loop passes seconds since training started for its scalars.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The global step (the official loop's `int(cur_nimg / 1e3)`).
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// What the event carries (the `what` oneof).
    #[prost(oneof = "What", tags = "3, 5, 7")]
    pub what: Option<What>,
}

/// The payload of an [`Event`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    /// The file format, `brain.Event:2`, in the first record of every file.
    #[prost(string, tag = "3")]
    FileVersion(String),
    /// Summary values (scalars).
    #[prost(message, tag = "5")]
    Summary(Summary),
    /// A session status: `START` tells the reader that a restarted job supersedes earlier events.
    #[prost(message, tag = "7")]
    SessionLog(SessionLog),
}

/// Summary values (`tensorboard.Summary`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// The values, each under its tag.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<Value>,
}

/// One tagged value of a [`Summary`] (`tensorboard.Summary.Value`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Value {
    /// The series name (`Loss/G/loss`, `Metrics/fid50k_full`).
    #[prost(string, tag = "1")]
    pub tag: String,
    /// The value (the `value` oneof: present even when it is 0).
    #[prost(oneof = "Kind", tags = "2")]
    pub kind: Option<Kind>,
}

/// The kind of a [`Value`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    /// A float32 scalar, as `SummaryWriter.add_scalar` writes it.
    #[prost(float, tag = "2")]
    SimpleValue(f32),
}

/// A session status change (`tensorboard.SessionLog`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionLog {
    /// The [`SessionStatus`].
    #[prost(enumeration = "SessionStatus", tag = "1")]
    pub status: i32,
}

/// `tensorboard.SessionLog.SessionStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum SessionStatus {
    /// Not set.
    StatusUnspecified = 0,
    /// A (re)started job: readers drop the earlier events at or past its step.
    Start = 1,
    /// A stopped job.
    Stop = 2,
    /// A checkpoint was written.
    Checkpoint = 3,
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::{Event, Kind, SessionLog, SessionStatus, Summary, Value, What};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The bytes Python's protobuf serialises for the same events (tensorboard 2.21's
    /// `event_pb2`): a zero scalar is still written, as its oneof makes it present.
    #[test]
    fn events_encode_as_tensorboards_protobuf_does() {
        let scalar = Event {
            wall_time: 1.5,
            step: 3,
            what: Some(What::Summary(Summary {
                value: vec![Value {
                    tag: "Loss/G/loss".into(),
                    kind: Some(Kind::SimpleValue(0.0)),
                }],
            })),
        };
        assert_eq!(
            hex(&scalar.encode_to_vec()),
            "09000000000000f83f10032a140a120a0b4c6f73732f472f6c6f73731500000000"
        );
        let version = Event {
            wall_time: 2.0,
            step: 0,
            what: Some(What::FileVersion("brain.Event:2".into())),
        };
        assert_eq!(
            hex(&version.encode_to_vec()),
            "0900000000000000401a0d627261696e2e4576656e743a32"
        );
        let start = Event {
            wall_time: 2.0,
            step: 4,
            what: Some(What::SessionLog(SessionLog {
                status: SessionStatus::Start.into(),
            })),
        };
        assert_eq!(
            hex(&start.encode_to_vec()),
            "09000000000000004010043a020801"
        );
        assert_eq!(Event::decode(&*start.encode_to_vec()).unwrap(), start);
    }
}
