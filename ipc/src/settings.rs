//! The server's limits, in one place so that each has a test next to it.

/// Limits of a [`Server`](crate::Server). Every field has a conservative default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Largest message a client may send, in bytes. A larger one gets an error reply and its
    /// connection is closed; other connections are not affected.
    pub max_message_bytes: usize,
    /// Largest response the server will send, in bytes; a larger one is replaced by an error.
    pub max_response_bytes: usize,
    /// Connections served at once. Further ones get an error reply and are closed.
    pub max_connections: usize,
    /// Subscriptions one connection may hold at once.
    pub max_subscriptions_per_connection: u32,
    /// Requests one connection may have in progress at once; reading from that connection
    /// pauses while it is at the limit.
    pub max_requests_in_flight: usize,
    /// Messages queued for a connection's writer. When a client does not read, replies to it
    /// wait here and then its requests stop being read: only that client slows down.
    pub connection_buffer: usize,
    /// Notifications buffered per subscription before the subscription is considered lagging.
    pub subscription_buffer: usize,
}

impl Settings {
    /// 4 MiB, as documented in the protocol.
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
    /// 1024 connections.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            max_response_bytes: 64 * 1024 * 1024,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_subscriptions_per_connection: 64,
            max_requests_in_flight: 256,
            connection_buffer: 256,
            subscription_buffer: 1024,
        }
    }
}
