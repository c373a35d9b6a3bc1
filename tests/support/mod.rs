//! Helpers shared by the Rust integration tests.

// Each test binary uses part of the helpers; the rest would warn as unused there.
#[allow(dead_code)]
pub mod azurite;
#[allow(dead_code)]
pub mod binary;
#[allow(dead_code)]
pub mod proxy;
#[allow(dead_code)]
pub mod session;
#[allow(dead_code)]
pub mod tls;
