//! Fixtures shared by the integration tests in `tests/`: where `../shared/` is,
//! a Samba AD DC in a network namespace of the test's own, tshark, the Python
//! venv with impacket and aiowmi, and an in-process simulated fleet.

pub mod cli;
pub mod fixtures;
pub mod netlab;
pub mod pg;
pub mod python;
pub mod samba;
pub mod sim;
pub mod tshark;
