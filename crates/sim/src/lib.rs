//! `tomoe-sim`: a synthetic Tomo-e Gozen sky and instrument for tests, benchmarks and the demo.
//!
//! [`stacks`] writes stacked images (TOMOE-IMAGE-STACK) with headers that follow the real
//! header layout (FORMAT.md §4), valid Frame IDs, consistent times, a TAN-SIP WCS, sky noise and
//! stars. [`layout`] is the (synthetic) chip numbering and focal-plane layout; [`render`] holds
//! the pixel-level pieces (pixel-integrated Gaussian PSFs, noise).
//!
//! Everything is deterministic for a given seed.

pub mod cubes;
pub mod gaia;
pub mod layout;
pub mod render;
pub mod stacks;

pub use stacks::{simulate_stacks, StackSim, StackSimError};
