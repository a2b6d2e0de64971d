//! runs.csv: one row per run and logged step, in long format (`pandas.read_csv` reads it in
//! one call): the run's folder, whether it finished, every setting of its config.toml, then
//! the columns of its metrics.csv.

use super::Run;

/// A CSV cell: quoted when it holds a comma, a quote or a line break.
fn cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A setting as text; a nested table (the coherence settings) is flattened by the caller.
fn value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// The settings of a run as (column, text), nested tables as `table.key`.
fn settings(run: &Run) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in &run.config {
        match v {
            toml::Value::Table(t) => {
                for (k2, v2) in t {
                    out.push((format!("{k}.{k2}"), value(v2)));
                }
            }
            v => out.push((k.clone(), value(v))),
        }
    }
    out
}

pub fn runs_csv(runs: &[Run]) -> String {
    // the union of the settings, in first-seen order, and of the metrics columns
    let mut keys: Vec<String> = Vec::new();
    let mut metric_cols: Vec<String> = Vec::new();
    for r in runs {
        for (k, _) in settings(r) {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        if let Some(m) = &r.metrics {
            for h in &m.header {
                if !metric_cols.contains(h) {
                    metric_cols.push(h.clone());
                }
            }
        }
    }
    let mut s = String::new();
    let header: Vec<String> = ["run".to_string(), "finished".to_string()]
        .into_iter()
        .chain(keys.iter().cloned())
        .chain(metric_cols.iter().cloned())
        .map(|h| cell(&h))
        .collect();
    s.push_str(&header.join(","));
    s.push('\n');
    for r in runs {
        let Some(m) = &r.metrics else { continue };
        let set = settings(r);
        let name = r
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| r.dir.display().to_string());
        let fixed: Vec<String> = [cell(&name), r.finished.to_string()]
            .into_iter()
            .chain(keys.iter().map(|k| {
                set.iter()
                    .find(|(sk, _)| sk == k)
                    .map(|(_, v)| cell(v))
                    .unwrap_or_default()
            }))
            .collect();
        for row in &m.rows {
            let mut line = fixed.clone();
            for c in &metric_cols {
                line.push(match m.header.iter().position(|h| h == c) {
                    Some(i) if row[i].is_finite() => row[i].to_string(),
                    _ => String::new(),
                });
            }
            s.push_str(&line.join(","));
            s.push('\n');
        }
    }
    s
}
