//! Line-chart panels as PNG, with plotters and the embedded DejaVu Sans font (no system font
//! libraries needed).

use anyhow::{anyhow, Result};
use plotters::prelude::*;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// One curve: its legend name, its colour index and its points, with an optional band
/// (x, low, high) drawn as a translucent area behind it: the spread between seeds.
pub struct Series {
    pub name: String,
    pub color: usize,
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
    pub band: Vec<(f64, f64, f64)>,
}

impl Series {
    pub fn line(name: impl Into<String>, color: usize, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            color,
            dashed: false,
            points,
            band: Vec::new(),
        }
    }
}

/// Where a panel's legend goes: a corner the curves leave empty.
#[derive(Clone, Copy)]
pub enum Legend {
    UpperLeft,
    UpperRight,
    LowerLeft,
    LowerRight,
    MiddleRight,
    /// No legend box: the panel's title names the curves (where no corner is free).
    InTitle,
}

/// One chart of a grid.
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Logarithmic x axis (points at x <= 0 are left out).
    pub log_x: bool,
    /// Fixed y range (so that panels compare at a glance); None: fitted to the data.
    pub y_range: Option<(f64, f64)>,
    pub legend: Legend,
    pub series: Vec<Series>,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(127, 127, 127),
];

fn register_font() -> Result<()> {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    ok.then_some(())
        .ok_or_else(|| anyhow!("the embedded font does not load"))
}

/// Draws `panels` (row-major, `cols` per row) into a PNG at `path` (via a temporary file, so
/// the PNG appears whole or not at all), under `title`.
pub fn grid(path: &std::path::Path, title: &str, panels: &[Panel], cols: usize) -> Result<()> {
    grid_with_heatmaps(path, title, &[], panels, cols)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    p: &Panel,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    // a log axis is drawn as log10(x) with the ticks labelled back in x
    let tx = |x: f64| if p.log_x { x.log10() } else { x };
    let keep = |&(x, y): &(f64, f64)| y.is_finite() && (!p.log_x || x > 0.0);
    let pts: Vec<(f64, f64)> = p
        .series
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .copied()
                .chain(s.band.iter().flat_map(|&(x, lo, hi)| [(x, lo), (x, hi)]))
        })
        .filter(keep)
        .map(|(x, y)| (tx(x), y))
        .collect();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in &pts {
        if y.is_finite() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    let mut pad = ((y1 - y0) * 0.08).max(1e-9);
    if let Some((lo, hi)) = p.y_range {
        // the fixed range, widened only if a point falls outside it
        (y0, y1, pad) = (y0.min(lo), y1.max(hi), 0.0);
    }
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e}");
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(32)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .label_style(("sans-serif", 12))
        .x_label_formatter(&|v| {
            if p.log_x {
                // two significant digits of the step
                let x = 10f64.powf(*v);
                let m = 10f64.powf(x.log10().floor() - 1.0);
                short((x / m).round() * m)
            } else {
                short(*v)
            }
        })
        .y_label_formatter(&|v| short(*v))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    // the bands first, so that every line is drawn over them
    for s in &p.series {
        let c = PALETTE[s.color % PALETTE.len()];
        let band: Vec<(f64, f64, f64)> = s
            .band
            .iter()
            .copied()
            .filter(|&(x, lo, hi)| lo.is_finite() && hi.is_finite() && (!p.log_x || x > 0.0))
            .map(|(x, lo, hi)| (tx(x), lo, hi))
            .collect();
        if band.len() >= 2 {
            let outline: Vec<(f64, f64)> = band
                .iter()
                .map(|&(x, _, hi)| (x, hi))
                .chain(band.iter().rev().map(|&(x, lo, _)| (x, lo)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(outline, c.mix(0.18).filled())))
                .map_err(e)?;
        }
    }
    for s in &p.series {
        let c = PALETTE[s.color % PALETTE.len()];
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(keep)
            .map(|(x, y)| (tx(x), y))
            .collect();
        let style = ShapeStyle::from(&c).stroke_width(2);
        let drawn = if s.dashed {
            chart.draw_series(DashedLineSeries::new(pts, 6, 4, style))
        } else {
            chart.draw_series(LineSeries::new(pts, style))
        }
        .map_err(e)?;
        drawn
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
    }
    if matches!(p.legend, Legend::InTitle) {
        return Ok(());
    }
    let position = match p.legend {
        Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
        Legend::UpperRight => SeriesLabelPosition::UpperRight,
        Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
        Legend::LowerRight => SeriesLabelPosition::LowerRight,
        Legend::MiddleRight | Legend::InTitle => SeriesLabelPosition::MiddleRight,
    };
    chart
        .configure_series_labels()
        // translucent, so that a curve under the legend still shows
        .background_style(WHITE.mix(0.6))
        .border_style(BLACK.mix(0.5))
        .label_font(("sans-serif", 12))
        .position(position)
        .draw()
        .map_err(e)?;
    Ok(())
}

/// A tick label of at most about six characters: 0.25, 1500, 3.1e5.
fn short(v: f64) -> String {
    let a = v.abs();
    // an axis through zero can land a hair off it (1.7e-18)
    if a < 1e-12 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if v == v.round() {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A square matrix drawn as a picture: the similarity figure's cosine matrices.
pub struct Heatmap {
    pub title: String,
    /// n x n, row-major.
    pub values: Vec<f32>,
    pub n: usize,
    /// The colour scale runs from -range (blue) through 0 (white) to +range (red); values
    /// beyond it take the end colours.
    pub range: f64,
    /// Rows (and columns) at which a group starts, drawn as thin lines: the class blocks.
    pub lines: Vec<usize>,
    /// Rows at which a sub-group starts, drawn as dotted ticks at the edges: the corrupt
    /// examples of each class.
    pub ticks: Vec<usize>,
}

/// Blue (-1) through white (0) to red (+1).
fn diverging(t: f64) -> RGBColor {
    let t = t.clamp(-1.0, 1.0);
    let mix = |a: f64, b: f64, w: f64| (a + (b - a) * w).round() as u8;
    let (r, g, b) = if t < 0.0 {
        (59.0, 76.0, 192.0)
    } else {
        (180.0, 4.0, 38.0)
    };
    let w = t.abs();
    RGBColor(mix(255.0, r, w), mix(255.0, g, w), mix(255.0, b, w))
}

fn draw_heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    h: &Heatmap,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e}");
    // a blank cell (a row with fewer matrices than columns)
    if h.n == 0 || h.values.len() < h.n * h.n {
        return Ok(());
    }
    let (w, ht) = area.dim_in_pixel();
    let caption = 24u32;
    area.draw(&Text::new(
        h.title.clone(),
        (6, 4),
        ("sans-serif", 14).into_font(),
    ))
    .map_err(e)?;
    // a square under the caption, centred
    let side = (w.saturating_sub(16))
        .min(ht.saturating_sub(caption + 8))
        .max(1);
    let (x0, y0) = ((w - side) / 2, caption);
    let n = h.n.max(1);
    // each pixel shows the mean of the matrix elements it covers
    let span = |p: u32| {
        let a = p as usize * n / side as usize;
        let b = ((p as usize + 1) * n / side as usize).max(a + 1).min(n);
        a..b
    };
    for py in 0..side {
        let rows = span(py);
        for px in 0..side {
            let cols = span(px);
            let (mut s, mut c) = (0.0f64, 0usize);
            for i in rows.clone() {
                for j in cols.clone() {
                    s += h.values[i * n + j] as f64;
                    c += 1;
                }
            }
            let v = if c > 0 { s / c as f64 } else { 0.0 };
            area.draw_pixel(
                ((x0 + px) as i32, (y0 + py) as i32),
                &diverging(v / h.range.max(1e-12)),
            )
            .map_err(e)?;
        }
    }
    let at = |row: usize| (row as u64 * side as u64 / n as u64) as i32;
    let grey = BLACK.mix(0.45);
    for &l in &h.lines {
        let p = at(l);
        let (a, b) = (x0 as i32, (x0 + side) as i32);
        area.draw(&PathElement::new(
            vec![(a + p, y0 as i32), (a + p, (y0 + side) as i32)],
            grey,
        ))
        .map_err(e)?;
        area.draw(&PathElement::new(
            vec![(a, y0 as i32 + p), (b, y0 as i32 + p)],
            grey,
        ))
        .map_err(e)?;
    }
    for &t in &h.ticks {
        let p = at(t);
        let (a, top) = (x0 as i32, y0 as i32);
        area.draw(&PathElement::new(
            vec![(a - 6, top + p), (a, top + p)],
            BLACK,
        ))
        .map_err(e)?;
        area.draw(&PathElement::new(
            vec![(a + p, top - 6), (a + p, top)],
            BLACK,
        ))
        .map_err(e)?;
    }
    Ok(())
}

/// [`grid`] with rows of heatmaps (`cols` per row) above the line panels (none: a plain
/// grid, at least one row high).
pub fn grid_with_heatmaps(
    path: &std::path::Path,
    title: &str,
    heatmaps: &[Heatmap],
    panels: &[Panel],
    cols: usize,
) -> Result<()> {
    register_font()?;
    let cols = cols.max(1);
    let map_rows = heatmaps.len().div_ceil(cols);
    let panel_rows = panels
        .len()
        .div_ceil(cols)
        .max(usize::from(heatmaps.is_empty()));
    let (w, map_h, panel_h) = (420 * cols as u32, 400u32, 320u32);
    let h = 40 + map_h * map_rows as u32 + panel_h * panel_rows as u32;
    let tmp = path.with_extension("png.tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let (top, body) = root.split_vertically(40);
        // the title shrinks to fit a narrow grid (about 0.55 em per character)
        let size = (w as f64 / (0.55 * title.chars().count().max(1) as f64)).clamp(11.0, 22.0);
        top.titled(title, ("sans-serif", size as u32))
            .map_err(|e| anyhow!("{e}"))?;
        let (maps, lines) = body.split_vertically(map_h * map_rows as u32);
        if map_rows > 0 {
            for (m, area) in heatmaps
                .iter()
                .zip(maps.split_evenly((map_rows, cols)).iter())
            {
                draw_heatmap(area, m)?;
            }
        }
        if panel_rows > 0 {
            for (p, area) in panels
                .iter()
                .zip(lines.split_evenly((panel_rows, cols)).iter())
            {
                draw_panel(area, p)?;
            }
        }
        root.present()
            .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}
