//! The request log: one record per Kendra call, so tests can assert batch sizes, concurrency,
//! retries and call counts. Kept outside the handler's critical path as much as possible: a
//! record is appended once when the call is parsed and its outcome filled in when it is
//! answered.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// One Kendra call as the emulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The operation named by `X-Amz-Target` (`BatchGetDocumentStatus`, ...); for an unknown
    /// target, whatever followed the service prefix (or the whole header).
    pub operation: String,
    /// `IndexId` (or `Id` for the index operations) when the body carried one.
    pub index_id: Option<String>,
    /// The document ids of the batch, in request order.
    pub document_ids: Vec<String>,
    /// Arrival, since server start.
    pub arrived: Duration,
    /// Calls being handled at arrival, including this one.
    pub in_flight: usize,
    /// The error code answered, `None` when the answer was 200.
    pub error: Option<String>,
}

/// The log keeps the latest this many calls, so a long-running emulator (the demo, a
/// benchmark) does not grow without bound; tests are far below it.
pub const MAX_RECORDS: usize = 100_000;

#[derive(Debug, Default)]
struct Records {
    /// Sequence number of `records[0]`, so a call that finishes after a `clear` (or after its
    /// record was evicted) does not write into someone else's record.
    base: u64,
    records: VecDeque<RequestRecord>,
}

/// The shared log and the in-flight counter.
#[derive(Debug)]
pub(crate) struct RequestLog {
    started: Instant,
    in_flight: AtomicUsize,
    records: Mutex<Records>,
}

/// Counts a call as in flight until dropped.
#[derive(Debug)]
pub(crate) struct InFlight<'a> {
    log: &'a RequestLog,
    /// Arrival, since server start.
    pub arrived: Duration,
    /// Calls in flight at arrival, including this one.
    pub count: usize,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.log.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where a pushed record lives, to fill in its outcome.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot(u64);

/// The error recorded for a call whose client went away before it was answered (the handler
/// is dropped mid-call, e.g. during added latency), so it is not mistaken for a success.
pub const CLIENT_CLOSED: &str = "ClientClosedRequest";

/// A pushed record awaiting its outcome; dropped unfinished, it records [`CLIENT_CLOSED`].
#[derive(Debug)]
pub(crate) struct Pending<'a> {
    log: &'a RequestLog,
    slot: Slot,
    done: bool,
}

impl Pending<'_> {
    pub(crate) fn finish(mut self, error: Option<&str>) {
        self.done = true;
        self.log.finish(self.slot, error);
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.log.finish(self.slot, Some(CLIENT_CLOSED));
        }
    }
}

impl RequestLog {
    pub(crate) fn new(started: Instant) -> Self {
        Self {
            started,
            in_flight: AtomicUsize::new(0),
            records: Mutex::new(Records::default()),
        }
    }

    /// Marks a call as arrived.
    pub(crate) fn arrive(&self) -> InFlight<'_> {
        let count = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        InFlight {
            log: self,
            arrived: Instant::now().saturating_duration_since(self.started),
            count,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        // A panic while holding the lock cannot leave the Vec half-written; keep serving.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a record whose outcome is filled in by [`Pending::finish`].
    pub(crate) fn begin(&self, record: RequestRecord) -> Pending<'_> {
        Pending {
            log: self,
            slot: self.push(record),
            done: false,
        }
    }

    pub(crate) fn push(&self, record: RequestRecord) -> Slot {
        let mut r = self.lock();
        if r.records.len() >= MAX_RECORDS {
            r.records.pop_front();
            r.base += 1;
        }
        let seq = r.base + r.records.len() as u64;
        r.records.push_back(record);
        Slot(seq)
    }

    pub(crate) fn finish(&self, slot: Slot, error: Option<&str>) {
        if let Some(code) = error {
            let mut r = self.lock();
            if let Some(i) = slot.0.checked_sub(r.base)
                && let Some(rec) = usize::try_from(i).ok().and_then(|i| r.records.get_mut(i))
            {
                rec.error = Some(code.to_owned());
            }
        }
    }

    /// The records in arrival order.
    pub(crate) fn snapshot(&self) -> Vec<RequestRecord> {
        let mut v: Vec<RequestRecord> = self.lock().records.iter().cloned().collect();
        // Records are pushed after the body is read, which may reorder concurrent arrivals.
        v.sort_by_key(|r| r.arrived);
        v
    }

    pub(crate) fn clear(&self) {
        let mut r = self.lock();
        r.base += r.records.len() as u64;
        r.records.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(op: &str) -> RequestRecord {
        RequestRecord {
            operation: op.into(),
            index_id: None,
            document_ids: vec![],
            arrived: Duration::ZERO,
            in_flight: 1,
            error: None,
        }
    }

    #[test]
    fn the_log_keeps_the_latest_records() {
        let log = RequestLog::new(Instant::now());
        let first = log.push(record("first"));
        for _ in 1..MAX_RECORDS {
            log.push(record("x"));
        }
        let last = log.push(record("last"));
        log.finish(first, Some("ThrottlingException"));
        log.finish(last, Some("InternalServerException"));
        let snap = log.snapshot();
        assert_eq!(snap.len(), MAX_RECORDS);
        assert_eq!(snap[0].operation, "x");
        assert!(
            snap.iter()
                .all(|r| r.error.as_deref() != Some("ThrottlingException"))
        );
        assert_eq!(
            snap[MAX_RECORDS - 1].error.as_deref(),
            Some("InternalServerException")
        );
    }

    #[test]
    fn an_unfinished_call_is_recorded_as_client_closed() {
        let log = RequestLog::new(Instant::now());
        drop(log.begin(record("abandoned")));
        log.begin(record("answered")).finish(None);
        let snap = log.snapshot();
        assert_eq!(snap[0].error.as_deref(), Some(CLIENT_CLOSED));
        assert_eq!(snap[1].error, None);
    }

    #[test]
    fn in_flight_counts_and_releases() {
        let log = RequestLog::new(Instant::now());
        let a = log.arrive();
        let b = log.arrive();
        assert_eq!((a.count, b.count), (1, 2));
        drop(a);
        let c = log.arrive();
        assert_eq!(c.count, 2);
    }

    #[test]
    fn finish_after_clear_does_not_touch_new_records() {
        let log = RequestLog::new(Instant::now());
        let old = log.push(record("A"));
        log.clear();
        let new = log.push(record("B"));
        log.finish(old, Some("ThrottlingException"));
        assert_eq!(log.snapshot()[0].error, None);
        log.finish(new, Some("InternalServerException"));
        let snap = log.snapshot();
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].operation, "B");
        assert_eq!(snap[0].error.as_deref(), Some("InternalServerException"));
    }
}
