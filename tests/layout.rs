//! The source layout's rules that a compiler does not check (issue 27): no import circle
//! between the modules of src/gpu, so that a reader can go from the device wrapper up to
//! the trainer without meeting a module that needs one above it.
//!
//! An edge A -> B means a file of module A names a path into module B (a `use`, or a path
//! such as `crate::gpu::kernels::asserted::WORDS` in code), resolved to the deepest module
//! the path reaches. A path through a module's re-export counts as an edge to that module,
//! so a kernel that imports `super::Dispatch` from kernels/mod.rs, which declares the
//! kernel, is a circle; it must import from dispatch.rs. A module's `mod` declarations are
//! not edges (they only say where the children live), and neither is a file's own
//! `#[cfg(test)]` module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every .rs file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under src: src/gpu/kernels/mod.rs is gpu::kernels,
/// src/gpu/context.rs is gpu::context.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its `#[cfg(test)]` module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a `use` tree names, with groups expanded: `a::{b, c::{d}}` gives a::b and
/// a::c::d.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        return vec![path.trim_end_matches("::").to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').expect("a closed group")];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, ch) in inner.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| {
            let p = p.trim();
            if p == "self" {
                vec![prefix.trim_end_matches("::").to_string()]
            } else {
                expand(&format!("{prefix}{p}"))
            }
        })
        .collect()
}

/// Every path a file's code names: its `use` trees, and `crate::`/`super::` paths in code.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    // use trees, which may span lines; the code without them is scanned for other paths
    let mut other = String::new();
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        other.push_str(&rest[..i]);
        let after = &rest[i + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            other.push_str("use ");
            rest = after;
            continue;
        }
        match after.find(';') {
            Some(end) => {
                out.extend(expand(&after[..end]));
                rest = &after[end..];
            }
            None => rest = after,
        }
    }
    other.push_str(rest);
    // paths in code
    for start in ["crate::", "super::"] {
        let mut rest = other.as_str();
        while let Some(i) = rest.find(start) {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            out.push(tail[..end].trim_end_matches("::").to_string());
            rest = &tail[start.len()..];
        }
    }
    out
}

/// The deepest module of `modules` that `path`, named in module `from`, reaches.
fn resolve(path: &str, from: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let mut segs = path.split("::").filter(|s| !s.is_empty()).peekable();
    let mut at: Vec<String> = match segs.peek().copied() {
        Some("crate") => {
            segs.next();
            Vec::new()
        }
        Some("super") => {
            let mut m = from.to_vec();
            while segs.peek() == Some(&"super") {
                segs.next();
                m.pop();
            }
            m
        }
        Some("self") => {
            segs.next();
            from.to_vec()
        }
        // a path relative to the module, through one of its children
        Some(first) if modules.contains(&[from, &[first.to_string()]].concat()) => from.to_vec(),
        _ => return None,
    };
    let mut deepest = modules.contains(&at).then(|| at.clone());
    for s in segs {
        at.push(s.to_string());
        if modules.contains(&at) {
            deepest = Some(at.clone());
        } else {
            break;
        }
    }
    deepest
}

/// The module graph of src/gpu.
fn gpu_graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src.join("gpu"), &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        let text = std::fs::read_to_string(file).expect("readable source");
        let edges = graph.entry(from.clone()).or_default();
        for p in paths(&code(&text)) {
            if let Some(to) = resolve(&p, &from, &modules) {
                if to != from {
                    edges.insert(to);
                }
            }
        }
    }
    graph
}

/// Every circle of the graph, each as the modules along it (found by depth-first search;
/// a circle is reported once per module it is entered from).
fn circles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<String> {
    fn visit(
        m: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
        found: &mut Vec<String>,
    ) {
        if let Some(i) = stack.iter().position(|s| s == m) {
            let names: Vec<String> = stack[i..].iter().chain([m]).map(|s| s.join("::")).collect();
            found.push(names.join(" -> "));
            return;
        }
        if done.contains(m) {
            return;
        }
        stack.push(m.clone());
        for next in graph.get(m).into_iter().flatten() {
            visit(next, graph, stack, done, found);
        }
        stack.pop();
        done.insert(m.clone());
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

#[test]
fn no_import_circle_inside_src_gpu() {
    let graph = gpu_graph();
    assert!(
        graph.len() > 20,
        "the scan found only {} modules in src/gpu",
        graph.len()
    );
    let found = circles(&graph);
    assert!(
        found.is_empty(),
        "import circles in src/gpu (import from the module that defines the item, not \
         through a parent's re-export):\n{}",
        found.join("\n")
    );
}

/// The scan itself: a child importing through its parent's re-export is a circle, a
/// grouped import reaches the modules inside the group, and comments are not code.
#[test]
fn the_scan_sees_circles_through_re_exports() {
    let modules: BTreeSet<Vec<String>> = [
        vec!["gpu"],
        vec!["gpu", "kernels"],
        vec!["gpu", "kernels", "gather"],
        vec!["gpu", "kernels", "dispatch"],
    ]
    .into_iter()
    .map(|m| m.into_iter().map(String::from).collect())
    .collect();
    let gather: Vec<String> = ["gpu", "kernels", "gather"].map(String::from).to_vec();
    let names = |code_text: &str| -> BTreeSet<String> {
        paths(&code(code_text))
            .iter()
            .filter_map(|p| resolve(p, &gather, &modules))
            .map(|m| m.join("::"))
            .collect()
    };
    assert_eq!(
        names("use super::{Dispatch, Work};"),
        BTreeSet::from(["gpu::kernels".to_string()])
    );
    assert_eq!(
        names("use crate::gpu::kernels::{dispatch::Dispatch, gather};\n// use crate::gpu::x;"),
        BTreeSet::from([
            "gpu::kernels::dispatch".to_string(),
            "gpu::kernels::gather".to_string()
        ])
    );
    assert_eq!(
        names("let n = crate::gpu::kernels::dispatch::groups_1d(1, 2);"),
        BTreeSet::from(["gpu::kernels::dispatch".to_string()])
    );
    let mut graph = BTreeMap::new();
    graph.insert(
        vec!["a".to_string()],
        BTreeSet::from([vec!["b".to_string()]]),
    );
    graph.insert(
        vec!["b".to_string()],
        BTreeSet::from([vec!["a".to_string()]]),
    );
    assert_eq!(circles(&graph), vec!["a -> b -> a".to_string()]);
}

/// One name in four places: a shader that is a kernel (it has an entry point), shaders/X.wgsl,
/// is dispatched by src/gpu/kernels/X.rs, has its twin in src/reference/kernels/X.rs and its
/// test in tests/kernels/X.rs; one in a family folder, shaders/F/X.wgsl, by a file of
/// src/gpu/kernels/F/ whose header names it, with the family's twin
/// src/reference/kernels/F.rs and test tests/kernels/F.rs.
#[test]
fn every_shader_leads_to_its_dispatch_twin_and_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shaders = root.join("shaders");
    let mut files = Vec::new();
    let mut dirs = vec![shaders.clone()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("shaders folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "wgsl") {
                files.push(path);
            }
        }
    }
    let mut kernels = 0;
    let mut missing = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable shader");
        if !text.contains("@compute") {
            continue; // a part other shaders include (parameters, helpers)
        }
        kernels += 1;
        let name = file
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let rel = file.strip_prefix(&shaders).expect("under shaders");
        let family = rel
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| p.to_string_lossy().into_owned());
        let (dispatch_ok, base) = match &family {
            None => (
                root.join(format!("src/gpu/kernels/{name}.rs")).is_file(),
                name.clone(),
            ),
            Some(f) => {
                let dir = root.join(format!("src/gpu/kernels/{f}"));
                let mut named = false;
                for entry in std::fs::read_dir(&dir).into_iter().flatten() {
                    let path = entry.expect("entry").path();
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let header: String = text
                        .lines()
                        .take_while(|l| l.starts_with("//!"))
                        .collect::<Vec<_>>()
                        .join(" ");
                    if header.contains(&format!("`{name}`"))
                        || header.contains(&format!("{name}.wgsl"))
                    {
                        named |= path.file_stem().is_some_and(|s| s != "mod");
                    }
                }
                (named, f.clone())
            }
        };
        let place = rel.display();
        if !dispatch_ok {
            missing.push(format!("shaders/{place}: no dispatch file names it"));
        }
        for (what, path) in [
            ("twin", format!("src/reference/kernels/{base}.rs")),
            ("test", format!("tests/kernels/{base}.rs")),
        ] {
            if !root.join(&path).is_file() {
                missing.push(format!("shaders/{place}: no {what} {path}"));
            }
        }
    }
    assert!(kernels >= 15, "found only {kernels} kernel shaders");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
