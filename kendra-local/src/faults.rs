//! Fault injection for testing clients: added latency, a whole-server request-rate cap that
//! answers `ThrottlingException`, random throttling and `InternalServerException` at seeded
//! rates, and scripted "fail the next n calls" faults: an error, or a call that is never
//! answered (to test clients' per-attempt timeouts).
//!
//! Faults apply to a chosen set of operations (by default only `BatchGetDocumentStatus`) so a
//! test can still put and delete documents while the status calls misbehave.

use crate::log::CLIENT_CLOSED;
use crate::protocol::{ApiError, ErrorCode, Operation};
use crate::rng::SplitMix64;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// Fault settings. The default injects nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Added to every affected call before it is answered.
    pub latency: Duration,
    /// Uniform extra latency in `0..=latency_jitter`, seeded.
    pub latency_jitter: Duration,
    /// Calls above this rate (per second, whole server, token bucket with a one-second burst)
    /// get `ThrottlingException`. `Some(r)` with `r <= 0` throttles every affected call.
    pub max_rps: Option<f64>,
    /// Probability (0.0..=1.0) that an affected call gets `InternalServerException` (HTTP 500).
    pub internal_error_rate: f64,
    /// Probability (0.0..=1.0) that an affected call gets `ThrottlingException`.
    pub throttle_rate: f64,
    /// Seed of the latency jitter and the random errors.
    pub seed: u64,
    /// Operations these faults apply to, by name (`BatchGetDocumentStatus`, ...; `*` = all);
    /// empty = `BatchGetDocumentStatus` only (so tests can still put/delete).
    pub operations: Vec<String>,
}

/// Why fault settings were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultsError {
    #[error("{field} must be between 0.0 and 1.0, got {value}")]
    Rate { field: &'static str, value: f64 },
    #[error("unknown operation {0:?} in faults operations")]
    UnknownOperation(String),
    #[error("unknown error {0:?}; expected one of {1}")]
    UnknownError(String, &'static str),
}

impl Faults {
    /// Checks the rates and operation names; the library clamps instead, the flags and the
    /// admin interface report the problem.
    pub fn validate(&self) -> Result<(), FaultsError> {
        for (field, value) in [
            ("internal_error_rate", self.internal_error_rate),
            ("throttle_rate", self.throttle_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(FaultsError::Rate { field, value });
            }
        }
        for name in &self.operations {
            if name != "*" && Operation::from_name(name).is_none() {
                return Err(FaultsError::UnknownOperation(name.clone()));
            }
        }
        Ok(())
    }

    fn operation_mask(&self) -> u8 {
        if self.operations.is_empty() {
            return bit(Operation::BatchGetDocumentStatus);
        }
        self.operations.iter().fold(0, |mask, name| {
            if name == "*" {
                u8::MAX
            } else {
                mask | Operation::from_name(name).map_or(0, bit)
            }
        })
    }
}

fn bit(op: Operation) -> u8 {
    1 << (op as u8)
}

/// What a scripted fault does to a call: answer with an error, or never answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    Throttling,
    InternalServer,
    AccessDenied,
    ResourceNotFound,
    Validation,
    Conflict,
    /// No answer: the call is held until the client gives up (its connection closes, and the
    /// request log records [`CLIENT_CLOSED`]) or the server stops (then it answers
    /// `InternalServerException`). Other calls and connections are served meanwhile.
    Hang,
}

const FAULT_KINDS: &str = "ThrottlingException, InternalServerException, AccessDeniedException, ResourceNotFoundException, ValidationException, ConflictException, Hang";

impl FaultKind {
    /// The error code the request log records for it: the code answered, or
    /// [`CLIENT_CLOSED`] for [`FaultKind::Hang`], which only ends when the client gives up.
    pub fn code(self) -> &'static str {
        self.error_code().map_or(CLIENT_CLOSED, ErrorCode::as_str)
    }

    fn error_code(self) -> Option<ErrorCode> {
        Some(match self {
            FaultKind::Throttling => ErrorCode::Throttling,
            FaultKind::InternalServer => ErrorCode::InternalServer,
            FaultKind::AccessDenied => ErrorCode::AccessDenied,
            FaultKind::ResourceNotFound => ErrorCode::ResourceNotFound,
            FaultKind::Validation => ErrorCode::Validation,
            FaultKind::Conflict => ErrorCode::Conflict,
            FaultKind::Hang => return None,
        })
    }

    /// Parses an error code such as `ThrottlingException` (also without the `Exception`
    /// suffix), or `Hang`.
    pub fn from_code(code: &str) -> Result<FaultKind, FaultsError> {
        if code == "Hang" {
            return Ok(FaultKind::Hang);
        }
        let full = if code.ends_with("Exception") {
            code.to_owned()
        } else {
            format!("{code}Exception")
        };
        match ErrorCode::parse(&full) {
            Some(ErrorCode::Throttling) => Ok(FaultKind::Throttling),
            Some(ErrorCode::InternalServer) => Ok(FaultKind::InternalServer),
            Some(ErrorCode::AccessDenied) => Ok(FaultKind::AccessDenied),
            Some(ErrorCode::ResourceNotFound) => Ok(FaultKind::ResourceNotFound),
            Some(ErrorCode::Validation) => Ok(FaultKind::Validation),
            Some(ErrorCode::Conflict) => Ok(FaultKind::Conflict),
            _ => Err(FaultsError::UnknownError(code.to_owned(), FAULT_KINDS)),
        }
    }

    /// What this fault does to a call, `why` being the reason its error message gives.
    fn inject(self, why: &str) -> Injected {
        let message = match self {
            FaultKind::Throttling => format!("Rate exceeded ({why})"),
            FaultKind::InternalServer => format!("Internal server error ({why})"),
            FaultKind::AccessDenied => format!("Access denied ({why})"),
            FaultKind::ResourceNotFound => format!("Resource not found ({why})"),
            FaultKind::Validation => format!("Validation failed ({why})"),
            FaultKind::Conflict => format!("Conflicting operation in progress ({why})"),
            FaultKind::Hang => return Injected::Hang,
        };
        self.error_code().map_or(Injected::Hang, |code| {
            Injected::Error(ApiError::new(code, message))
        })
    }
}

#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64, now: Instant) -> Self {
        let capacity = rate.max(1.0);
        Self {
            rate,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    fn try_take(&mut self, now: Instant) -> bool {
        if self.rate <= 0.0 || self.rate.is_nan() {
            return false;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct Scripted {
    remaining: u32,
    kind: FaultKind,
    operation: Operation,
}

/// What a fault does instead of the operation.
#[derive(Debug, PartialEq)]
pub(crate) enum Injected {
    /// Answer with this error.
    Error(ApiError),
    /// Never answer (see [`FaultKind::Hang`]).
    Hang,
}

/// What to do with one call.
#[derive(Debug, PartialEq)]
pub(crate) struct Decision {
    /// Wait this long before answering.
    pub latency: Duration,
    /// Do this instead of handling the call.
    pub fault: Option<Injected>,
}

/// The live fault state of a server.
#[derive(Debug)]
pub(crate) struct FaultState {
    faults: Faults,
    mask: u8,
    rng: SplitMix64,
    bucket: Option<TokenBucket>,
    scripted: VecDeque<Scripted>,
}

impl FaultState {
    pub(crate) fn new(faults: Faults, now: Instant) -> Self {
        let mut state = Self {
            faults: Faults::default(),
            mask: 0,
            rng: SplitMix64::new(0),
            bucket: None,
            scripted: VecDeque::new(),
        };
        state.set(faults, now);
        state
    }

    /// Replaces the settings (and re-seeds, refills the rate bucket); scripted faults stay.
    pub(crate) fn set(&mut self, mut faults: Faults, now: Instant) {
        faults.internal_error_rate = clamp_rate(faults.internal_error_rate);
        faults.throttle_rate = clamp_rate(faults.throttle_rate);
        self.mask = faults.operation_mask();
        self.rng = SplitMix64::new(faults.seed);
        self.bucket = faults.max_rps.map(|r| TokenBucket::new(r, now));
        self.faults = faults;
    }

    pub(crate) fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Queues `n` scripted errors for `operation`, answered before any other fault.
    pub(crate) fn fail_next(&mut self, n: u32, kind: FaultKind, operation: Operation) {
        if n > 0 {
            self.scripted.push_back(Scripted {
                remaining: n,
                kind,
                operation,
            });
        }
    }

    /// Decides the fate of one call of `op` arriving at `now`.
    pub(crate) fn decide(&mut self, op: Operation, now: Instant) -> Decision {
        if let Some(pos) = self.scripted.iter().position(|s| s.operation == op) {
            let kind = match self.scripted.get_mut(pos) {
                Some(s) => {
                    s.remaining -= 1;
                    s.kind
                }
                None => FaultKind::InternalServer,
            };
            if self.scripted.get(pos).is_some_and(|s| s.remaining == 0) {
                self.scripted.remove(pos);
            }
            return Decision {
                latency: Duration::ZERO,
                fault: Some(kind.inject("scripted by kendra-local fail_next")),
            };
        }
        if self.mask & bit(op) == 0 {
            return Decision {
                latency: Duration::ZERO,
                fault: None,
            };
        }
        let latency = self.faults.latency + self.rng.jitter(self.faults.latency_jitter);
        let fault = if self.bucket.as_mut().is_some_and(|b| !b.try_take(now)) {
            Some(FaultKind::Throttling.inject("kendra-local max_rps exceeded"))
        } else if self.rng.chance(self.faults.throttle_rate) {
            Some(FaultKind::Throttling.inject("simulated by kendra-local throttle_rate"))
        } else if self.rng.chance(self.faults.internal_error_rate) {
            Some(FaultKind::InternalServer.inject("simulated by kendra-local internal_error_rate"))
        } else {
            None
        };
        Decision { latency, fault }
    }
}

fn clamp_rate(r: f64) -> f64 {
    if r.is_nan() { 0.0 } else { r.clamp(0.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BGDS: Operation = Operation::BatchGetDocumentStatus;

    fn codes(
        state: &mut FaultState,
        op: Operation,
        n: usize,
        now: Instant,
    ) -> Vec<Option<ErrorCode>> {
        (0..n)
            .map(|_| match state.decide(op, now).fault {
                Some(Injected::Error(e)) => Some(e.code),
                Some(Injected::Hang) => panic!("no hang expected"),
                None => None,
            })
            .collect()
    }

    #[test]
    fn default_injects_nothing() {
        let now = Instant::now();
        let mut s = FaultState::new(Faults::default(), now);
        for op in Operation::ALL {
            assert_eq!(
                s.decide(op, now),
                Decision {
                    latency: Duration::ZERO,
                    fault: None
                }
            );
        }
    }

    #[test]
    fn scripted_faults_come_first_and_run_out() {
        let now = Instant::now();
        let mut s = FaultState::new(Faults::default(), now);
        s.fail_next(2, FaultKind::Throttling, BGDS);
        s.fail_next(1, FaultKind::ResourceNotFound, BGDS);
        assert_eq!(codes(&mut s, Operation::BatchPutDocument, 1, now), [None]);
        assert_eq!(
            codes(&mut s, BGDS, 4, now),
            [
                Some(ErrorCode::Throttling),
                Some(ErrorCode::Throttling),
                Some(ErrorCode::ResourceNotFound),
                None
            ]
        );
    }

    #[test]
    fn scripted_hangs_hold_the_next_calls_then_run_out() {
        let now = Instant::now();
        let mut s = FaultState::new(Faults::default(), now);
        s.fail_next(2, FaultKind::Hang, BGDS);
        s.fail_next(1, FaultKind::Throttling, BGDS);
        assert_eq!(s.decide(Operation::BatchPutDocument, now).fault, None);
        assert_eq!(s.decide(BGDS, now).fault, Some(Injected::Hang));
        assert_eq!(s.decide(BGDS, now).fault, Some(Injected::Hang));
        assert_eq!(
            codes(&mut s, BGDS, 2, now),
            [Some(ErrorCode::Throttling), None]
        );
    }

    #[test]
    fn rate_cap_throttles_above_the_rate_and_refills() {
        let t0 = Instant::now();
        let mut s = FaultState::new(
            Faults {
                max_rps: Some(2.0),
                ..Faults::default()
            },
            t0,
        );
        assert_eq!(
            codes(&mut s, BGDS, 3, t0),
            [None, None, Some(ErrorCode::Throttling)]
        );
        // Not affected: other operations.
        assert_eq!(codes(&mut s, Operation::BatchPutDocument, 1, t0), [None]);
        // Half a second later one token is back.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(
            codes(&mut s, BGDS, 2, t1),
            [None, Some(ErrorCode::Throttling)]
        );
    }

    #[test]
    fn zero_rate_cap_throttles_everything() {
        let now = Instant::now();
        let mut s = FaultState::new(
            Faults {
                max_rps: Some(0.0),
                ..Faults::default()
            },
            now,
        );
        assert_eq!(
            codes(&mut s, BGDS, 2, now),
            [Some(ErrorCode::Throttling); 2]
        );
    }

    #[test]
    fn random_rates_are_seeded_and_roughly_right() {
        let now = Instant::now();
        let faults = Faults {
            internal_error_rate: 0.2,
            throttle_rate: 0.1,
            seed: 99,
            operations: vec!["*".into()],
            ..Faults::default()
        };
        let mut a = FaultState::new(faults.clone(), now);
        let mut b = FaultState::new(faults, now);
        let xs = codes(&mut a, Operation::DescribeIndex, 10_000, now);
        assert_eq!(xs, codes(&mut b, Operation::DescribeIndex, 10_000, now));
        let thr = xs
            .iter()
            .filter(|c| **c == Some(ErrorCode::Throttling))
            .count();
        let ise = xs
            .iter()
            .filter(|c| **c == Some(ErrorCode::InternalServer))
            .count();
        assert!((800..1200).contains(&thr), "{thr}");
        // 20% of the 90% not throttled.
        assert!((1600..2000).contains(&ise), "{ise}");
    }

    #[test]
    fn latency_has_seeded_jitter() {
        let now = Instant::now();
        let faults = Faults {
            latency: Duration::from_millis(10),
            latency_jitter: Duration::from_millis(5),
            seed: 3,
            ..Faults::default()
        };
        let mut s = FaultState::new(faults, now);
        let lat: Vec<Duration> = (0..100).map(|_| s.decide(BGDS, now).latency).collect();
        assert!(
            lat.iter()
                .all(|l| (Duration::from_millis(10)..=Duration::from_millis(15)).contains(l))
        );
        assert!(lat.iter().any(|l| *l != lat[0]));
        assert_eq!(
            s.decide(Operation::BatchPutDocument, now).latency,
            Duration::ZERO
        );
    }

    #[test]
    fn validation_and_parsing() {
        assert!(Faults::default().validate().is_ok());
        let bad = Faults {
            throttle_rate: 1.5,
            ..Faults::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(FaultsError::Rate {
                field: "throttle_rate",
                ..
            })
        ));
        let bad_op = Faults {
            operations: vec!["Query".into()],
            ..Faults::default()
        };
        assert_eq!(
            bad_op.validate(),
            Err(FaultsError::UnknownOperation("Query".into()))
        );
        assert_eq!(
            FaultKind::from_code("ThrottlingException"),
            Ok(FaultKind::Throttling)
        );
        assert_eq!(FaultKind::from_code("Conflict"), Ok(FaultKind::Conflict));
        assert!(FaultKind::from_code("Nope").is_err());
        assert_eq!(FaultKind::InternalServer.code(), "InternalServerException");
        assert_eq!(FaultKind::from_code("Hang"), Ok(FaultKind::Hang));
        assert_eq!(FaultKind::Hang.code(), CLIENT_CLOSED);
        let err = FaultKind::from_code("HangException").unwrap_err();
        assert!(err.to_string().contains("Hang"), "{err}");
    }
}
