//! A one-line progress indicator on stderr for long commands, shown only when
//! stderr is a terminal so that scripts and logs stay clean.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Redraws `label: done/total (percent, rate)` in place, at most ten times a
/// second, and clears it when finished or dropped.
#[derive(Debug)]
pub struct Progress {
    label: &'static str,
    total: u64,
    started: Instant,
    last_drawn: Option<Instant>,
    visible: bool,
}

impl Progress {
    /// A progress line for `total` units of work; drawn only if stderr is a
    /// terminal.
    pub fn new(label: &'static str, total: u64) -> Progress {
        Progress {
            label,
            total,
            started: Instant::now(),
            last_drawn: None,
            visible: std::io::stderr().is_terminal() && !crate::output::quiet(),
        }
    }

    /// Reports that `done` units are finished.
    pub fn update(&mut self, done: u64) {
        if !self.visible {
            return;
        }
        let now = Instant::now();
        let due = self
            .last_drawn
            .is_none_or(|last| now.duration_since(last) >= Duration::from_millis(100));
        if !due && done < self.total {
            return;
        }
        self.last_drawn = Some(now);
        let percent = if self.total == 0 {
            100.0
        } else {
            done as f64 * 100.0 / self.total as f64
        };
        let seconds = now.duration_since(self.started).as_secs_f64();
        let rate = if seconds > 0.0 {
            done as f64 / seconds
        } else {
            0.0
        };
        // `\r` and "erase to end of line": redraw in place.
        let _ = write!(
            std::io::stderr().lock(),
            "\r{}: {done}/{} ({percent:.1}%, {rate:.0}/s)\x1b[K",
            self.label,
            self.total
        );
    }

    /// Clears the line.
    pub fn finish(&mut self) {
        if self.visible && self.last_drawn.is_some() {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
        }
        self.visible = false;
    }
}

/// Shows the progress of work that counts what it has done into `done`
/// (from other threads) until `finished` is set: polled ten times a second,
/// and only drawn once the work has taken half a second, so that quick
/// commands never flash a line.
pub fn watch(label: &'static str, total: u64, done: &AtomicU64, finished: &AtomicBool) {
    let mut progress = Progress::new(label, total);
    if !progress.visible {
        return;
    }
    let started = Instant::now();
    while !finished.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() >= Duration::from_millis(500) {
            progress.update(done.load(Ordering::Relaxed));
        }
    }
    progress.finish();
}

/// A reader that adds the bytes it reads to a counter, so that the progress
/// of reading a large input can be shown.
#[derive(Debug)]
pub struct Counted<'a, R> {
    inner: R,
    count: &'a AtomicU64,
}

impl<'a, R> Counted<'a, R> {
    pub fn new(inner: R, count: &'a AtomicU64) -> Counted<'a, R> {
        Counted { inner, count }
    }
}

impl<R: std::io::Read> std::io::Read for Counted<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.count.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
