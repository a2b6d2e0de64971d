//! Adapter choice, device creation and small buffer helpers.

use anyhow::{anyhow, bail, Context as _, Result};
use wgpu::util::DeviceExt;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use crate::gpu::validation::{self, Validation};

/// What to tell a user whose machine shows no adapter.
pub const NO_ADAPTER_HELP: &str = "no GPU adapter found. winsor runs its WGSL kernels through wgpu; \
on a machine without a GPU install Mesa's lavapipe (software Vulkan): `sudo apt-get install -y mesa-vulkan-drivers`, \
then run with WGPU_BACKEND=vulkan. On a GPU machine install the vendor's Vulkan driver and the loader (libvulkan1)";

/// Vulkan, Metal and DX12 unless WGPU_BACKEND says otherwise: the GL path lacks what compute
/// needs on some drivers and, on lavapipe machines, only duplicates the Vulkan adapter.
fn backends() -> wgpu::Backends {
    wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY)
}

fn instance(validation: Validation) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends();
    desc.flags = validation.instance_flags();
    wgpu::Instance::new(desc)
}

/// All adapters wgpu can see, in the order `--adapter N` counts them.
pub fn adapters() -> Vec<wgpu::Adapter> {
    adapters_of(&instance(Validation::Off))
}

fn adapters_of(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    pollster::block_on(instance.enumerate_adapters(backends()))
}

/// One line per adapter for `winsor adapters`.
pub fn describe_adapters() -> Vec<String> {
    adapters()
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let info = a.get_info();
            format!(
                "{i}: {} ({:?}, {:?}, driver {} {})",
                info.name, info.backend, info.device_type, info.driver, info.driver_info
            )
        })
        .collect()
}

/// Which limits to ask the device for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitsChoice {
    /// The adapter's own buffer and workgroup-memory limits: full-batch training and wide
    /// networks need more than the portable defaults.
    Adapter,
    /// wgpu's portable defaults (16 KiB of workgroup memory, 128 MiB bindings): what every
    /// WebGPU-class device offers, so the tests can show the default configurations fit.
    Default,
}

/// The device winsor computes on, with the limits it was granted.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// The Vulkan validation this device runs under; with it on, [`Gpu::check`] also fails
    /// on the layer's errors.
    pub validation: Validation,
    /// The first error wgpu reported outside an error scope (out of memory, validation).
    /// wgpu's default is to panic; winsor turns it into an error at the next wait.
    first_error: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    /// What the layers above keep per device, one value per type ([`Gpu::attached`]): the
    /// compiled kernels, the texture mirrors, the asserted build's debug buffer. This
    /// wrapper holds them without knowing them, so it imports no kernel.
    attached: std::sync::Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// Checks that [`Gpu::check`] runs besides its own ([`Gpu::add_check`]).
    checks: std::sync::Mutex<Vec<Arc<DeviceCheck>>>,
}

/// A check of device state that [`Gpu::check`] runs (the asserted build's debug buffer).
type DeviceCheck = dyn Fn(&Gpu) -> Result<()> + Send + Sync;

impl Gpu {
    /// `choice`: None picks the first adapter, preferring real GPUs over CPU emulation;
    /// a number picks by position in `winsor adapters`; other text picks the first adapter
    /// whose name contains it (case-insensitive).
    pub fn new(choice: Option<&str>) -> Result<Gpu> {
        Self::with_limits(choice, LimitsChoice::Adapter)
    }

    /// [`Gpu::new`] with the limits of `limits`.
    pub fn with_limits(choice: Option<&str>, limits: LimitsChoice) -> Result<Gpu> {
        Self::with_options(choice, limits, Validation::Off)
    }

    /// [`Gpu::with_limits`] under `validation`: with it on, the Khronos layer must be
    /// installed and the adapter a Vulkan one, and the layer's errors fail [`Gpu::check`].
    pub fn with_options(
        choice: Option<&str>,
        limits: LimitsChoice,
        validation: Validation,
    ) -> Result<Gpu> {
        if validation != Validation::Off {
            validation::install_logger()?;
        }
        let instance = instance(validation);
        if validation != Validation::Off {
            validation::check_layer(&instance)?;
        }
        let all = adapters_of(&instance);
        if all.is_empty() {
            bail!("{NO_ADAPTER_HELP}");
        }
        let adapter = match choice {
            None => {
                let rank = |a: &wgpu::Adapter| match a.get_info().device_type {
                    wgpu::DeviceType::DiscreteGpu => 0,
                    wgpu::DeviceType::IntegratedGpu => 1,
                    wgpu::DeviceType::VirtualGpu => 2,
                    wgpu::DeviceType::Cpu => 3,
                    wgpu::DeviceType::Other => 4,
                };
                all.iter()
                    .min_by_key(|a| rank(a))
                    .cloned()
                    .expect("non-empty")
            }
            Some(c) => {
                if let Ok(i) = c.parse::<usize>() {
                    all.get(i).cloned().ok_or_else(|| {
                        anyhow!(
                            "--adapter {i}: there are only {} adapters; `winsor adapters` lists them",
                            all.len()
                        )
                    })?
                } else {
                    let lc = c.to_lowercase();
                    all.iter()
                        .find(|a| a.get_info().name.to_lowercase().contains(&lc))
                        .cloned()
                        .ok_or_else(|| {
                            anyhow!(
                                "--adapter {c:?}: no adapter name contains it; `winsor adapters` lists them"
                            )
                        })?
                }
            }
        };
        let info = adapter.get_info();
        if validation != Validation::Off && info.backend != wgpu::Backend::Vulkan {
            bail!(
                "--validate runs the Khronos Vulkan validation layer, but adapter {} is a {:?} adapter; pick a Vulkan one (`winsor adapters`) or set WGPU_BACKEND=vulkan",
                info.name,
                info.backend
            );
        }
        let have = adapter.limits();
        let limits = match limits {
            LimitsChoice::Adapter => wgpu::Limits {
                max_storage_buffer_binding_size: have.max_storage_buffer_binding_size,
                max_buffer_size: have.max_buffer_size,
                max_compute_workgroup_storage_size: have.max_compute_workgroup_storage_size,
                max_storage_buffers_per_shader_stage: have
                    .max_storage_buffers_per_shader_stage
                    .min(16),
                ..wgpu::Limits::default()
            },
            LimitsChoice::Default => wgpu::Limits::default(),
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("winsor"),
            // timestamp queries where the adapter has them, for `winsor profile`
            required_features: adapter.features() & wgpu::Features::TIMESTAMP_QUERY,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .with_context(|| format!("creating a device on adapter {}", info.name))?;
        let first_error = std::sync::Arc::new(std::sync::Mutex::new(None));
        let slot = first_error.clone();
        device.on_uncaptured_error(std::sync::Arc::new(move |e: wgpu::Error| {
            let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| e.to_string());
        }));
        Ok(Gpu {
            device,
            queue,
            info,
            limits,
            validation,
            first_error,
            attached: Default::default(),
            checks: Default::default(),
        })
    }

    /// "name (backend)" for configs and summaries.
    pub fn adapter_name(&self) -> String {
        format!("{} ({:?})", self.info.name, self.info.backend)
    }

    /// Fails with a clear message when a buffer of `bytes` cannot be bound on this device;
    /// `fix` says which settings shrink that buffer.
    pub fn check_binding(&self, what: &str, bytes: u64, fix: &str) -> Result<()> {
        let max = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if bytes > max {
            bail!(
                "{what} needs a {:.1} MiB buffer but adapter {} binds at most {:.1} MiB; use {fix}, or another adapter",
                bytes as f64 / 1048576.0,
                self.info.name,
                max as f64 / 1048576.0
            );
        }
        Ok(())
    }

    pub fn storage(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            // whole vec4s, so any buffer can also be viewed as array<vec4<f32>>
            size: bytes.max(16).next_multiple_of(16),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    pub fn storage_init(&self, label: &str, contents: &[u8]) -> wgpu::Buffer {
        let mut padded;
        let contents = if !contents.len().is_multiple_of(16) || contents.is_empty() {
            padded = contents.to_vec();
            padded.resize(contents.len().max(16).next_multiple_of(16), 0);
            &padded[..]
        } else {
            contents
        };
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
            })
    }

    pub fn uniform<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::bytes_of(value),
                usage: wgpu::BufferUsages::UNIFORM,
            })
    }

    /// This device's value of type `T`, made with `T::default()` on first use: state the
    /// layers above keep per device (a cache, say) without this wrapper knowing its type.
    pub fn attached<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut map = self.attached.lock().unwrap_or_else(|p| p.into_inner());
        let any = map
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()))
            .clone();
        any.downcast::<T>()
            .unwrap_or_else(|_| unreachable!("the map holds a T under T's id"))
    }

    /// Makes [`Gpu::check`] also run `check` from now on (after the device's own error and
    /// before the validation layer's).
    pub fn add_check(&self, check: impl Fn(&Gpu) -> Result<()> + Send + Sync + 'static) {
        let mut checks = self.checks.lock().unwrap_or_else(|p| p.into_inner());
        checks.push(Arc::new(check));
    }

    /// Copies `bytes` bytes from `offset` of `src` to the host (waits for the GPU), then
    /// reports any error the device raised ([`Gpu::check`]).
    pub fn read_bytes(&self, src: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        let out = self.read_unchecked(src, offset, bytes)?;
        self.check()?;
        Ok(out)
    }

    /// [`Gpu::read_bytes`] without [`Gpu::check`], for a check that reads device memory.
    pub fn read_unchecked(&self, src: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(src, offset, &staging, 0, bytes);
        self.queue.submit([enc.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .context("waiting for the GPU")?;
        rx.recv()
            .context("readback callback dropped")?
            .context("mapping a readback buffer")?;
        let out = staging
            .get_mapped_range(..)
            .context("reading a mapped buffer")?
            .to_vec();
        staging.unmap();
        Ok(out)
    }

    pub fn read_f32(&self, src: &wgpu::Buffer, offset_elems: u64, n: usize) -> Result<Vec<f32>> {
        let b = self.read_bytes(src, offset_elems * 4, n as u64 * 4)?;
        Ok(bytemuck::cast_slice(&b[..n * 4]).to_vec())
    }

    pub fn read_u32(&self, src: &wgpu::Buffer, offset_elems: u64, n: usize) -> Result<Vec<u32>> {
        let b = self.read_bytes(src, offset_elems * 4, n as u64 * 4)?;
        Ok(bytemuck::cast_slice(&b[..n * 4]).to_vec())
    }

    /// Waits until all submitted work is done, then reports any error wgpu raised.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .context("waiting for the GPU")?;
        self.check()
    }

    /// Fails with the first error wgpu reported on this device, if any, and under
    /// `--validate` with the first error the validation layer reported in this process.
    pub fn check(&self) -> Result<()> {
        let slot = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = slot.as_ref() {
            bail!(
                "the GPU reported an error on adapter {}: {e}; if it ran out of memory, use a smaller --batch or --arch",
                self.info.name
            );
        }
        drop(slot);
        // copied out, so that a check may itself add one
        let checks: Vec<Arc<DeviceCheck>> = self
            .checks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for check in checks {
            check(self)?;
        }
        if self.validation != Validation::Off {
            let errors = validation::errors();
            if let Some(first) = errors.first() {
                bail!(
                    "the Vulkan validation layer reported {} error(s) on adapter {}; the first:\n{}\n\
                     this is misuse of the Vulkan API that a desktop driver may turn into wrong numbers or a crash; please report it with the command",
                    errors.len(),
                    self.info.name,
                    first.text
                );
            }
        }
        Ok(())
    }
}
