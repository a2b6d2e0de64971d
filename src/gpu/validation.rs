//! Running under the Khronos validation layer (`--validate`): the typed choice, the instance
//! flags it sets, the check that the layer is installed, and the logger that turns the
//! layer's messages into winsor errors.
//!
//! Why: every test runs on lavapipe, which forgives API misuse (missing barriers, usage
//! flags, limits) that desktop drivers turn into wrong numbers or device loss. The layer
//! checks that misuse on any driver. wgpu-hal receives its messages through a Vulkan debug
//! messenger and forwards them to the `log` crate (target `wgpu_hal::vulkan::instance`,
//! the layer's errors at `Error`, its warnings at `Warn`), so without a logger they vanish.

use std::sync::Mutex;

use anyhow::{bail, Context as _, Result};

/// The name the Vulkan loader knows the layer by.
const LAYER: &std::ffi::CStr = c"VK_LAYER_KHRONOS_validation";

/// What to tell a user whose machine lacks the layer.
pub const NO_LAYER_HELP: &str = "--validate needs the Khronos Vulkan validation layer \
(VK_LAYER_KHRONOS_validation), which the Vulkan loader does not find. Install it with \
`apt-get install -y vulkan-validationlayers` (Debian/Ubuntu; prefix sudo if not root), or \
the LunarG Vulkan SDK elsewhere, or run without --validate";

/// The log target wgpu-hal's Vulkan debug messenger writes the layer's messages to.
const LAYER_TARGET: &str = "wgpu_hal::vulkan::instance";

/// Which validation a device runs under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Validation {
    /// No layer: the normal, fast path.
    #[default]
    Off,
    /// The Khronos layer's core checks (API use, limits, usage flags) and its
    /// synchronization checks (hazards between dispatches and copies).
    On,
    /// As `on`, plus GPU-assisted validation: the layer instruments every shader to
    /// report out-of-bounds descriptor access. Much slower.
    GpuAssisted,
}

impl Validation {
    /// The wgpu instance flags for this choice. Set explicitly, not from the build type or
    /// `WGPU_*` variables, so that a run's checks are the ones its command line asked for.
    pub(crate) fn instance_flags(self) -> wgpu::InstanceFlags {
        // what wgpu sets in release builds: wgpu-core's own checks of indirect dispatches
        let base = wgpu::InstanceFlags::VALIDATION_INDIRECT_CALL;
        match self {
            Validation::Off => base,
            // DEBUG names Vulkan objects after wgpu labels, so messages say which buffer
            Validation::On => base | wgpu::InstanceFlags::VALIDATION | wgpu::InstanceFlags::DEBUG,
            Validation::GpuAssisted => {
                base | wgpu::InstanceFlags::VALIDATION
                    | wgpu::InstanceFlags::DEBUG
                    | wgpu::InstanceFlags::GPU_BASED_VALIDATION
            }
        }
    }
}

/// One message the layer reported as an error, with the lines wgpu-hal logs after it
/// (queues, command buffers, objects).
#[derive(Clone, Debug)]
pub struct LayerError {
    pub text: String,
}

static ERRORS: Mutex<Vec<LayerError>> = Mutex::new(Vec::new());

/// Whether the layer's warnings are recorded as errors too (the tests': a warning there is
/// something to look at, not to scroll past).
static STRICT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes the layer's warnings fail [`crate::gpu::Gpu::check`] like its errors, for the
/// rest of the process.
pub fn warnings_are_errors() {
    STRICT.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The errors the layer has reported in this process so far.
pub fn errors() -> Vec<LayerError> {
    ERRORS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Takes and forgets the errors reported so far (for a test that plants one on purpose).
pub fn take_errors() -> Vec<LayerError> {
    std::mem::take(&mut *ERRORS.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Prints warnings from wgpu and the layer to stderr and records the layer's errors.
struct LayerLog;

static LOGGER: LayerLog = LayerLog;

impl log::Log for LayerLog {
    fn enabled(&self, meta: &log::Metadata) -> bool {
        meta.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = record.args().to_string();
        let from_layer = record.target() == LAYER_TARGET;
        let source = if from_layer {
            "vulkan validation"
        } else {
            record.target()
        };
        eprintln!(
            "{source} {}: {text}",
            record.level().as_str().to_lowercase()
        );
        let strict = STRICT.load(std::sync::atomic::Ordering::Relaxed);
        if from_layer && (record.level() == log::Level::Error || strict) {
            let mut errors = ERRORS.lock().unwrap_or_else(|p| p.into_inner());
            // wgpu-hal logs a message's queues, command buffers and objects as separate
            // lines that start with a tab; they belong to the message before them
            match errors.last_mut() {
                Some(last) if text.starts_with('\t') => {
                    last.text.push('\n');
                    last.text.push_str(&text);
                }
                _ => errors.push(LayerError { text }),
            }
        }
    }

    fn flush(&self) {}
}

/// Installs winsor's logger (once per process) and lets warnings through, before the
/// instance is made: wgpu-hal asks the layer for warnings only if `log` would print them.
pub(crate) fn install_logger() -> Result<()> {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ours = *INSTALLED.get_or_init(|| log::set_logger(&LOGGER).is_ok());
    if !ours {
        bail!("--validate: another `log` logger is installed in this process, so winsor cannot see the validation layer's messages");
    }
    log::set_max_level(log::LevelFilter::Warn);
    Ok(())
}

/// Fails unless the layer, and the extension that enables its synchronization and
/// GPU-assisted checks, are installed. wgpu-hal itself only logs a debug line and runs
/// unvalidated when the layer is missing, which would make "no errors" mean nothing.
pub(crate) fn check_layer(instance: &wgpu::Instance) -> Result<()> {
    // SAFETY: only the loader's entry points are used, to list layers and extensions; the
    // instance outlives this call and nothing of it is changed or kept.
    let Some(hal) = (unsafe { instance.as_hal::<wgpu::hal::api::Vulkan>() }) else {
        bail!("--validate runs the Khronos Vulkan validation layer and needs the Vulkan backend; set WGPU_BACKEND=vulkan");
    };
    let entry = hal.shared_instance().entry();
    // SAFETY: plain queries of the Vulkan loader.
    let layers = unsafe { entry.enumerate_instance_layer_properties() }
        .context("--validate: listing the Vulkan layers")?;
    if !layers.iter().any(|l| l.layer_name_as_c_str() == Ok(LAYER)) {
        bail!("{NO_LAYER_HELP}");
    }
    // SAFETY: as above.
    let extensions = unsafe { entry.enumerate_instance_extension_properties(Some(LAYER)) }
        .context("--validate: listing the validation layer's extensions")?;
    if !extensions
        .iter()
        .any(|e| e.extension_name_as_c_str() == Ok(c"VK_EXT_validation_features"))
    {
        bail!("--validate: this validation layer lacks VK_EXT_validation_features, which turns on its synchronization and GPU-assisted checks; install a newer vulkan-validationlayers (1.2.131 or later)");
    }
    Ok(())
}
