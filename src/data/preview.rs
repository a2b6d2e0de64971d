//! A PNG contact sheet of the first images of a split: a quick check that a new `--data` set
//! decodes the right way round (an IDX file with swapped dimensions shows as noise).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use super::Images;

/// Writes the first `count` images as a grid, `cols` per row, one pixel per pixel.
pub fn write_grid(images: &Images, count: usize, cols: usize, path: &Path) -> Result<()> {
    if count == 0 || cols == 0 {
        bail!("--count and --cols must be at least 1");
    }
    let picks: Vec<Option<usize>> = (0..count.min(images.n)).map(Some).collect();
    write_picks(images, &picks, cols, 1, path)
}

/// Writes the images `picks` (None: an empty cell) as a grid, `cols` per row, each pixel
/// `scale` x `scale`.
pub fn write_picks(
    images: &Images,
    picks: &[Option<usize>],
    cols: usize,
    scale: usize,
    path: &Path,
) -> Result<()> {
    let rows = picks.len().div_ceil(cols).max(1);
    let (h, w) = (images.height * scale, images.width * scale);
    let mut grid = image::GrayImage::new((cols * w) as u32, (rows * h) as u32);
    for (cell, pick) in picks.iter().enumerate() {
        let Some(i) = *pick else { continue };
        if i >= images.n {
            bail!("image {i} of a set of {}", images.n);
        }
        let (gx, gy) = ((cell % cols) * w, (cell / cols) * h);
        for (p, &v) in images.image(i).iter().enumerate() {
            let (x, y) = ((p % images.width) * scale, (p / images.width) * scale);
            for dy in 0..scale {
                for dx in 0..scale {
                    grid.put_pixel((gx + x + dx) as u32, (gy + y + dy) as u32, image::Luma([v]));
                }
            }
        }
    }
    let mut bytes = Vec::new();
    grid.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .context("encoding PNG")?;
    crate::output::write_atomic(path, &bytes)
}

#[derive(Args)]
pub struct PreviewArgs {
    /// MNIST-format data folder, or cifar10:DIR. Default: built-in MNIST.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Which split to show.
    #[arg(long, value_parser = ["train", "test"], default_value = "train")]
    pub split: String,
    /// How many images.
    #[arg(long, default_value = "100")]
    pub count: usize,
    /// Images per grid row.
    #[arg(long, default_value = "10")]
    pub cols: usize,
    /// PNG file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// `winsor preview`: the grid, and the labels of the images in it.
pub fn command(a: &PreviewArgs) -> Result<()> {
    let data = crate::data::load(a.data.as_deref())?;
    let images = if a.split == "train" {
        &data.train
    } else {
        &data.test
    };
    write_grid(images, a.count, a.cols, &a.out)?;
    let labels: Vec<String> = images.labels[..a.count.min(images.n)]
        .iter()
        .map(|l| l.to_string())
        .collect();
    println!("{}: labels {}", a.out.display(), labels.join(" "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_places_images_row_by_row() {
        let images = Images {
            n: 3,
            height: 2,
            width: 2,
            pixels: vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            labels: vec![0, 1, 2],
        };
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("g.png");
        write_grid(&images, 3, 2, &p).unwrap();
        let g = image::open(&p).unwrap().to_luma8();
        assert_eq!(g.dimensions(), (4, 4));
        assert_eq!(g.get_pixel(1, 1).0[0], 4); // image 0, bottom right
        assert_eq!(g.get_pixel(2, 0).0[0], 5); // image 1, top left
        assert_eq!(g.get_pixel(0, 2).0[0], 9); // image 2, second grid row
        assert_eq!(g.get_pixel(3, 3).0[0], 0); // empty cell
    }
}
