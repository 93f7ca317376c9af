//! The registry's integration tests, in one test binary (each binary links the whole runtime).

mod api;
mod clients;
mod common;
mod reference_tree;
