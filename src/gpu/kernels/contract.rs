//! The contract between a Rust struct and the WGSL struct a shader reads as a uniform:
//! `uniform_struct!` declares one and lists its fields, so that tests/shaders.rs can check
//! the shader's struct of the same role against it, field by field.

/// Declares a uniform struct shared with WGSL: `#[repr(C)]`, `Pod`, and a [`Contract`] that
/// lists every field's name, byte offset and size, so that a test can check the shader's
/// struct of the same role against it (tests/shaders.rs). Fields named `_...` are padding.
macro_rules! uniform_struct {
    ($(#[$m:meta])* $vis:vis struct $name:ident { $($(#[$fm:meta])* $fvis:vis $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Debug)]
        $vis struct $name { $($(#[$fm])* $fvis $f: $t),* }

        impl $crate::gpu::kernels::contract::Contract for $name {
            fn fields() -> Vec<$crate::gpu::kernels::contract::Field> {
                vec![$($crate::gpu::kernels::contract::Field {
                    name: stringify!($f),
                    offset: std::mem::offset_of!($name, $f),
                    size: std::mem::size_of::<$t>(),
                }),*]
            }
        }
    };
}

/// One field of a uniform struct shared with WGSL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
}

/// A Rust struct whose bytes a shader reads as a uniform (declared with `uniform_struct!`).
pub trait Contract {
    fn fields() -> Vec<Field>;
}
