//! hz-core
