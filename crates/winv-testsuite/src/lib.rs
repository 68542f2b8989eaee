//! Fixtures shared by the integration tests in `tests/`: where `../shared/` is,
//! a Samba AD DC in a network namespace of the test's own, and tshark.

pub mod fixtures;
pub mod samba;
pub mod tshark;
