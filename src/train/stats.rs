//! Training statistics as the reference's `torch_utils/training_stats` keeps them, and the
//! `stats.jsonl` line written every tick.
//!
//! A value reported under a name is flattened to float32, reduced to `[Σx, Σx²]` in float32 as the
//! reference does, and accumulated in float64 with its count. The sums stay on the device that
//! computed them until the collector is read, so reporting never waits for the device (on CUDA the
//! loss keeps queueing work). A [`Collector`] turns what was reported since its previous
//! [`Collector::update`] into `num`/`mean`/`std` (population std); a name with no new data keeps its
//! previous moments.

use std::fmt::Write as _;

use tch::{Kind, Tensor};

use crate::pyfmt::py_float;

/// Accumulated moments of one statistic.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Moments {
    /// Number of scalars.
    pub count: f64,
    /// Σx.
    pub sum: f64,
    /// Σx².
    pub sum_sq: f64,
}

impl Moments {
    /// The mean (NaN when empty).
    pub fn mean(&self) -> f64 {
        self.sum / self.count
    }

    /// Population standard deviation, `sqrt(max(Σx²/n − mean², 0))`.
    pub fn std(&self) -> f64 {
        let mean = self.mean();
        (self.sum_sq / self.count - mean * mean).max(0.0).sqrt()
    }

    fn add(&mut self, value: f64) {
        self.count += 1.0;
        self.sum += value;
        self.sum_sq += value * value;
    }
}

/// Moments reported since the last update: a count and sums on the host, and `[Σx, Σx²]`
/// (float64) per device that have not been read back yet.
#[derive(Debug, Default)]
struct Pending {
    host: Moments,
    on_device: Vec<Tensor>,
}

impl Pending {
    /// Add every element of `values`, without waiting for the device.
    fn add_tensor(&mut self, values: &Tensor) {
        let flat = values.detach().to_kind(Kind::Float).flatten(0, -1);
        #[expect(
            clippy::cast_precision_loss,
            reason = "element counts are far below 2^52"
        )]
        let count = flat.numel() as f64;
        self.host.count += count;
        let sums = Tensor::stack(&[flat.sum(Kind::Float), flat.square().sum(Kind::Float)], 0)
            .to_kind(Kind::Double);
        match self
            .on_device
            .iter_mut()
            .find(|t| t.device() == sums.device())
        {
            Some(total) => {
                let _ = total.g_add_(&sums);
            }
            None => self.on_device.push(sums),
        }
    }

    /// Everything reported, reading the device sums back.
    fn moments(&self) -> Moments {
        let mut moments = self.host;
        for sums in &self.on_device {
            let sums = sums.to_device(tch::Device::Cpu);
            moments.sum += sums.double_value(&[0]);
            moments.sum_sq += sums.double_value(&[1]);
        }
        moments
    }
}

/// Collects reported values whose names pass a filter, and snapshots them on [`Collector::update`].
#[derive(Debug, Default)]
pub struct Collector {
    /// Only names equal to one of these are collected (all when empty).
    only: Vec<String>,
    /// Names in first-report order.
    order: Vec<String>,
    pending: Vec<Pending>,
    current: Vec<Moments>,
}

impl Collector {
    /// A collector of every name.
    pub fn all() -> Collector {
        Collector::default()
    }

    /// A collector of the given names only (e.g. `Loss/signs/real` for ADA).
    pub fn only(names: &[&str]) -> Collector {
        Collector {
            only: names.iter().map(|n| (*n).to_string()).collect(),
            ..Collector::default()
        }
    }

    fn slot(&mut self, name: &str) -> Option<usize> {
        if !self.only.is_empty() && !self.only.iter().any(|n| n == name) {
            return None;
        }
        Some(
            self.order
                .iter()
                .position(|n| n == name)
                .unwrap_or_else(|| {
                    self.order.push(name.to_string());
                    self.pending.push(Pending::default());
                    self.current.push(Moments::default());
                    self.order.len() - 1
                }),
        )
    }

    /// Report every element of `values` under `name`.
    pub fn report(&mut self, name: &str, values: &Tensor) {
        if let Some(slot) = self.slot(name) {
            self.pending[slot].add_tensor(values);
        }
    }

    /// Report plain scalars under `name` (timings, progress counters).
    pub fn report_scalar(&mut self, name: &str, value: f64) {
        if let Some(slot) = self.slot(name) {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "the reference stores float32"
            )]
            let value = f64::from(value as f32);
            self.pending[slot].host.add(value);
        }
    }

    /// Take what was reported since the previous update; names without new data keep theirs.
    pub fn update(&mut self) {
        for (current, pending) in self.current.iter_mut().zip(&mut self.pending) {
            if pending.host.count > 0.0 {
                *current = std::mem::take(pending).moments();
            }
        }
    }

    /// What was reported under `name` since the last update (for snapshots).
    pub fn pending(&self, name: &str) -> Option<Moments> {
        self.order
            .iter()
            .position(|n| n == name)
            .map(|i| self.pending[i].moments())
    }

    /// Restore what [`Collector::pending`] returned (resuming from a snapshot).
    pub fn set_pending(&mut self, name: &str, moments: Moments) {
        if let Some(slot) = self.slot(name) {
            self.pending[slot] = Pending {
                host: moments,
                on_device: Vec::new(),
            };
        }
    }

    /// The moments of `name` as of the last update.
    pub fn get(&self, name: &str) -> Option<Moments> {
        self.order
            .iter()
            .position(|n| n == name)
            .map(|i| self.current[i])
    }

    /// Every collected name, in first-report order.
    pub fn names(&self) -> &[String] {
        &self.order
    }

    /// One `stats.jsonl` line: `{"<name>": {"num": n, "mean": m, "std": s}, …, "timestamp": t}`,
    /// floats as Python's `json` writes them (`NaN` tokens included).
    pub fn jsonl_line(&self, timestamp: f64) -> String {
        let mut line = String::from("{");
        for (name, moments) in self.order.iter().zip(&self.current) {
            let name = serde_json::to_string(name).expect("strings serialise");
            let _ = write!(
                line,
                "{name}: {{\"num\": {}, \"mean\": {}, \"std\": {}}}, ",
                count_text(moments.count),
                py_float(moments.mean()),
                py_float(moments.std())
            );
        }
        let _ = write!(line, "\"timestamp\": {}}}", py_float(timestamp));
        line
    }
}

/// The reference writes counts as integers.
fn count_text(count: f64) -> String {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "counts are small non-negative integers"
    )]
    let count = count as u64;
    count.to_string()
}

#[cfg(test)]
mod tests {
    use super::{Collector, Moments};

    #[test]
    fn collectors_keep_previous_moments_and_filter_names() {
        let mut all = Collector::all();
        let mut ada = Collector::only(&["Loss/signs/real"]);
        for c in [&mut all, &mut ada] {
            c.report(
                "Loss/signs/real",
                &tch::Tensor::from_slice(&[1.0f32, -1.0, 1.0]),
            );
            c.report("Loss/G/loss", &tch::Tensor::from_slice(&[2.0f32]));
            c.update();
        }
        let m = all.get("Loss/signs/real").unwrap();
        assert_eq!((m.count, m.mean()), (3.0, 1.0 / 3.0));
        assert_eq!(ada.names(), ["Loss/signs/real"]);
        all.report("Loss/G/loss", &tch::Tensor::from_slice(&[4.0f32, 6.0]));
        all.update();
        assert_eq!(all.get("Loss/signs/real").unwrap().count, 3.0, "kept");
        assert_eq!(all.get("Loss/G/loss").unwrap().mean(), 5.0);
        assert_eq!(all.get("Loss/G/loss").unwrap().std(), 1.0);
        assert!(
            all.jsonl_line(1.5)
                .starts_with("{\"Loss/signs/real\": {\"num\": 3, \"mean\": 0.3333333333333333")
        );
    }

    #[test]
    fn pending_moments_combine_device_sums_restored_values_and_scalars() {
        let mut c = Collector::only(&["Loss/signs/real"]);
        c.set_pending(
            "Loss/signs/real",
            Moments {
                count: 2.0,
                sum: 2.0,
                sum_sq: 2.0,
            },
        );
        c.report(
            "Loss/signs/real",
            &tch::Tensor::from_slice(&[-1.0f32, -1.0]).reshape([2, 1]),
        );
        c.report("Loss/signs/real", &tch::Tensor::from_slice(&[1.0f32]));
        c.report_scalar("Loss/signs/real", 1.0);
        let pending = c.pending("Loss/signs/real").unwrap();
        assert_eq!(
            (pending.count, pending.sum, pending.sum_sq),
            (6.0, 2.0, 6.0)
        );
        assert!(
            c.get("Loss/signs/real").unwrap().count == 0.0,
            "not before update"
        );
        c.update();
        assert_eq!(c.get("Loss/signs/real").unwrap(), pending);
        assert_eq!(c.pending("Loss/signs/real").unwrap().count, 0.0);
        c.report(
            "Loss/signs/real",
            &tch::Tensor::from_slice(&[f32::NAN, 1.0]),
        );
        c.update();
        assert!(c.get("Loss/signs/real").unwrap().mean().is_nan());
    }
}
