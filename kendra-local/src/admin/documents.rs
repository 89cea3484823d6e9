//! `POST /_kendra_local/indexes/{id}` and `POST /_kendra_local/documents`: state set up
//! without the Kendra API, so without its limits, faults or request log.

use super::reply::{self, AdminError, Reply, body_json};
use crate::Shared;
use hyper::Request;
use hyper::body::Incoming;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DocumentsJson {
    index_id: String,
    #[serde(default)]
    put: Vec<String>,
    #[serde(default)]
    delete: Vec<String>,
}

fn checked_index_id(id: &str) -> Result<&str, AdminError> {
    if crate::is_valid_index_id(id) {
        Ok(id)
    } else {
        Err(AdminError::IndexId(id.to_owned()))
    }
}

/// `POST indexes/{id}`: creates the index (a no-op when it exists).
pub(super) fn create_index(id: &str, shared: &Shared) -> Reply {
    let id = checked_index_id(id)?;
    shared.store().ensure_index(id);
    reply::ok(&serde_json::json!({ "id": id }))
}

/// `POST documents`: puts, then deletes, the listed ids; creates the index if missing.
pub(super) async fn apply(req: Request<Incoming>, shared: &Shared) -> Reply {
    let j = body_json::<DocumentsJson>(req).await?;
    let index = checked_index_id(&j.index_id)?;
    shared.put_documents(index, j.put.iter().map(String::as_str));
    shared.delete_documents(index, j.delete.iter().map(String::as_str));
    reply::done()
}
