//! Improved precision and recall (Kynkäänniemi et al. 2019) — port of
//! `metrics/precision_recall.py` `compute_pr` after the features: float32 features `[n, D]` in,
//! precision and recall out.
//!
//! Features are cast to float16 as in the reference. For each manifold set the radius of every
//! point is its distance to its `k`-th nearest neighbour (the `k+1`-th smallest distance, the point
//! itself included); a probe counts when it lies within the radius of some manifold point.
//! Precision probes the real manifold with generated samples, recall the reverse. Distances are
//! computed in `row_batch × col_batch` tiles exactly as the reference splits them (columns padded
//! with zero rows to equal chunks), because `cdist` rounds differently on different shapes.

use tch::{Kind, Tensor};

/// How precision/recall is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrOptions {
    /// Neighbourhood size `k` (3 in the reference).
    pub nhood_size: i64,
    /// Rows per distance tile (10 000 in the reference).
    pub row_batch_size: i64,
    /// Columns per distance tile (10 000 in the reference).
    pub col_batch_size: i64,
}

impl Default for PrOptions {
    fn default() -> PrOptions {
        PrOptions {
            nhood_size: 3,
            row_batch_size: 10_000,
            col_batch_size: 10_000,
        }
    }
}

/// `cdist` of two float16 sets. libtorch's CPU kernel has no float16 version of the direct
/// algorithm it picks when both sets have at most 25 rows (larger sets go through a matrix
/// product, which has one); there the distances are computed in float32 and rounded to float16.
fn cdist_half(rows: &Tensor, cols: &Tensor) -> Tensor {
    let (rows, cols) = (rows.unsqueeze(0), cols.unsqueeze(0));
    Tensor::f_cdist(&rows, &cols, 2.0, None)
        .unwrap_or_else(|_| {
            Tensor::cdist(
                &rows.to_kind(Kind::Float),
                &cols.to_kind(Kind::Float),
                2.0,
                None,
            )
            .to_kind(Kind::Half)
        })
        .squeeze_dim(0)
}

/// Distances `[rows, cols]` between `rows` and `cols`, in column chunks as the reference makes them
/// on one GPU (`compute_distances`).
fn distances(rows: &Tensor, cols: &Tensor, col_batch_size: i64) -> Tensor {
    let num_cols = cols.size()[0];
    let num_batches = (num_cols - 1) / col_batch_size + 1;
    let padding = (-num_cols).rem_euclid(num_batches);
    let padded = cols.constant_pad_nd([0, 0, 0, padding]);
    let tiles: Vec<Tensor> = padded
        .chunk(num_batches, 0)
        .iter()
        .map(|chunk| cdist_half(rows, chunk))
        .collect();
    Tensor::cat(&tiles, 1).narrow(1, 0, num_cols)
}

/// The fraction of `probes` that fall inside the `k`-NN balls of `manifold` (both float16).
fn coverage(manifold: &Tensor, probes: &Tensor, options: PrOptions) -> f64 {
    let radii: Vec<Tensor> = manifold
        .split(options.row_batch_size, 0)
        .iter()
        .map(|batch| {
            distances(batch, manifold, options.col_batch_size)
                .to_kind(Kind::Float)
                .kthvalue(options.nhood_size + 1, 1, false)
                .0
                .to_kind(Kind::Half)
        })
        .collect();
    // [n_manifold]
    let radii = Tensor::cat(&radii, 0);
    let inside: Vec<Tensor> = probes
        .split(options.row_batch_size, 0)
        .iter()
        .map(|batch| {
            distances(batch, manifold, options.col_batch_size)
                .le_tensor(&radii.unsqueeze(0))
                .any_dim(1, false)
        })
        .collect();
    Tensor::cat(&inside, 0)
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[])
}

/// Precision and recall of generated features against real ones.
pub fn precision_recall(real: &Tensor, gen_features: &Tensor, options: PrOptions) -> (f64, f64) {
    let real = real.to_kind(Kind::Half);
    let gen_features = gen_features.to_kind(Kind::Half);
    (
        coverage(&real, &gen_features, options),
        coverage(&gen_features, &real, options),
    )
}
