//! One client connection: read frames, run them, write replies.
//!
//! A connection is two tasks. The reader decodes frames and dispatches them, keeping up to
//! `max_requests_in_flight` calls running at once (replies may leave out of order; ids pair them
//! up). The writer drains a bounded queue to the socket, coalescing whatever is queued into one
//! write. A client that does not read fills its own queue, which pauses its own reader: nobody
//! else waits. An idle connection holds no read buffer and wakes nothing.

use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::value::RawValue;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, trace};

use super::dispatch::{Dispatcher, Outcome, Reply};
use crate::codec::FrameDecoder;
use crate::error;

/// What a connection needs beyond its dispatcher.
pub(crate) struct ConnectionConfig {
    pub max_message_bytes: usize,
    pub max_requests_in_flight: usize,
    /// Graceful stop: read no more requests, finish the ones running, flush, close.
    pub stop: CancellationToken,
    /// Forced stop: abandon unsent replies.
    pub abort: CancellationToken,
}

/// Serves one connection until the client leaves or the server stops.
pub(crate) async fn serve(
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    dispatcher: Arc<Dispatcher>,
    outbound_rx: mpsc::Receiver<Box<RawValue>>,
    config: ConnectionConfig,
) {
    let closing = dispatcher.closing.clone();
    let writer = tokio::spawn(write_loop(write, outbound_rx, closing.clone(), config.abort.clone()));
    read_loop(read, &dispatcher, &config).await;
    // No more replies will be produced: end subscription forwarding, release the queue, and let
    // the writer flush what is left.
    closing.cancel();
    drop(dispatcher);
    let _ = writer.await;
}

/// Why reading stopped.
enum Ended {
    /// The client closed its side, the server is stopping, or a frame was too large: the
    /// requests already running still get their replies.
    Drain,
    /// The writer is gone (the client left): nothing more can be sent.
    Gone,
}

async fn read_loop(mut read: OwnedReadHalf, dispatcher: &Arc<Dispatcher>, config: &ConnectionConfig) {
    let mut decoder = FrameDecoder::new(config.max_message_bytes);
    let mut in_flight = FuturesUnordered::new();
    let outbound = &dispatcher.outbound;
    let ended = 'read: loop {
        // Run every complete frame already received, as far as the in-flight limit allows.
        while in_flight.len() < config.max_requests_in_flight {
            match decoder.next_frame() {
                Ok(Some(range)) => match dispatcher.dispatch(&decoder.buffer()[range]) {
                    Outcome::Ready(Some(reply)) => {
                        if !queue(outbound, reply).await {
                            break 'read Ended::Gone;
                        }
                    }
                    Outcome::Ready(None) => {}
                    Outcome::Pending(fut) => in_flight.push(fut),
                    Outcome::Barrier(setup) => {
                        if let Some(reply) = setup.await
                            && !queue(outbound, reply).await
                        {
                            break 'read Ended::Gone;
                        }
                    }
                },
                Ok(None) => break,
                Err(too_large) => {
                    debug!(limit = too_large.limit, "message too large; closing the connection");
                    let err = error::message_too_large(too_large.limit);
                    let json = jsonrpsee::core::server::MethodResponse::error(jsonrpsee::types::Id::Null, err);
                    if !queue(outbound, Reply { json: json.into_json(), gates: Vec::new() }).await {
                        break 'read Ended::Gone;
                    }
                    discard_input(&mut read).await;
                    break 'read Ended::Drain;
                }
            }
        }
        decoder.compact();
        let can_read = in_flight.len() < config.max_requests_in_flight;
        tokio::select! {
            biased;
            _ = dispatcher.closing.cancelled() => break Ended::Gone,
            Some(reply) = in_flight.next(), if !in_flight.is_empty() => {
                if let Some(reply) = reply
                    && !queue(outbound, reply).await
                {
                    break Ended::Gone;
                }
            }
            _ = config.stop.cancelled() => break Ended::Drain,
            ready = read.readable(), if can_read => {
                if ready.is_err() {
                    break Ended::Drain;
                }
                match read_some(&read, &mut decoder) {
                    Ok(0) => {
                        // End of input: a final line without a newline is still a message.
                        if let Some(range) = decoder.finish() {
                            match dispatcher.dispatch(&decoder.buffer()[range]) {
                                Outcome::Ready(reply) => {
                                    if let Some(reply) = reply
                                        && !queue(outbound, reply).await
                                    {
                                        break Ended::Gone;
                                    }
                                }
                                Outcome::Pending(fut) | Outcome::Barrier(fut) => in_flight.push(fut),
                            }
                        }
                        trace!(pending = decoder.pending_bytes(), "client closed its side");
                        break Ended::Drain;
                    }
                    Ok(n) => trace!(bytes = n, "read"),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        debug!(error = %e, "read failed");
                        break Ended::Drain;
                    }
                }
            }
        }
    };
    if let Ended::Drain = ended {
        while let Some(reply) = tokio::select! {
            _ = dispatcher.closing.cancelled() => None,
            next = in_flight.next() => next,
        } {
            if let Some(reply) = reply
                && !queue(outbound, reply).await
            {
                return;
            }
        }
    }
}

/// Reads what is available into the decoder.
///
/// Between messages the decoder holds no buffer: bytes are read into a chunk on the stack and
/// copied, so an idle connection keeps no read buffer. Mid-message, reading goes straight into the
/// decoder's buffer, which then grows with the message.
fn read_some(read: &OwnedReadHalf, decoder: &mut FrameDecoder) -> std::io::Result<usize> {
    if decoder.pending_bytes() > 0 {
        return read.try_read_buf(decoder.read_buffer(8 * 1024));
    }
    let mut chunk = [0u8; 8 * 1024];
    let n = read.try_read(&mut chunk)?;
    decoder.extend(&chunk[..n]);
    Ok(n)
}

/// Reads and drops what a client still sends after its connection was condemned, for a moment,
/// so that closing does not reset the connection before the client has read why (a client still
/// writing a huge message would otherwise fail on its write and never see the error).
async fn discard_input(read: &mut OwnedReadHalf) {
    let mut sink = vec![0u8; 64 * 1024];
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        while tokio::io::AsyncReadExt::read(read, &mut sink).await.is_ok_and(|n| n > 0) {}
    })
    .await;
}

/// Queues a reply for the writer, then lets waiting subscriptions go. False when the writer is gone.
async fn queue(outbound: &mpsc::Sender<Box<RawValue>>, reply: Reply) -> bool {
    let Reply { json, gates } = reply;
    if outbound.send(json).await.is_err() {
        return false;
    }
    for gate in gates {
        let _ = gate.send(());
    }
    true
}

/// Coalescing more than this into one write gains nothing and delays the first bytes.
const WRITE_BATCH_BYTES: usize = 256 * 1024;

async fn write_loop(
    mut write: OwnedWriteHalf,
    mut outbound: mpsc::Receiver<Box<RawValue>>,
    closing: CancellationToken,
    abort: CancellationToken,
) {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let first = tokio::select! {
            _ = abort.cancelled() => break,
            first = outbound.recv() => first,
        };
        let Some(first) = first else { break };
        append(&mut buf, &first);
        while buf.len() < WRITE_BATCH_BYTES {
            match outbound.try_recv() {
                Ok(more) => append(&mut buf, &more),
                Err(_) => break,
            }
        }
        let written = tokio::select! {
            _ = abort.cancelled() => break,
            written = write.write_all(&buf) => written,
        };
        if let Err(e) = written {
            debug!(error = %e, "write failed; the client is gone");
            break;
        }
        buf.clear();
        if buf.capacity() > WRITE_BATCH_BYTES {
            buf = Vec::new();
        }
    }
    // Tell the reader (and subscription forwarders) that nothing more can be delivered.
    closing.cancel();
    let _ = write.shutdown().await;
}

fn append(buf: &mut Vec<u8>, message: &RawValue) {
    buf.extend_from_slice(message.get().as_bytes());
    buf.push(b'\n');
}

/// Sends one error line to a connection that will not be served, then closes it.
///
/// Whatever the peer sends meanwhile is read and dropped until it closes (for at most a second):
/// closing with unread input would reset the connection, and the peer could fail on its first
/// write before it ever reads why it was refused.
pub(crate) async fn refuse(stream: UnixStream, err: jsonrpsee::types::ErrorObjectOwned) {
    let json = jsonrpsee::core::server::MethodResponse::error(jsonrpsee::types::Id::Null, err).into_json();
    let mut line = json.get().as_bytes().to_vec();
    line.push(b'\n');
    let mut stream = stream;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        stream.write_all(&line).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}
