//! `--validate`: proof that the Khronos validation layer's errors reach winsor and fail the
//! run. Without a planted error, "no messages" would mean nothing: the layer might not be
//! loaded, its messenger might not be registered, or winsor might not listen.
//!
//! wgpu-core itself rejects every misuse its API can express (bad bindings, sizes, usages),
//! so the misuse is planted below it, through wgpu-hal's raw Vulkan handles. These tests
//! live in their own binary because the layer's errors are recorded per process: a planted
//! error would otherwise fail the other tests' validated devices.

use std::process::Command;
use std::sync::{Mutex, OnceLock};

use ash::vk;
use winsor::gpu::validation::{self, Validation};
use winsor::gpu::{Gpu, LimitsChoice};

/// One validated device for the binary, and one test at a time on it: each test plants an
/// error, reads it back and clears the list before the next begins.
fn validated() -> (std::sync::MutexGuard<'static, ()>, &'static Gpu) {
    static SERIAL: Mutex<()> = Mutex::new(());
    static GPU: OnceLock<Gpu> = OnceLock::new();
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let gpu = GPU.get_or_init(|| {
        let adapter = std::env::var("WINSOR_ADAPTER").ok();
        validation::warnings_are_errors();
        Gpu::with_options(adapter.as_deref(), LimitsChoice::Adapter, Validation::On)
            .unwrap_or_else(|e| panic!("{e:#}"))
    });
    validation::take_errors();
    (guard, gpu)
}

/// The error `Gpu::check` gives once the planted misuse is recorded.
fn reported(gpu: &Gpu) -> String {
    gpu.device
        .poll(wgpu::PollType::wait_indefinitely())
        .unwrap();
    let err = gpu
        .check()
        .expect_err("the validated device must fail on the planted misuse");
    validation::take_errors();
    format!("{err:#}")
}

#[test]
fn a_planted_api_misuse_fails_the_validated_device() {
    let (_serial, gpu) = validated();
    gpu.check().expect("the device is clean before the misuse");
    // SAFETY: a buffer of size 0 is invalid Vulkan (VUID-VkBufferCreateInfo-size-00912),
    // which is the point; lavapipe creates or refuses it harmlessly, and any buffer made is
    // destroyed at once, never bound or used.
    unsafe {
        let hal = gpu
            .device
            .as_hal::<wgpu::hal::api::Vulkan>()
            .expect("a Vulkan device");
        let raw = hal.raw_device();
        let info = vk::BufferCreateInfo::default()
            .size(0)
            .usage(vk::BufferUsageFlags::STORAGE_BUFFER)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        if let Ok(buffer) = raw.create_buffer(&info, None) {
            raw.destroy_buffer(buffer, None);
        }
    }
    let err = reported(gpu);
    assert!(
        err.contains("VUID-VkBufferCreateInfo-size-00912"),
        "the error should carry the layer's message:\n{err}"
    );
}

#[test]
fn a_planted_hazard_fails_under_synchronization_validation() {
    let (_serial, gpu) = validated();
    gpu.check().expect("the device is clean before the hazard");
    let buffer = gpu.storage("hazard", 1024);
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    // SAFETY: two fills of a buffer this test owns, recorded into wgpu's open command
    // buffer with no barrier between them: a write-after-write hazard that only the
    // layer's synchronization validation sees. The values written are never read.
    unsafe {
        let hal_device = gpu
            .device
            .as_hal::<wgpu::hal::api::Vulkan>()
            .expect("a Vulkan device");
        let raw = hal_device.raw_device();
        let hal_buffer = buffer
            .as_hal::<wgpu::hal::api::Vulkan>()
            .expect("a Vulkan buffer");
        let vk_buffer = hal_buffer.raw_handle();
        enc.as_hal_mut::<wgpu::hal::api::Vulkan, _, _>(|e| {
            let cmd = e.expect("an open Vulkan command encoder").raw_handle();
            raw.cmd_fill_buffer(cmd, vk_buffer, 0, 1024, 1);
            raw.cmd_fill_buffer(cmd, vk_buffer, 0, 1024, 2);
        });
    }
    gpu.queue.submit([enc.finish()]);
    let err = reported(gpu);
    assert!(
        err.contains("SYNC-HAZARD-WRITE-AFTER-WRITE"),
        "the error should name the hazard:\n{err}"
    );
}

/// A machine without the layer gets the install command, not a silently unvalidated run:
/// `VK_LAYER_PATH` replaces the loader's search folders for explicit layers, such as the
/// validation layer, with an empty one.
#[test]
fn a_missing_layer_is_an_error_that_says_how_to_install_it() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_winsor"))
        .args(["train", "--steps", "1", "--validate", "on"])
        .env("VK_LAYER_PATH", empty.path())
        .current_dir(empty.path())
        .output()
        .expect("run winsor");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must fail without the layer:\n{err}");
    assert!(
        err.contains("apt-get install -y vulkan-validationlayers"),
        "stderr should say how to install the layer:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A validated run of `winsor train`: it must succeed with not one message from the layer
/// (its errors would fail the run; its warnings are printed and fail this test too).
fn clean_validated_run(args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_winsor"))
        .args(["train", "--validate", "on", "--out", "run"])
        .args(args)
        .current_dir(dir.path())
        .output()
        .expect("run winsor");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{args:?} failed under validation:\n{err}"
    );
    assert!(
        !err.contains("vulkan validation"),
        "{args:?}: the validation layer reported:\n{err}"
    );
}

/// The README job's network with the winsor preset's largest C, on the full built-in MNIST
/// (every evaluation buffer at its full 60,000 + 10,000 size) under the plan lavapipe
/// picks, and on 6,000 + 1,000 examples under the gpu plan, whose tiled products evaluate
/// the full set about 7x slower on lavapipe (78 s against 12 s).
#[test]
fn the_3x256_network_runs_clean_under_validation() {
    let net = [
        "--arch",
        "3x256",
        "--rule",
        "winsor:8",
        "--noise",
        "50",
        "--steps",
        "5",
        "--log-grid",
        "every:5",
    ];
    clean_validated_run(&[&net[..], &["--kernels", "cpu"]].concat());
    clean_validated_run(
        &[
            &net[..],
            &[
                "--kernels",
                "gpu",
                "--train-subset",
                "6000",
                "--test-subset",
                "1000",
            ],
        ]
        .concat(),
    );
}

/// Experiment 1's network with the coherence passes, on 3,000 training and 1,000 test
/// examples, not the full set: one coherence measurement over all 60,000 takes about 95 s
/// on lavapipe under validation, and the passes and bindings are the same at either size.
#[test]
fn the_1x2048_network_with_coherence_runs_clean_under_validation() {
    for plan in ["cpu", "gpu"] {
        clean_validated_run(&[
            "--arch",
            "1x2048",
            "--rule",
            "mean",
            "--noise",
            "25",
            "--train-subset",
            "3000",
            "--test-subset",
            "1000",
            "--coherence",
            "--coherence-first",
            "0",
            "--steps",
            "1",
            "--log-grid",
            "every:1",
            "--kernels",
            plan,
        ]);
    }
}

/// The range-asserted build (`--shader-checks asserted`) catches what neither robust buffer
/// access nor the layer reports on lavapipe: a trusted module storing far out of range. The
/// store is dropped, and the device's next check fails naming the kernel and the line.
#[test]
fn the_asserted_build_reports_a_planted_out_of_range_store() {
    let adapter = std::env::var("WINSOR_ADAPTER").ok();
    // a device of its own: the planted index would fail every later check of a shared one
    let gpu = Gpu::with_options(adapter.as_deref(), LimitsChoice::Adapter, Validation::Off)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let source = winsor::gpu::kernels::asserted::instrument_on(
        &gpu,
        "planted",
        "@group(0) @binding(0) var<storage, read_write> data: array<u32>;
@compute @workgroup_size(1)
fn main() {
    let i = data[0] + 100000u;
    data[i] = 7u;
}",
    );
    // SAFETY: the module's only out-of-range index is wrapped by the assertion, which
    // replaces it by 0; that is what is tested.
    let module = unsafe {
        gpu.device.create_shader_module_trusted(
            wgpu::ShaderModuleDescriptor {
                label: Some("planted"),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            },
            wgpu::ShaderRuntimeChecks::unchecked(),
        )
    };
    let pipeline = gpu
        .device
        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("planted"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
    let data = gpu.storage("data", 64);
    let group = |g: u32, binding: u32, buffer: &wgpu::Buffer| {
        gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(g),
            entries: &[wgpu::BindGroupEntry {
                binding,
                resource: buffer.as_entire_binding(),
            }],
        })
    };
    let (g0, g1) = (
        group(0, 0, &data),
        group(
            1,
            winsor::gpu::kernels::asserted::BINDING,
            &winsor::gpu::kernels::asserted::debug_buffer(&gpu),
        ),
    );
    gpu.check()
        .expect("no index out of range before the dispatch");
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &g0, &[]);
        pass.set_bind_group(1, &g1, &[]);
        pass.dispatch_workgroups(1, 1, 1);
    }
    gpu.queue.submit([enc.finish()]);
    let err = format!(
        "{:#}",
        gpu.wait().expect_err("the planted store must be reported")
    );
    assert!(
        err.contains("out of range 1 time(s)") && err.contains("planted line 5: data[i] = 7u;"),
        "{err}"
    );
}
