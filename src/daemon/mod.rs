//! The daemon side of the binary.

pub mod notify;
