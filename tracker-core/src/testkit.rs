//! The conformance kit (filled below).
