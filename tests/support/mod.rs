//! Helpers shared by the Rust integration tests.

pub mod azurite;
