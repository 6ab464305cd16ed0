//! `wardwatch serve`: configuration, the durable pipeline, and which listeners start.

pub mod config;
pub mod metrics;
pub mod pipeline;
