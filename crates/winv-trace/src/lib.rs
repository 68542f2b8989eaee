//! Offline analysis of real captures: reading pcap/pcapng files and reassembling TCP
//! connections into ordered byte streams, so that recorded DCE/RPC conversations can be
//! replayed through the project's decoders.

pub mod capture;
pub mod conversation;
pub mod dcom;
