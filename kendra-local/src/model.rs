//! Indexes and the document lifecycle: what Kendra would report for each document at a given
//! moment. Pure state with no I/O, so the lifecycle rules are unit-tested without a server.
//!
//! A put document is `PROCESSING` until it is ready, then `INDEXED` (or `UPDATED` when it was
//! put over a document that had been put before and not deleted). A deleted document is
//! `PROCESSING` until the delete completes, then `NOT_FOUND`. "Ready" is either a moment in
//! time (delay + seeded jitter) or, with `indexing_checks`, a number of status observations,
//! which makes tests deterministic without waiting.

use crate::rng::SplitMix64;
use crate::simulate::{self, Rule};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// The settings of the lifecycle, taken from [`crate::Config`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Lifecycle {
    pub indexing_delay: Duration,
    pub delete_delay: Duration,
    pub delay_jitter: Duration,
    pub indexing_checks: Option<u32>,
}

/// When a pending put or delete completes.
#[derive(Debug, Clone, Copy)]
enum Ready {
    At(Instant),
    AfterChecks(u32),
}

impl Ready {
    /// Whether it has completed, as seen by one observation (which counts toward
    /// `AfterChecks`).
    fn observe(&mut self, now: Instant) -> bool {
        match self {
            Ready::At(t) => now >= *t,
            Ready::AfterChecks(0) => true,
            Ready::AfterChecks(n) => {
                *n -= 1;
                false
            }
        }
    }

    /// Whether it has completed, without counting as an observation.
    #[cfg(test)]
    fn peek(&self, now: Instant) -> bool {
        match self {
            Ready::At(t) => now >= *t,
            Ready::AfterChecks(n) => *n == 0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Doc {
    /// Put and not deleted since; `existed` when it replaced a live document.
    Put { existed: bool, ready: Ready },
    /// Deleted; `NOT_FOUND` once `gone` completes.
    Deleting { gone: Ready },
}

/// What one document looks like to an observer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Observed<'a> {
    /// A `DocumentStatusList` entry; failures carry FailureCode and FailureReason.
    Status {
        status: &'a str,
        failure: Option<(&'static str, String)>,
    },
    /// An `Errors[]` entry.
    Error { code: &'static str, message: String },
}

/// Index metadata, as DescribeIndex and ListIndices report it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IndexInfo {
    pub id: String,
    pub name: String,
    pub edition: String,
    pub created_at: f64,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub documents: usize,
}

#[derive(Debug)]
struct Index {
    seq: u64,
    name: String,
    edition: String,
    created_at: f64,
    description: Option<String>,
    role_arn: Option<String>,
    docs: HashMap<String, Doc>,
}

/// The edition reported when CreateIndex does not name one.
pub(crate) const DEFAULT_EDITION: &str = "DEVELOPER_EDITION";

/// The parameters of CreateIndex the emulator keeps.
#[derive(Debug, Default)]
pub(crate) struct NewIndex<'a> {
    pub name: &'a str,
    pub edition: Option<&'a str>,
    pub description: Option<&'a str>,
    pub role_arn: Option<&'a str>,
    pub client_token: Option<&'a str>,
}

/// All indexes and documents of one emulator.
#[derive(Debug)]
pub(crate) struct Store {
    lifecycle: Lifecycle,
    rng: SplitMix64,
    indexes: HashMap<String, Index>,
    client_tokens: HashMap<String, String>,
    next_seq: u64,
}

fn epoch_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d.as_millis() as f64) / 1000.0)
        .unwrap_or(0.0)
}

impl Store {
    pub(crate) fn new(lifecycle: Lifecycle, seed: u64) -> Self {
        Self {
            lifecycle,
            rng: SplitMix64::new(seed),
            indexes: HashMap::new(),
            client_tokens: HashMap::new(),
            next_seq: 0,
        }
    }

    fn insert_index(&mut self, id: String, new: &NewIndex<'_>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.indexes.insert(
            id,
            Index {
                seq,
                name: new.name.to_owned(),
                edition: new.edition.unwrap_or(DEFAULT_EDITION).to_owned(),
                created_at: epoch_seconds(),
                description: new.description.map(str::to_owned),
                role_arn: new.role_arn.map(str::to_owned),
                docs: HashMap::new(),
            },
        );
    }

    /// CreateIndex: a new seeded uuid-like id, or the earlier id for a repeated ClientToken
    /// (Kendra's idempotency).
    pub(crate) fn create_index(&mut self, new: &NewIndex<'_>) -> String {
        if let Some(token) = new.client_token
            && let Some(id) = self.client_tokens.get(token)
            && self.indexes.contains_key(id)
        {
            return id.clone();
        }
        let mut id = self.rng.uuid_like();
        while self.indexes.contains_key(&id) {
            id = self.rng.uuid_like();
        }
        self.insert_index(id.clone(), new);
        if let Some(token) = new.client_token {
            self.client_tokens.insert(token.to_owned(), id.clone());
        }
        id
    }

    /// Creates an index with a caller-chosen id (the `--index` flag, the library); a no-op
    /// when it exists.
    pub(crate) fn ensure_index(&mut self, id: &str) {
        if !self.indexes.contains_key(id) {
            self.insert_index(
                id.to_owned(),
                &NewIndex {
                    name: "kendra-local",
                    ..NewIndex::default()
                },
            );
        }
    }

    pub(crate) fn has_index(&self, id: &str) -> bool {
        self.indexes.contains_key(id)
    }

    fn info(id: &str, index: &Index) -> IndexInfo {
        IndexInfo {
            id: id.to_owned(),
            name: index.name.clone(),
            edition: index.edition.clone(),
            created_at: index.created_at,
            description: index.description.clone(),
            role_arn: index.role_arn.clone(),
            documents: index.docs.len(),
        }
    }

    pub(crate) fn describe_index(&self, id: &str) -> Option<IndexInfo> {
        self.indexes.get(id).map(|index| Self::info(id, index))
    }

    /// Every index, oldest first (a stable order makes ListIndices pagination well defined).
    pub(crate) fn list_indexes(&self) -> Vec<IndexInfo> {
        let mut all: Vec<(&String, &Index)> = self.indexes.iter().collect();
        all.sort_by_key(|(_, index)| index.seq);
        all.into_iter()
            .map(|(id, index)| Self::info(id, index))
            .collect()
    }

    /// DeleteIndex; false when it does not exist. Its documents go with it.
    pub(crate) fn delete_index(&mut self, id: &str) -> bool {
        self.indexes.remove(id).is_some()
    }

    fn ready_after(&mut self, delay: Duration, now: Instant) -> Ready {
        match self.lifecycle.indexing_checks {
            Some(n) => Ready::AfterChecks(n),
            None => Ready::At(now + delay + self.rng.jitter(self.lifecycle.delay_jitter)),
        }
    }

    /// BatchPutDocument of accepted documents; `None` when the index does not exist.
    pub(crate) fn put<'a>(
        &mut self,
        index_id: &str,
        ids: impl IntoIterator<Item = &'a str>,
        now: Instant,
    ) -> Option<()> {
        if !self.indexes.contains_key(index_id) {
            return None;
        }
        for id in ids {
            let ready = self.ready_after(self.lifecycle.indexing_delay, now);
            let docs = &mut self.indexes.get_mut(index_id)?.docs;
            let existed = matches!(docs.get(id), Some(Doc::Put { .. }));
            docs.insert(id.to_owned(), Doc::Put { existed, ready });
        }
        Some(())
    }

    /// BatchDeleteDocument of accepted ids; `None` when the index does not exist. Deleting an
    /// unknown document is accepted (Kendra deletes asynchronously and does not check).
    pub(crate) fn delete<'a>(
        &mut self,
        index_id: &str,
        ids: impl IntoIterator<Item = &'a str>,
        now: Instant,
    ) -> Option<()> {
        if !self.indexes.contains_key(index_id) {
            return None;
        }
        for id in ids {
            let gone = self.ready_after(self.lifecycle.delete_delay, now);
            let docs = &mut self.indexes.get_mut(index_id)?.docs;
            match docs.get_mut(id) {
                Some(doc @ Doc::Put { .. }) => *doc = Doc::Deleting { gone },
                // A second delete does not restart the first one.
                Some(Doc::Deleting { .. }) | None => {}
            }
        }
        Some(())
    }

    /// BatchGetDocumentStatus for one document: each call is one observation (which advances
    /// `indexing_checks` counters). `None` when the index does not exist.
    pub(crate) fn observe<'a>(
        &mut self,
        index_id: &str,
        id: &'a str,
        now: Instant,
    ) -> Option<Observed<'a>> {
        let index = self.indexes.get_mut(index_id)?;
        let rule = simulate::rule(id);
        if let Some((code, message)) = simulate::document_error(rule, id)
            && matches!(rule, Rule::ErrorInternal | Rule::ErrorInvalid)
        {
            return Some(Observed::Error { code, message });
        }
        let status = |status: &'a str| Observed::Status {
            status,
            failure: None,
        };
        let failed = |status: &'a str| Observed::Status {
            status,
            failure: Some((
                simulate::SIMULATED_FAILURE_CODE,
                simulate::failure_reason(id),
            )),
        };
        let Some(doc) = index.docs.get_mut(id) else {
            return Some(status("NOT_FOUND"));
        };
        Some(match doc {
            Doc::Deleting { gone } => {
                if gone.observe(now) {
                    index.docs.remove(id);
                    status("NOT_FOUND")
                } else {
                    status("PROCESSING")
                }
            }
            Doc::Put { existed, ready } => {
                let existed = *existed;
                if matches!(rule, Rule::Stuck) || !ready.observe(now) {
                    status("PROCESSING")
                } else {
                    match rule {
                        Rule::Fail => failed("FAILED"),
                        Rule::UpdateFail if existed => failed("UPDATE_FAILED"),
                        Rule::UpdateFail => failed("FAILED"),
                        Rule::Status(s) => status(s),
                        _ if existed => status("UPDATED"),
                        _ => status("INDEXED"),
                    }
                }
            }
        })
    }

    /// Whether a document is live (put and not deleted, or its delete still pending), without
    /// counting as an observation. For tests and the admin interface.
    #[cfg(test)]
    fn is_live(&self, index_id: &str, id: &str, now: Instant) -> bool {
        match self.indexes.get(index_id).and_then(|i| i.docs.get(id)) {
            Some(Doc::Put { .. }) => true,
            Some(Doc::Deleting { gone }) => !gone.peek(now),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IX: &str = "0123456789abcdef0123456789abcdef0123";

    fn store(lifecycle: Lifecycle) -> Store {
        let mut s = Store::new(lifecycle, 1);
        s.ensure_index(IX);
        s
    }

    fn status(s: &mut Store, id: &str, now: Instant) -> String {
        match s.observe(IX, id, now).unwrap() {
            Observed::Status { status, .. } => status.to_owned(),
            Observed::Error { code, .. } => format!("error:{code}"),
        }
    }

    #[test]
    fn checks_drive_put_update_and_delete() {
        let mut s = store(Lifecycle {
            indexing_checks: Some(2),
            ..Lifecycle::default()
        });
        let now = Instant::now();
        assert_eq!(status(&mut s, "a", now), "NOT_FOUND");
        s.put(IX, ["a"], now).unwrap();
        assert_eq!(status(&mut s, "a", now), "PROCESSING");
        assert_eq!(status(&mut s, "a", now), "PROCESSING");
        assert_eq!(status(&mut s, "a", now), "INDEXED");
        assert_eq!(status(&mut s, "a", now), "INDEXED");
        s.put(IX, ["a"], now).unwrap();
        assert_eq!(status(&mut s, "a", now), "PROCESSING");
        assert_eq!(status(&mut s, "a", now), "PROCESSING");
        assert_eq!(status(&mut s, "a", now), "UPDATED");
        s.delete(IX, ["a"], now).unwrap();
        assert!(s.is_live(IX, "a", now));
        assert_eq!(status(&mut s, "a", now), "PROCESSING");
        assert_eq!(status(&mut s, "a", now), "PROCESSING");
        assert_eq!(status(&mut s, "a", now), "NOT_FOUND");
        assert!(!s.is_live(IX, "a", now));
        // Put again after the delete: new, so INDEXED rather than UPDATED.
        s.put(IX, ["a"], now).unwrap();
        for _ in 0..2 {
            status(&mut s, "a", now);
        }
        assert_eq!(status(&mut s, "a", now), "INDEXED");
    }

    #[test]
    fn time_drives_the_lifecycle() {
        let mut s = store(Lifecycle {
            indexing_delay: Duration::from_secs(10),
            delete_delay: Duration::from_secs(5),
            delay_jitter: Duration::from_secs(2),
            indexing_checks: None,
        });
        let t0 = Instant::now();
        s.put(IX, ["a"], t0).unwrap();
        assert_eq!(
            status(&mut s, "a", t0 + Duration::from_secs(9)),
            "PROCESSING"
        );
        assert_eq!(status(&mut s, "a", t0 + Duration::from_secs(13)), "INDEXED");
        let t1 = t0 + Duration::from_secs(20);
        s.delete(IX, ["a"], t1).unwrap();
        assert_eq!(
            status(&mut s, "a", t1 + Duration::from_secs(4)),
            "PROCESSING"
        );
        assert_eq!(
            status(&mut s, "a", t1 + Duration::from_secs(8)),
            "NOT_FOUND"
        );
    }

    #[test]
    fn jitter_is_seeded() {
        let lc = Lifecycle {
            indexing_delay: Duration::from_secs(1),
            delay_jitter: Duration::from_secs(100),
            ..Lifecycle::default()
        };
        let t0 = Instant::now();
        let ready_times = |seed| {
            let mut s = Store::new(lc.clone(), seed);
            s.ensure_index(IX);
            let ids: Vec<String> = (0..20).map(|i| format!("d{i}")).collect();
            s.put(IX, ids.iter().map(String::as_str), t0).unwrap();
            // First second at which each document is INDEXED.
            ids.iter()
                .map(|id| {
                    (0..=101u64)
                        .find(|sec| status(&mut s, id, t0 + Duration::from_secs(*sec)) == "INDEXED")
                        .unwrap()
                })
                .collect::<Vec<_>>()
        };
        let a = ready_times(5);
        assert_eq!(a, ready_times(5));
        assert_ne!(a, ready_times(6));
        assert!(a.iter().all(|s| (1..=101).contains(s)));
        assert!(
            a.iter().any(|s| *s > 2),
            "jitter spreads documents out: {a:?}"
        );
    }

    #[test]
    fn simulated_outcomes() {
        let mut s = store(Lifecycle {
            indexing_checks: Some(0),
            ..Lifecycle::default()
        });
        let now = Instant::now();
        let ids = [
            "fail-1",
            "update-fail-1",
            "stuck-1",
            "status-WEIRD_NEW-x",
            "error-internal-1",
            "error-invalid-1",
        ];
        s.put(IX, ids, now).unwrap();
        match s.observe(IX, "fail-1", now).unwrap() {
            Observed::Status { status, failure } => {
                assert_eq!(status, "FAILED");
                let (code, reason) = failure.unwrap();
                assert_eq!(code, "KendraLocal.SimulatedFailure");
                assert_eq!(reason, "simulated failure for document fail-1");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(status(&mut s, "update-fail-1", now), "FAILED");
        s.put(IX, ["update-fail-1"], now).unwrap();
        assert_eq!(status(&mut s, "update-fail-1", now), "UPDATE_FAILED");
        assert_eq!(status(&mut s, "stuck-1", now), "PROCESSING");
        assert_eq!(status(&mut s, "status-WEIRD_NEW-x", now), "WEIRD_NEW");
        assert_eq!(
            status(&mut s, "error-internal-1", now),
            "error:InternalError"
        );
        assert_eq!(
            status(&mut s, "error-invalid-1", now),
            "error:InvalidRequest"
        );
        // Never put: still NOT_FOUND for the status rules, errors for the error rules.
        assert_eq!(status(&mut s, "fail-2", now), "NOT_FOUND");
        assert_eq!(
            status(&mut s, "error-invalid-2", now),
            "error:InvalidRequest"
        );
    }

    #[test]
    fn indexes_create_describe_list_delete() {
        let mut s = Store::new(Lifecycle::default(), 3);
        assert!(s.observe(IX, "a", Instant::now()).is_none());
        assert!(s.put(IX, ["a"], Instant::now()).is_none());
        let id = s.create_index(&NewIndex {
            name: "one",
            client_token: Some("tok"),
            ..NewIndex::default()
        });
        assert_eq!(id.len(), 36);
        let again = s.create_index(&NewIndex {
            name: "one",
            client_token: Some("tok"),
            ..NewIndex::default()
        });
        assert_eq!(id, again, "ClientToken makes CreateIndex idempotent");
        s.ensure_index(IX);
        let list = s.list_indexes();
        assert_eq!(
            list.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            [id.as_str(), IX]
        );
        let info = s.describe_index(&id).unwrap();
        assert_eq!(info.name, "one");
        assert_eq!(info.edition, DEFAULT_EDITION);
        assert!(info.created_at > 1.6e9);
        assert!(s.delete_index(&id));
        assert!(!s.delete_index(&id));
        assert!(s.describe_index(&id).is_none());
    }
}
