//! simcore: the SPIKE-X spiking-network engine.
//!
//! This crate knows nothing about Python; the `simcore-bindings` crate wraps it for
//! `simcore._native`, and `cargo test` exercises it directly.

/// The engine's version, as recorded with every run so results can be traced to a build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    #[test]
    fn version_is_the_crate_version() {
        assert_eq!(super::VERSION, "0.1.0");
    }
}
