//! Shared parts of the fuzz targets in `fuzz_targets/`: the ways one input
//! is cut into reads, a model of the server's connection loop, and the
//! checks every stored log entry must pass.
//!
//! The targets assert properties (verdicts that do not depend on how bytes
//! arrive, round trips, limits), not only "did not panic". See README.md.

pub mod connection;
pub mod entries;
pub mod reads;
