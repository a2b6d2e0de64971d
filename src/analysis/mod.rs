//! Statistics computed from a training run's state: the coherence measurements of section 2.4
//! of the paper (strong and weak gradient directions) and the alpha / m-coherence of its
//! follow-ups.

pub mod coherence;
pub mod similarity;
pub mod similarity_matrix;

/// A CSV of `rows` under `header`: the first `ints` columns as whole numbers, the others
/// as the shortest text that reads back to the same f64, an empty cell for NaN or infinity.
pub(crate) fn csv_table(header: &[String], rows: &[Vec<f64>], ints: usize) -> String {
    let mut out = header.join(",");
    out.push('\n');
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if i < ints {
                    format!("{}", *v as u64)
                } else if v.is_finite() {
                    format!("{v}")
                } else {
                    String::new()
                }
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}
