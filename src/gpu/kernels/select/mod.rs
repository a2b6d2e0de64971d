//! The selection family: the coordinate-wise aggregation kernels for rules that look at
//! every per-example gradient (winsor, trim, median, the sign rules), in two paths that
//! share one interface ([`Selection`], selection.rs):
//!
//! - select_partial.rs (shaders/select/select_partial.wgsl, select_partial_cols.wgsl,
//!   select_finish.wgsl, nonzero_groups.wgsl) streams over the examples once and keeps the
//!   k+1 extremes per side; select_partial_source.rs generates its WGSL, and
//!   select_network.rs the sorting and merging networks its chunk merges use;
//! - select_sort.rs (shaders/select/select_sort.wgsl) sorts each coordinate's values in workgroup
//!   memory with a bitonic network.
//!
//! Both compute `reference::select`; their tests are in tests/kernels/select.rs.

pub mod layer;
mod scale;
pub mod select_network;
pub mod select_partial;
pub mod select_partial_source;
pub mod select_sort;
pub mod selection;

pub use crate::gpu::plan::PARTIAL_KMAX;
pub use layer::LayerOperands;
pub use select_partial::PartialSelect;
pub use select_partial_source::{Orientation, PartialShape};
pub use select_sort::{sort_tile, SortSelect, SORT_PMAX};
pub use selection::Selection;
