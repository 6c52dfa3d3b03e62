//! The one integration test binary: real processes, real servers on 127.0.0.1:0.
//!
//! What the test files share (starting the binary, the servers, the external checkers, the load
//! lock) is in `support`; each other module holds tests.

mod support;

mod architecture;
mod ci;
mod deploy;
mod engine;
mod faults;
mod fixture;
mod hostile;
mod http1;
mod plans;
mod props;
mod reports;
mod run;
mod secrets;
mod soak_size;
