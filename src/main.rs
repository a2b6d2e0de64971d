//! The `winsor` command line: a thin layer over the library.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use winsor::gpu::args::DeviceArgs;
use winsor::gpu::describe_adapters;
use winsor::profile::ProfileArgs;
use winsor::sweep::command::{sweep, SweepArgs};
use winsor::train::args::TrainArgs;
use winsor::train::command::train;
use winsor::train::stop;

#[derive(Parser)]
#[command(
    name = "winsor",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("WINSOR_BUILD_COMMIT"), ")"),
    about = "Coherent-gradients lab: MLPs on MNIST with per-example gradients and winsorized SGD in WGSL compute shaders"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an MLP with label noise and a robust aggregation rule; write a run directory.
    Train(TrainArgs),
    /// List the GPU adapters wgpu can see (for --adapter).
    Adapters,
    /// Run a grid of training runs (a plan file or a preset), skipping finished ones.
    Sweep(SweepArgs),
    /// Measure training steps per second (no evaluation), median over timed windows.
    Bench(BenchCmd),
    /// Per-kernel GPU times of training steps (timestamp queries), rates and a Chrome trace.
    Profile(ProfileArgs),
    /// Write the first images of a data set as a PNG grid, to check that it decodes right.
    Preview(winsor::data::preview::PreviewArgs),
    /// Read run directories (single runs or folders of runs) and write figures and claims.md.
    Report(winsor::report::ReportArgs),
    /// DP-SGD's privacy spent (ε at δ) over a run, or the noise multiplier for a target ε,
    /// without training.
    Privacy(winsor::privacy::PrivacyArgs),
}

/// `winsor bench`: its own options (bench.rs) and the device's.
#[derive(Args)]
struct BenchCmd {
    #[command(flatten)]
    bench: winsor::bench::BenchArgs,
    #[command(flatten)]
    device: DeviceArgs,
}

/// The environment switches the kernel plan replaced: a value left set would otherwise be
/// ignored without a word.
const RETIRED_SWITCHES: [(&str, &str); 5] = [
    ("WINSOR_MATMUL", "--matmul tiled|cpu"),
    ("WINSOR_SPARSE_INPUTS", "--sparse-inputs on|off"),
    ("WINSOR_FUSED_SGD", "--fused-sgd on|off"),
    ("WINSOR_PARTIAL_R", "--partial-units N"),
    ("WINSOR_COLS_R", "--cols-units N"),
];

fn retired_switches() -> Result<()> {
    for (var, flag) in RETIRED_SWITCHES {
        if std::env::var_os(var).is_some() {
            anyhow::bail!(
                "{var} is no longer read: kernel choices are flags now (use {flag}, or --kernels cpu|gpu; README, \"Kernel plans\"); unset {var}"
            );
        }
    }
    Ok(())
}

/// Mesa's Vulkan drivers print "XDG_RUNTIME_DIR is invalid or not set" (twice) when that
/// variable is unset, as on batch nodes and in containers, though compute needs no display.
/// Pointing it at a private folder of ours keeps a normal run quiet. Done first, while the
/// process has one thread, because changing the environment later would race with readers.
#[cfg(target_os = "linux")]
fn quiet_runtime_dir() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    // the owner of /proc/self is this process's user
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("winsor-runtime-{uid}"));
    let _ = std::fs::create_dir(&dir);
    let ours = std::fs::metadata(&dir).is_ok_and(|m| m.is_dir() && m.uid() == uid);
    if ours && std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).is_ok() {
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
    }
}

#[cfg(not(target_os = "linux"))]
fn quiet_runtime_dir() {}

fn main() -> ExitCode {
    quiet_runtime_dir();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // the options given on the command line (not defaults), for `train --config`
    let explicit: Vec<String> = matches
        .subcommand_matches("train")
        .map(|m| {
            m.ids()
                .filter(|id| {
                    m.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
                })
                .map(|id| id.to_string())
                .collect()
        })
        .unwrap_or_default();
    if matches!(cli.command, Command::Train(_) | Command::Sweep(_)) {
        // a signal checkpoints the runs and stops them (exit 130 or 143)
        stop::install();
    }
    // the commands that open a device, where the retired switches used to act
    let opens_device = matches!(
        cli.command,
        Command::Train(_) | Command::Sweep(_) | Command::Bench(_) | Command::Profile(_)
    );
    if let (true, Err(e)) = (opens_device, retired_switches()) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Train(a) => train(a, &explicit),
        Command::Adapters => {
            let list = describe_adapters();
            if list.is_empty() {
                eprintln!("error: {}", winsor::gpu::NO_ADAPTER_HELP);
                return ExitCode::from(2);
            }
            for l in list {
                println!("{l}");
            }
            Ok(())
        }
        Command::Sweep(a) => match sweep(a) {
            Ok(code) => return code,
            Err(e) => return exit_with(&e),
        },
        Command::Bench(a) => winsor::bench::command(&a.bench, &a.device),
        Command::Profile(a) => winsor::profile::command(a),
        Command::Preview(a) => winsor::data::preview::command(&a),
        Command::Report(a) => winsor::report::command(&a),
        Command::Privacy(a) => winsor::privacy::command(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit_with(&e),
    }
}

/// The message and status for an error: 130 or 143 (and no "error:") for a run stopped by a
/// signal after its checkpoint, 2 otherwise.
fn exit_with(e: &anyhow::Error) -> ExitCode {
    match stop::exit_code_of(e) {
        Some(code) => {
            eprintln!("{e:#}");
            ExitCode::from(code)
        }
        None => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_parses() {
        Cli::command().debug_assert();
    }
}
