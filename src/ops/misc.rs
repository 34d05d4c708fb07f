//! Small tensor helpers of the reference networks: `normalize_2nd_moment` and the minibatch
//! standard-deviation layer.

use tch::{Kind, Tensor};

/// `x · rsqrt(mean(x², dim) + eps)` along `dim`.
pub fn normalize_2nd_moment(x: &Tensor, dim: i64, eps: f64) -> Tensor {
    x * (x.square().mean_dim([dim].as_slice(), true, Kind::Float) + eps).rsqrt()
}

/// Minibatch standard deviation: append `num_channels` feature maps holding each group's
/// average standard deviation. Groups are **strided**: sample `n` belongs to group
/// `n mod (N/G)`. `group_size = None` uses the whole batch. `N` must be divisible by the group
/// size.
pub fn minibatch_std(x: &Tensor, group_size: Option<i64>, num_channels: i64) -> Tensor {
    let [n, c, h, w] = x.size()[..] else {
        panic!("minibatch_std expects [N, C, H, W]")
    };
    let g = group_size.map_or(n, |g| g.min(n));
    assert!(
        n % g == 0,
        "batch {n} is not divisible by the minibatch-std group size {g}"
    );
    let f = num_channels;
    let y = x.reshape([g, -1, f, c / f, h, w]); // [G, n, F, c, H, W]
    let y = &y - y.mean_dim([0i64].as_slice(), false, Kind::Float);
    let y = y.square().mean_dim([0i64].as_slice(), false, Kind::Float); // [n, F, c, H, W]
    let y = (y + 1e-8).sqrt();
    let y = y.mean_dim([2i64, 3, 4].as_slice(), false, Kind::Float); // [n, F]
    let y = y.reshape([-1, f, 1, 1]).repeat([g, 1, h, w]); // [N, F, H, W]
    Tensor::cat(&[x.shallow_clone(), y], 1)
}
