//! The routes, one module per caller.

pub(crate) mod agent;
pub(crate) mod auth;
pub(crate) mod ops;
