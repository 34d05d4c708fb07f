//! Image grids: the snapshot grid's sample selection (`training_loop.py`'s
//! `setup_snapshot_image_grid`) and `save_image_grid`.

use std::path::Path;

use tch::{Kind, Tensor};

use super::dataset::Dataset;
use crate::numpy_rng::RandomState;

/// Grid columns and rows for `width × height` images: `clip(7680 / W, 7, 32)` by
/// `clip(4320 / H, 4, 32)`.
pub fn grid_size(width: usize, height: usize) -> (usize, usize) {
    ((7680 / width).clamp(7, 32), (4320 / height).clamp(4, 32))
}

/// The dataset indices shown in `reals.png` (always seeded with 0): a shuffle without labels;
/// with labels, one label per row in sorted order, each group shuffled and rotated.
pub fn snapshot_grid_indices(dataset: &Dataset, gw: usize, gh: usize) -> Vec<usize> {
    let mut rnd = RandomState::new(0);
    if !dataset.has_labels() {
        let mut all: Vec<usize> = (0..dataset.len()).collect();
        rnd.shuffle(&mut all);
        return (0..gw * gh).map(|i| all[i % all.len()]).collect();
    }
    // Group by the label's values reversed (the reference's `raw_label.flat[::-1]`).
    let mut groups: Vec<(Vec<f32>, Vec<usize>)> = Vec::new();
    for index in 0..dataset.len() {
        let key: Vec<f32> = dataset.raw_label(index).into_iter().rev().collect();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(index),
            None => groups.push((key, vec![index])),
        }
    }
    groups.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    for (_, members) in &mut groups {
        rnd.shuffle(members);
    }
    let mut indices = Vec::with_capacity(gw * gh);
    for y in 0..gh {
        let count = groups.len();
        let members = &mut groups[y % count].1;
        indices.extend((0..gw).map(|x| members[x % members.len()]));
        let len = members.len();
        *members = (0..len).map(|i| members[(i + gw) % len]).collect();
    }
    indices
}

/// `images [N, C, H, W]` in `drange` → a `[gh·H, gw·W, C]` uint8 grid: `rint((x − lo)·255/(hi − lo))`
/// (round half to even), clipped.
pub fn image_grid(
    images: &Tensor,
    drange: (f64, f64),
    (gw, gh): (usize, usize),
) -> (Vec<u8>, [usize; 3]) {
    let (lo, hi) = drange;
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the reference computes in float32"
    )]
    let scale = (255.0 / (hi - lo)) as f32;
    let [n, c, h, w] = images.size()[..] else {
        panic!("images must be [N, C, H, W]")
    };
    let values = images
        .detach()
        .to_kind(Kind::Float)
        .to_device(tch::Device::Cpu)
        .contiguous();
    let values: Vec<f32> = Vec::<f32>::try_from(values.flatten(0, -1)).expect("float tensor");
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the reference computes in float32"
    )]
    let lo = lo as f32;
    let to_u8 = |v: f32| ((v - lo) * scale).round_ties_even().clamp(0.0, 255.0) as u8;
    let [n, c, h, w] = [n, c, h, w].map(|d| usize::try_from(d).expect("non-negative"));
    assert_eq!(n, gw * gh, "the grid needs exactly gw·gh images");
    let mut grid = vec![0u8; gh * h * gw * w * c];
    for gy in 0..gh {
        for gx in 0..gw {
            let image = gy * gw + gx;
            for y in 0..h {
                for x in 0..w {
                    for ch in 0..c {
                        let value = values[((image * c + ch) * h + y) * w + x];
                        grid[((gy * h + y) * gw * w + gx * w + x) * c + ch] = to_u8(value);
                    }
                }
            }
        }
    }
    (grid, [gh * h, gw * w, c])
}

/// Write [`image_grid`] as a PNG (grayscale for one channel, RGB for three), atomically.
pub fn save_image_grid(
    images: &Tensor,
    path: &Path,
    drange: (f64, f64),
    grid: (usize, usize),
) -> std::io::Result<()> {
    let (pixels, [height, width, channels]) = image_grid(images, drange, grid);
    let color = if channels == 1 {
        image::ExtendedColorType::L8
    } else {
        image::ExtendedColorType::Rgb8
    };
    let mut png = Vec::new();
    let (width, height) = (
        u32::try_from(width).expect("fits"),
        u32::try_from(height).expect("fits"),
    );
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &pixels,
        width,
        height,
        color,
    )
    .map_err(std::io::Error::other)?;
    crate::fsutil::atomic_write(path, &png)
}
