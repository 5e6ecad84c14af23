//! Logging to `.steward/daemon/daemon.log`.
//!
//! The daemon logs through `tracing` into a file rotated by size ([`rotate`]), with plain text
//! lines (no colours: the file is read with `steward daemon logs`, grep and editors), RFC 3339
//! UTC timestamps, targets and fields. The level filter sits behind a reload handle so that a
//! config reload changes level and rotation limits without a restart. The client reads the
//! files back with [`tail`].

pub mod rotate;
pub mod tail;

use std::io;
use std::panic;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Once;

use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::time::ChronoUtc;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Registry, fmt, reload};

use self::rotate::{RotatingWriter, SizeRotatingFile};

/// Where and how much the daemon logs; from `[daemon].log` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub path: PathBuf,
    /// The active file is rotated before it would grow past this (`max_size_mb` * 2^20).
    pub max_bytes: u64,
    /// Rotated files kept: `daemon.log.1` ... `daemon.log.{max_files}`.
    pub max_files: u32,
    /// A level (`info`) or an `EnvFilter` directive list (`info,steward::queue=debug`).
    pub level: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `source` already names the path.
    #[error("{source}; check that the directory exists and is writable by this user")]
    Open { path: PathBuf, source: io::Error },
    #[error(
        "invalid [daemon].log.level {level:?}: {reason}; use off, error, warn, info, debug, \
         trace or directives such as \"info,steward=debug\""
    )]
    Level { level: String, reason: String },
    #[error("cannot log to {}: a global logger is already installed in this process", path.display())]
    AlreadyInstalled { path: PathBuf },
    #[error("cannot change the log level of {}: the logger is gone", path.display())]
    Reload { path: PathBuf, source: reload::Error },
}

/// Changes the running logger; returned by the `init_*` functions.
#[derive(Debug, Clone)]
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, Registry>,
    writer: RotatingWriter,
}

impl LogHandle {
    /// Applies a reloaded configuration: level and rotation limits. An invalid level changes
    /// nothing. The path is fixed for the life of the process (it is derived from the project,
    /// not configured), so a different `settings.path` is ignored.
    pub fn apply(&self, settings: &LogSettings) -> Result<(), LogError> {
        let filter = parse_filter(settings)?;
        self.filter.reload(filter).map_err(|source| LogError::Reload { path: self.writer.path(), source })?;
        self.writer.set_limits(settings.max_bytes, settings.max_files);
        Ok(())
    }
}

/// Installs the process-wide subscriber of a detached daemon: the log file only.
pub fn init_daemon_logging(settings: &LogSettings) -> Result<LogHandle, LogError> {
    init_foreground_logging(settings, false)
}

/// Installs the process-wide subscriber of `daemon start --foreground`: the log file, and also
/// stderr when `also_stderr` (systemd hands stderr to journald).
pub fn init_foreground_logging(settings: &LogSettings, also_stderr: bool) -> Result<LogHandle, LogError> {
    let (subscriber, handle) = build_subscriber(settings, also_stderr)?;
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|_| LogError::AlreadyInstalled { path: settings.path.clone() })?;
    Ok(handle)
}

/// Records panics in the log before the previous hook runs: a detached daemon's stderr is
/// `/dev/null`, so otherwise a panic would leave no trace. Installing twice is harmless.
pub fn log_panics() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(a panic payload that is not a string)");
            let location = info
                .location()
                .map_or_else(|| "unknown".to_owned(), |l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
            let current = std::thread::current();
            let thread = current.name().unwrap_or("unnamed");
            // Captured only when RUST_BACKTRACE / RUST_LIB_BACKTRACE ask for it.
            let backtrace = std::backtrace::Backtrace::capture();
            if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
                tracing::error!(target: "panic", %location, thread, %backtrace, "panic: {message}");
            } else {
                tracing::error!(target: "panic", %location, thread, "panic: {message}");
            }
            previous(info);
        }));
    });
}

fn parse_filter(settings: &LogSettings) -> Result<EnvFilter, LogError> {
    let level = settings.level.trim();
    let invalid = |reason: String| LogError::Level { level: settings.level.clone(), reason };
    // EnvFilter reads a lone word as a target name, so a typo such as "inof" would silently
    // switch logging off; a single word must be a level.
    if !level.contains(['=', ',']) {
        LevelFilter::from_str(level).map_err(|e| invalid(e.to_string()))?;
    }
    EnvFilter::try_new(level).map_err(|e| invalid(e.to_string()))
}

fn build_subscriber(
    settings: &LogSettings,
    also_stderr: bool,
) -> Result<(impl tracing::Subscriber + Send + Sync + 'static, LogHandle), LogError> {
    let filter = parse_filter(settings)?;
    let file = SizeRotatingFile::open(&settings.path, settings.max_bytes, settings.max_files)
        .map_err(|source| LogError::Open { path: settings.path.clone(), source })?;
    let writer = RotatingWriter::new(file);
    let (filter_layer, filter_handle) = reload::Layer::new(filter);
    let file_layer =
        fmt::layer().with_ansi(false).with_timer(utc_timer()).with_target(true).with_writer(writer.clone());
    let stderr_layer = also_stderr
        .then(|| fmt::layer().with_ansi(false).with_timer(utc_timer()).with_target(true).with_writer(io::stderr));
    let subscriber = Registry::default().with(filter_layer).with(file_layer).with(stderr_layer);
    let handle = LogHandle { filter: filter_handle, writer };
    Ok((subscriber, handle))
}

/// Fixed-width RFC 3339 in UTC, so lines sort and align whatever the host's time zone.
fn utc_timer() -> ChronoUtc {
    ChronoUtc::new("%Y-%m-%dT%H:%M:%S%.6fZ".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    fn settings(path: &Path, level: &str) -> LogSettings {
        LogSettings { path: path.to_path_buf(), max_bytes: 1024 * 1024, max_files: 2, level: level.to_owned() }
    }

    #[test]
    fn writes_plain_lines_with_utc_timestamps_targets_and_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let (subscriber, _handle) = build_subscriber(&settings(&path, "info"), false).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "steward::queue", task_id = 7, "task started");
            tracing::debug!("not at info");
        });

        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line = lines[0];
        assert!(!line.contains('\x1b'), "colour codes in {line:?}");
        let timestamp = line.split(' ').next().unwrap();
        assert!(timestamp.ends_with('Z'), "{line}");
        chrono::DateTime::parse_from_rfc3339(timestamp).unwrap();
        assert!(line.contains("INFO"), "{line}");
        assert!(line.contains("steward::queue"), "{line}");
        assert!(line.contains("task started") && line.contains("task_id=7"), "{line}");
    }

    #[test]
    fn apply_changes_level_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let (subscriber, handle) = build_subscriber(&settings(&path, "warn"), false).unwrap();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("hidden at warn");
            let err = handle.apply(&settings(&path, "no such=level=x")).unwrap_err();
            assert!(matches!(err, LogError::Level { .. }), "{err}");
            tracing::info!("still hidden");

            let mut debug = settings(&path, "debug");
            debug.max_bytes = 1;
            debug.max_files = 1;
            handle.apply(&debug).unwrap();
            tracing::debug!("first at debug");
            tracing::debug!("second at debug");
        });

        let current = fs::read_to_string(&path).unwrap();
        let rotated = fs::read_to_string(rotate::numbered(&path, 1)).unwrap();
        assert!(rotated.contains("first at debug") && !rotated.contains("hidden"), "{rotated}");
        assert!(current.contains("second at debug"), "{current}");
        assert!(!rotate::numbered(&path, 2).exists());
    }

    #[test]
    fn errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("daemon.log");
        let err = build_subscriber(&settings(&path, "info"), false).err().unwrap();
        assert!(matches!(err, LogError::Open { .. }));
        assert!(err.to_string().contains("absent"), "{err}");

        let path = dir.path().join("daemon.log");
        let err = build_subscriber(&settings(&path, "loud"), false).err().unwrap();
        assert!(err.to_string().contains("\"loud\""), "{err}");
    }

    #[test]
    fn panics_are_logged_with_their_location() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let (subscriber, _handle) = build_subscriber(&settings(&path, "info"), false).unwrap();
        log_panics();
        log_panics();
        tracing::subscriber::with_default(subscriber, || {
            let result = panic::catch_unwind(|| panic!("boom {}", 42));
            assert!(result.is_err());
        });

        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("panic: boom 42").count(), 1, "{text}");
        assert!(text.contains("ERROR") && text.contains("src/logging/mod.rs:"), "{text}");
    }
}
