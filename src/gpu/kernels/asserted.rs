//! The range-asserted build of a kernel (`ShaderChecks::Asserted`, a test plan): the WGSL of
//! a trusted module with every array index wrapped in a check against its binding's length
//! (storage arrays, `arrayLength`) or its declared length (workgroup, private and function
//! arrays). An index out of range is counted in a debug buffer, with the site of the
//! largest-numbered offender, and replaced by 0; `Gpu::check` fails on a non-zero count and
//! names the kernel and the line.
//!
//! Why: trusted modules drop naga's bounds checks (docs/trusted-shaders.md), and on Vulkan
//! wgpu always enables robust buffer access, so on lavapipe an out-of-range storage read
//! returns 0 and a write is dropped, with no error; the validation layer's GPU-assisted
//! mode does not check buffer bounds while robust access is on (README, "GPU readiness").
//! With the assertions, a trusted module's out-of-range access is caught here, not on a
//! user's GPU. In-range indices are unchanged, so the asserted build computes the same bits.
//!
//! What it does not cover: vector and matrix components indexed by a variable, texture
//! coordinates (`textureLoad`), and arrays reached through a pointer parameter (the shaders
//! have none).

use anyhow::{bail, Result};

use crate::gpu::context::Gpu;

/// The debug buffer's binding, beside the run strides in group 1 (runs.wgsl).
pub const BINDING: u32 = 1;

/// Words in the debug buffer: the count of out-of-range indices, the largest offending site
/// plus one, and padding to 16 bytes.
pub const WORDS: usize = 4;

const HELPER: &str = "
@group(1) @binding(1) var<storage, read_write> winsor_oob: array<atomic<u32>, 4>;

// an index checked against its array's length: out of range, it is recorded and replaced by 0
fn winsor_in_range(i: u32, len: u32, site: u32) -> u32 {
    if (i < len) {
        return i;
    }
    atomicAdd(&winsor_oob[0], 1u);
    atomicMax(&winsor_oob[1], site + 1u);
    return 0u;
}
";

/// A kernel's asserted source, and for each site (numbered from `first_site`) what it
/// indexes: "kernel line N: the line's text".
pub struct Asserted {
    pub source: String,
    pub sites: Vec<String>,
}

/// A device's debug buffer and what each of its sites indexes, kept with the device
/// ([`Gpu::attached`]).
#[derive(Default)]
struct DebugState {
    buffer: std::sync::OnceLock<wgpu::Buffer>,
    sites: std::sync::Mutex<Vec<String>>,
}

/// The debug buffer the range-asserted kernels of `gpu` count out-of-range indices in, made
/// on first use; from then on [`Gpu::check`] reads it and fails on a non-zero count.
pub fn debug_buffer(gpu: &Gpu) -> wgpu::Buffer {
    let state = gpu.attached::<DebugState>();
    let mut made = false;
    let buffer = state
        .buffer
        .get_or_init(|| {
            made = true;
            gpu.storage_init("out-of-range indices", &[0u8; WORDS * 4])
        })
        .clone();
    if made {
        gpu.add_check(check);
    }
    buffer
}

/// Fails if a range-asserted kernel of `gpu` indexed out of range, naming one site.
fn check(gpu: &Gpu) -> Result<()> {
    let state = gpu.attached::<DebugState>();
    let Some(buffer) = state.buffer.get() else {
        return Ok(());
    };
    let words: Vec<u32> =
        bytemuck::pod_collect_to_vec(&gpu.read_unchecked(buffer, 0, buffer.size())?);
    if words[0] > 0 {
        let sites = state.sites.lock().unwrap_or_else(|p| p.into_inner());
        let site = (words[1] as usize)
            .checked_sub(1)
            .and_then(|s| sites.get(s))
            .map_or("an unknown site", |s| s.as_str());
        bail!(
            "a range-asserted kernel indexed out of range {} time(s) on adapter {}; one offending site: {site}",
            words[0],
            gpu.info.name
        );
    }
    Ok(())
}

/// The asserted source of kernel `name` on `gpu`, its sites recorded with the device's, so
/// that `Gpu::check` can name the line of an out-of-range index. Its group 1 must bind
/// [`debug_buffer`] at [`BINDING`].
pub fn instrument_on(gpu: &Gpu, name: &str, source: &str) -> String {
    let state = gpu.attached::<DebugState>();
    let mut sites = state.sites.lock().unwrap_or_else(|p| p.into_inner());
    let a = instrument(name, source, sites.len());
    sites.extend(a.sites);
    a.source
}

/// Wraps every index of a declared array of `source`; `name` and `first_site` label the
/// sites, which are numbered across every kernel of a device.
pub fn instrument(name: &str, source: &str, first_site: usize) -> Asserted {
    // comments out first, lines kept: a bracket in a comment must not count
    let code: Vec<&str> = source
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect();
    let text = code.join("\n");
    let arrays = declared_arrays(&text);
    let mut out = String::with_capacity(text.len() * 2);
    let mut sites = Vec::new();
    let mut rewrite = Rewrite {
        arrays: &arrays,
        name,
        first_site,
        sites: &mut sites,
        lines: &code,
    };
    rewrite.expr(&text, 0, &mut out);
    out.push_str(HELPER);
    Asserted { source: out, sites }
}

/// The arrays of a module by name, with the WGSL expression of their length. A name
/// declared twice with different lengths is left out (not checked) rather than checked
/// against the wrong one.
fn declared_arrays(text: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    let mut conflicts: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("var") {
        let before = rest[..at].chars().last();
        let after = &rest[at + 3..];
        rest = after;
        if before.is_some_and(is_ident) {
            continue;
        }
        // `var<space, access> name: array<...>` or `var name: array<...>`
        let after = if let Some(q) = after.strip_prefix('<') {
            let Some(close) = q.find('>') else { continue };
            &q[close + 1..]
        } else {
            after
        };
        let after = after.trim_start();
        let ident: String = after.chars().take_while(|&c| is_ident(c)).collect();
        if ident.is_empty() {
            continue;
        }
        let Some(ty) = after[ident.len()..].trim_start().strip_prefix(':') else {
            continue;
        };
        let Some(args) = ty.trim_start().strip_prefix("array<") else {
            continue;
        };
        let Some(args) = top_level_args(args) else {
            continue;
        };
        let len = match args.as_slice() {
            [_] => format!("arrayLength(&{ident})"),
            [_, n] => format!("u32({n})"),
            _ => continue,
        };
        match found.iter().find(|(n, _)| *n == ident) {
            Some((_, l)) if *l != len => conflicts.push(ident),
            Some(_) => {}
            None => found.push((ident, len)),
        }
    }
    found.retain(|(n, _)| !conflicts.contains(n));
    found
}

/// The comma-separated arguments of `array<...>` (the text just after `array<`), split at
/// the top level.
fn top_level_args(s: &str) -> Option<Vec<String>> {
    let mut depth = 0usize;
    let mut args = vec![String::new()];
    for c in s.chars() {
        match c {
            '<' | '(' => depth += 1,
            '>' if depth == 0 => {
                return Some(args.into_iter().map(|a| a.trim().to_string()).collect());
            }
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                args.push(String::new());
                continue;
            }
            _ => {}
        }
        args.last_mut()?.push(c);
    }
    None
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

struct Rewrite<'a> {
    arrays: &'a [(String, String)],
    name: &'a str,
    first_site: usize,
    sites: &'a mut Vec<String>,
    lines: &'a [&'a str],
}

impl Rewrite<'_> {
    /// Copies `text` (starting at byte `base` of the module) to `out`, wrapping the index of
    /// every access to a declared array, the indices' own accesses included.
    fn expr(&mut self, text: &str, base: usize, out: &mut String) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < text.len() {
            let c = text[i..].chars().next().expect("within the text");
            let starts_ident = is_ident(c)
                && !c.is_ascii_digit()
                && (i == 0 || !(is_ident(bytes[i - 1] as char) || bytes[i - 1] == b'.'));
            if !starts_ident {
                out.push(c);
                i += c.len_utf8();
                continue;
            }
            let end = i + text[i..].chars().take_while(|&c| is_ident(c)).count();
            let ident = &text[i..end];
            out.push_str(ident);
            let open = end + (text[end..].len() - text[end..].trim_start().len());
            let array = self.arrays.iter().find(|(n, _)| n == ident);
            match (array, text[open..].starts_with('[')) {
                (Some((_, len)), true) => {
                    let Some(close) = matching_bracket(&text[open..]) else {
                        i = end;
                        continue;
                    };
                    let inner = &text[open + 1..open + close];
                    let site = self.first_site + self.sites.len();
                    let line = text[..open].matches('\n').count();
                    let line = base_line(self.lines, base) + line;
                    self.sites.push(format!(
                        "{} line {}: {}",
                        self.name,
                        line + 1,
                        self.lines.get(line).map_or("", |l| l.trim())
                    ));
                    out.push_str("[winsor_in_range(u32(");
                    self.expr(inner, base + open + 1, out);
                    out.push_str(&format!("), {len}, {site}u)]"));
                    i = open + close + 1;
                }
                _ => i = end,
            }
        }
    }
}

/// The line (0-based) of the module that byte `base` lies on; `lines` are the module's.
fn base_line(lines: &[&str], base: usize) -> usize {
    let mut at = 0;
    for (n, l) in lines.iter().enumerate() {
        at += l.len() + 1;
        if at > base {
            return n;
        }
    }
    lines.len().saturating_sub(1)
}

/// The offset in `s` (which starts with `[`) of the `]` that closes it.
fn matching_bracket(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_array_is_wrapped_and_nothing_else() {
        let src = "@group(0) @binding(0) var<storage, read_write> C: array<f32>;
var<workgroup> As: array<f32, TILE * 4u>; // As[k] in a comment is left alone
struct P { n: u32, s: array<u32, 4> }
fn main() {
    var ra: array<u32, 8>;
    let p = P();
    C[ra[p.s[1]] + 2u] = As[C.x];
    let v = vec4<f32>(); let w = v[1];
}";
        let a = instrument("k", src, 5);
        assert!(a.source.contains(
            "C[winsor_in_range(u32(ra[winsor_in_range(u32(p.s[1]), u32(8), 6u)] + 2u), arrayLength(&C), 5u)]"
        ), "{}", a.source);
        assert!(a
            .source
            .contains("As[winsor_in_range(u32(C.x), u32(TILE * 4u), 7u)]"));
        assert!(
            a.source.contains("let w = v[1];"),
            "a vector is not an array"
        );
        assert!(!a.source.contains("As[k]"), "comments are dropped");
        assert_eq!(a.sites.len(), 3);
        assert!(
            a.sites[0].starts_with("k line 7: C[ra[p.s[1]] + 2u]"),
            "{:?}",
            a.sites
        );
    }

    /// Every access to a declared array in every shader file is wrapped: after the
    /// rewrite, each `NAME[` of a declared array opens an assertion.
    #[test]
    fn every_array_access_of_every_shader_is_wrapped() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
        // the family folders (matmul/, select/, common/) too
        let mut files = Vec::new();
        let mut dirs = vec![dir];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        assert!(files.len() > 20, "{} shader files", files.len());
        let mut total = 0;
        for path in files {
            let source = std::fs::read_to_string(&path).unwrap();
            let a = instrument("k", &source, 0);
            for (name, _) in declared_arrays(&source) {
                for (at, _) in a.source.match_indices(&format!("{name}[")) {
                    let before = a.source[..at].chars().last();
                    if before.is_some_and(|c| is_ident(c) || c == '.') {
                        continue;
                    }
                    assert!(
                        a.source[at + name.len()..].starts_with("[winsor_in_range("),
                        "{}: {name} indexed without an assertion: {}",
                        path.display(),
                        &a.source[at..(at + 60).min(a.source.len())]
                    );
                }
            }
            total += a.sites.len();
        }
        assert!(total > 100, "only {total} sites in all shaders");
    }
}
