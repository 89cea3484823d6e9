//! ListIndices: every index, oldest first, paginated with an opaque `NextToken`.

#![allow(non_snake_case)]

use super::{Call, encode, lock_store};
use crate::model::{IndexInfo, Store};
use crate::protocol::{ApiError, ErrorCode, Violations};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use tokio::time::Instant;

/// The page size when `MaxResults` is absent, and its upper bound.
const MAX_PAGE: i64 = 100;
/// `NextToken` is this prefix and the position of the next page's first index.
const TOKEN_PREFIX: &str = "kendra-local-";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListIndicesRequest {
    pub NextToken: Option<String>,
    pub MaxResults: Option<i64>,
}

#[derive(Debug, Serialize)]
struct IndexConfigurationSummary<'a> {
    Id: &'a str,
    Name: &'a str,
    Edition: &'a str,
    Status: &'a str,
    CreatedAt: f64,
    UpdatedAt: f64,
}

#[derive(Debug, Serialize)]
struct ListIndicesResponse<'a> {
    IndexConfigurationSummaryItems: Vec<IndexConfigurationSummary<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    NextToken: Option<String>,
}

impl ListIndicesRequest {
    /// Where the page starts: 0, or what an earlier answer's `NextToken` said.
    fn start(&self) -> Result<usize, ApiError> {
        let mut v = Violations::default();
        if let Some(m) = self.MaxResults
            && !(1..=MAX_PAGE).contains(&m)
        {
            v.pattern("maxResults", &m.to_string(), false, "be between 1 and 100");
        }
        v.into_result()?;
        match &self.NextToken {
            None => Ok(0),
            Some(t) => t
                .strip_prefix(TOKEN_PREFIX)
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| ApiError::new(ErrorCode::Validation, "The NextToken is not valid.")),
        }
    }
}

impl Call for ListIndicesRequest {
    fn apply(&self, store: &Mutex<Store>, _now: Instant) -> Result<Vec<u8>, ApiError> {
        let start = self.start()?;
        let page = usize::try_from(self.MaxResults.unwrap_or(MAX_PAGE)).unwrap_or(100);
        let all = lock_store(store).list_indexes();
        let end = start.saturating_add(page).min(all.len());
        let items = all
            .get(start.min(end)..end)
            .unwrap_or_default()
            .iter()
            .map(summary)
            .collect();
        encode(&ListIndicesResponse {
            IndexConfigurationSummaryItems: items,
            NextToken: (end < all.len()).then(|| format!("{TOKEN_PREFIX}{end}")),
        })
    }
}

fn summary(i: &IndexInfo) -> IndexConfigurationSummary<'_> {
    IndexConfigurationSummary {
        Id: &i.id,
        Name: &i.name,
        Edition: &i.edition,
        Status: "ACTIVE",
        CreatedAt: i.created_at,
        UpdatedAt: i.created_at,
    }
}
