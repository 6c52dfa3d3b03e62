//! The one integration test binary: real processes, real servers on 127.0.0.1:0.

mod fixture;
mod reports;
