//! Integration tests of the archive with real components: a private `redis-server`, real HTTP
//! servers on 127.0.0.1, real files. One module per topic.

#![allow(clippy::unwrap_used)]

mod announce;
mod blocklist;
mod common;
mod failures;
mod fileserver;
mod heartbeat;
mod pipeline;
mod reconcile;
mod stream;
