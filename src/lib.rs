//! steward: a repository steward daemon and its client, in one binary.

pub mod atomic_file;
pub mod config;
pub mod daemon;
pub mod logging;
pub mod paths;
