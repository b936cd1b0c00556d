//! `tomoe-archive`: the real-time data archive of stacked images, and its sending side.
//!
//! Receiving side (`tomoe archive run`, [`daemon`]): notices arrive over Redis (pub/sub, or a
//! stream with a consumer group); each announced file is fetched over HTTP ([`fetch`]) with
//! timeouts, bounded concurrency, retries with backoff and Range resume; verified (size, FITS
//! structure, `DATASUM`/`CHECKSUM`, SHA-256 when announced); moved atomically into
//! `<archive>/<year>/<night>/`; and recorded exactly once in the observation log. Failures go
//! to a quarantine folder with a reason. The file server's listing is reconciled on start and
//! periodically, so nothing announced while the daemon was away is lost; a heartbeat monitor
//! reports a silent source.
//!
//! Sending side: [`fileserver`] (`tomoe files serve`: directory listing in HTML and JSON, GET
//! with Range, HEAD) and [`announce`] (`tomoe files announce`: watches a directory, publishes
//! one message per completed file plus a heartbeat every 5 s). [`message`] defines the wire
//! format both sides share.

pub mod announce;
pub mod config;
pub mod daemon;
pub mod fetch;
pub mod fileserver;
pub mod message;
pub mod status;

pub use config::ArchiveConfig;
pub use daemon::run;
