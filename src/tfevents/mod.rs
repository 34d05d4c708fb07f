//! TensorBoard event files, as the official training loop's `torch.utils.tensorboard.SummaryWriter`
//! writes them into a run directory: `Event` protocol buffers ([`proto`]) framed as TFRecords
//! ([`record`]) in a file per process ([`writer`]). Scalars, their tags, steps and wall times flow
//! in; `events.out.tfevents.*` files flow out, readable by TensorBoard.

pub mod proto;
pub mod record;
pub mod writer;

pub use writer::EventWriter;
