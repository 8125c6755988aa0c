//! `tracker-axum` will hold the HTTP adapter of `tracker`: an axum router
//! serving the API of the `Tracker` service under `/api/v1`, with
//! problem+json errors, rate limits and an OpenAPI document.
//!
//! It holds no code yet: call `tracker_core::Tracker` directly until it lands.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
