//! Records the commit the binary is built from (`git describe --always --dirty`), so that
//! benchmark rows name it wherever the binary runs, including machines without the source
//! tree or git (the device machine). Outside a git checkout it is "unknown".

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=7"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=WINSOR_BUILD_COMMIT={commit}");
    // a new commit, a checkout, or an edit of the sources (for -dirty)
    for path in [
        ".git/HEAD",
        ".git/index",
        ".git/refs",
        ".git/packed-refs",
        "src",
        "shaders",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
}
