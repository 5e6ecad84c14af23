//! Error codes the transport itself answers with, beyond the standard JSON-RPC ones.
//!
//! Each carries a `data` object whose `kind` names it in words, so scripts can match on the kind
//! rather than on a number.

use jsonrpsee::types::ErrorObjectOwned;
use serde_json::json;

/// A message exceeded [`Settings::max_message_bytes`](crate::Settings::max_message_bytes).
pub const MESSAGE_TOO_LARGE: i32 = -32007;
/// A reply would exceed [`Settings::max_response_bytes`](crate::Settings::max_response_bytes).
pub const RESPONSE_TOO_LARGE: i32 = -32008;
/// A connection asked for more than [`Settings::max_subscriptions_per_connection`](crate::Settings::max_subscriptions_per_connection).
pub const TOO_MANY_SUBSCRIPTIONS: i32 = -32006;
/// The server already serves [`Settings::max_connections`](crate::Settings::max_connections).
pub const TOO_MANY_CONNECTIONS: i32 = -32009;
/// The peer runs as another user.
pub const PERMISSION_DENIED: i32 = -32004;

/// The error for a message over the limit; the connection is closed after it is sent.
pub fn message_too_large(limit: usize) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        MESSAGE_TOO_LARGE,
        format!("message exceeds the limit of {limit} bytes; the connection is closed"),
        Some(json!({ "kind": "message_too_large", "limit": limit })),
    )
}

/// The error for a subscription over the per-connection limit.
pub fn too_many_subscriptions(limit: u32) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        TOO_MANY_SUBSCRIPTIONS,
        format!("this connection already holds {limit} subscriptions; unsubscribe from one first"),
        Some(json!({ "kind": "too_many_subscriptions", "limit": limit })),
    )
}

/// The error sent to a connection refused because the server is full.
pub fn too_many_connections(limit: usize) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        TOO_MANY_CONNECTIONS,
        format!("the daemon already serves {limit} connections; close idle clients and retry"),
        Some(json!({ "kind": "too_many_connections", "limit": limit })),
    )
}

/// The error sent to a peer whose user id is not the server's.
pub fn permission_denied(peer_uid: u32, server_uid: u32) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        PERMISSION_DENIED,
        format!("permission denied: this daemon serves only uid {server_uid}, and you are uid {peer_uid}"),
        Some(json!({ "kind": "permission_denied", "peer_uid": peer_uid, "daemon_uid": server_uid })),
    )
}

/// The error that replaces a reply larger than the limit.
pub fn response_too_large(limit: usize) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        RESPONSE_TOO_LARGE,
        format!("the reply would exceed the limit of {limit} bytes; ask for less (e.g. a smaller page)"),
        Some(json!({ "kind": "response_too_large", "limit": limit })),
    )
}
