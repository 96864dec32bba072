//! nats-server configuration file grammar (work in progress).
