//! The client protocol: framing ([`parser`]), CONNECT ([`connect`]), INFO
//! ([`info`]) and outbound message encoding ([`encode`]).

pub mod connect;
pub mod encode;
pub mod info;
pub mod parser;
