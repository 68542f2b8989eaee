//! Fixtures shared by the integration tests in `tests/`: where `../shared/` is,
//! a Samba AD DC in a network namespace of the test's own, tshark, the Python
//! venv with impacket and aiowmi, an in-process simulated fleet, and a re-sealing man in
//! the middle to put in front of it (`reseal`).

pub mod cli;
pub mod fixtures;
pub mod netlab;
pub mod pg;
pub mod python;
pub mod reseal;
pub mod samba;
pub mod sim;
pub mod tshark;
