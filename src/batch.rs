//! The batch: the JSON object that Step Functions passes in (and gets back), and that each
//! SQS message carries as its body. Parsing here validates every rule of the contract and
//! keeps what the caller sent (unknown fields, each document's original form) so the result
//! can be fed straight back in.

use serde_json::{Map, Value};

use crate::error::{Error, shorten};

/// Kendra's IndexId length, in characters.
pub const INDEX_ID_LEN: usize = 36;
/// Kendra's longest DocumentId, in characters.
pub const MAX_DOCUMENT_ID_CHARS: usize = 2048;

/// What the caller is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// Wait until `INDEXED` or `UPDATED` (after `BatchPutDocument`).
    Put,
    /// Wait until `NOT_FOUND` (after `BatchDeleteDocument`).
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Put => "PUT",
            Operation::Delete => "DELETE",
        }
    }
}

/// A value of `DocumentInfo.Attributes`, as Kendra types it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttributeValue {
    String(String),
    Long(i64),
    StringList(Vec<String>),
}

/// What makes two documents the same: the id and the attributes (in key order, so the order
/// the caller wrote them in does not matter).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentKey {
    pub document_id: String,
    pub attributes: Vec<(String, AttributeValue)>,
}

impl DocumentKey {
    pub fn new(document_id: impl Into<String>) -> DocumentKey {
        DocumentKey {
            document_id: document_id.into(),
            attributes: Vec::new(),
        }
    }
}

/// One document of a batch: its identity, and the form the caller wrote it in (returned
/// unchanged while it is pending).
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub key: DocumentKey,
    pub original: Value,
}

/// A validated batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub index_id: String,
    pub operation: Operation,
    /// Deduplicated, in the order first seen.
    pub documents: Vec<Document>,
    /// Rounds already done.
    pub attempt: u64,
    pub max_attempts: u64,
    /// Cumulative count of documents that reached the target state.
    pub succeeded: u64,
    /// Cumulative failures, as carried from earlier rounds.
    pub failed: Vec<Value>,
    /// The caller's object as sent (`documents` and `failed` taken out): carries any
    /// correlation data and keeps the caller's field order in the result.
    pub fields: Map<String, Value>,
}

/// The limits a batch is checked against; they come from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Limits<'a> {
    pub default_index_id: Option<&'a str>,
    pub max_documents: usize,
    /// `maxAttempts` when the batch gives none (`MAX_ATTEMPTS`).
    pub max_attempts: u64,
    /// The largest `maxAttempts` a batch may ask for (`MAX_ATTEMPTS_LIMIT`): an execution that
    /// loops for ever would run into Step Functions' history limit instead of ending.
    pub max_attempts_limit: u64,
}

/// Checks Kendra's IndexId rule; the error is the rule, for the caller to put in context.
pub fn check_index_id(id: &str) -> Result<(), String> {
    let len = id.chars().count();
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '-');
    if len != INDEX_ID_LEN || !first_ok || !rest_ok {
        return Err(format!(
            "must be a Kendra index id: exactly {INDEX_ID_LEN} characters matching [a-zA-Z0-9][a-zA-Z0-9-]* (got {len} characters)"
        ));
    }
    Ok(())
}

/// A JSON null counts as absent: Step Functions' JSONPath and intrinsic functions produce
/// nulls, and an explicit null should take the default, not fail.
fn field<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object.get(name).filter(|v| !v.is_null())
}

/// 2^53 - 1: the largest integer every JSON reader (Step Functions' among them) keeps exact.
/// The counters a round adds to (`attempt`, `succeeded`) stop there, so adding one never
/// saturates or rounds.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// `max_is`: what the upper bound is, for the message.
fn whole_number(
    object: &Map<String, Value>,
    name: &str,
    min: u64,
    (max, max_is): (u64, &str),
) -> Result<Option<u64>, Error> {
    match field(object, name) {
        None => Ok(None),
        Some(value) => match value.as_u64() {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            Some(n) if n > max => Err(Error::validation(
                name,
                format!("must be at most {max} ({max_is}), got {n}"),
            )),
            _ => Err(Error::validation(
                name,
                format!("must be an integer >= {min}, got {}", quoted(value)),
            )),
        },
    }
}

impl Batch {
    /// Validates `value` as a batch. `value` is consumed so that large document lists are
    /// moved, not copied.
    pub fn parse(value: Value, limits: Limits<'_>) -> Result<Batch, Error> {
        let Value::Object(mut fields) = value else {
            return Err(Error::validation(
                "the batch",
                format!(
                    "must be a JSON object with indexId and documents, got {}",
                    kind_of(&value)
                ),
            ));
        };
        let index_id = parse_index_id(&fields, limits.default_index_id)?;
        let operation = parse_operation(&fields)?;
        const SAFE: (u64, &str) = (MAX_SAFE_INTEGER, "the largest integer JSON keeps exact");
        let attempt = whole_number(&fields, "attempt", 0, SAFE)?.unwrap_or(0);
        let max_attempts = whole_number(
            &fields,
            "maxAttempts",
            1,
            (limits.max_attempts_limit, "MAX_ATTEMPTS_LIMIT"),
        )?
        .unwrap_or(limits.max_attempts);
        let succeeded = whole_number(&fields, "succeeded", 0, SAFE)?.unwrap_or(0);
        let failed = take_failed(&mut fields)?;
        let documents = parse_documents(take_documents(&mut fields)?, limits.max_documents)?;
        Ok(Batch {
            index_id,
            operation,
            documents,
            attempt,
            max_attempts,
            succeeded,
            failed,
            fields,
        })
    }
}

fn parse_index_id(fields: &Map<String, Value>, default: Option<&str>) -> Result<String, Error> {
    match field(fields, "indexId") {
        Some(Value::String(id)) => {
            check_index_id(id).map_err(|rule| Error::validation("indexId", rule))?;
            Ok(id.clone())
        }
        Some(other) => Err(Error::validation(
            "indexId",
            format!("must be a string, got {}", kind_of(other)),
        )),
        None => default.map(str::to_string).ok_or_else(|| {
            Error::validation(
                "indexId",
                "is missing and KENDRA_INDEX_ID is not set: name the index in the batch or set KENDRA_INDEX_ID",
            )
        }),
    }
}

fn parse_operation(fields: &Map<String, Value>) -> Result<Operation, Error> {
    match field(fields, "operation") {
        None => Ok(Operation::Put),
        Some(Value::String(s)) if s == "PUT" => Ok(Operation::Put),
        Some(Value::String(s)) if s == "DELETE" => Ok(Operation::Delete),
        Some(other) => Err(Error::validation(
            "operation",
            format!("must be \"PUT\" or \"DELETE\", got {}", quoted(other)),
        )),
    }
}

fn take_failed(fields: &mut Map<String, Value>) -> Result<Vec<Value>, Error> {
    match fields.remove("failed") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(Error::validation(
            "failed",
            format!(
                "must be a list (the failures carried from earlier rounds), got {}",
                kind_of(&other)
            ),
        )),
    }
}

fn take_documents(fields: &mut Map<String, Value>) -> Result<Vec<Value>, Error> {
    match fields.remove("documents") {
        None | Some(Value::Null) => Err(Error::validation(
            "documents",
            "is required: a list of document ids or {\"documentId\", \"attributes\"} objects",
        )),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(Error::validation(
            "documents",
            format!("must be a list, got {}", kind_of(&other)),
        )),
    }
}

/// Validates every entry and drops duplicates, keeping the first form of each document.
fn parse_documents(documents: Vec<Value>, max_documents: usize) -> Result<Vec<Document>, Error> {
    if documents.is_empty() || documents.len() > max_documents {
        return Err(Error::validation(
            "documents",
            format!(
                "must have 1 to {max_documents} entries (MAX_DOCUMENTS), got {}",
                documents.len()
            ),
        ));
    }
    let mut seen: foldhash::HashSet<DocumentKey> =
        foldhash::HashSet::with_capacity_and_hasher(documents.len(), Default::default());
    let mut unique = Vec::with_capacity(documents.len());
    for (position, original) in documents.into_iter().enumerate() {
        let key = parse_document(&original, position)?;
        if !seen.contains(&key) {
            seen.insert(key.clone());
            unique.push(Document { key, original });
        }
    }
    Ok(unique)
}

fn parse_document(value: &Value, position: usize) -> Result<DocumentKey, Error> {
    let object = match value {
        Value::String(id) => return Ok(DocumentKey::new(check_document_id(id, position)?)),
        Value::Object(object) => object,
        other => {
            return Err(Error::validation(
                format!("documents[{position}]"),
                format!(
                    "must be a document id (string) or an object with documentId, got {}",
                    kind_of(other)
                ),
            ));
        }
    };
    let document_id = match object.get("documentId") {
        Some(Value::String(id)) => check_document_id(id, position)?,
        Some(other) => {
            return Err(Error::validation(
                format!("documents[{position}].documentId"),
                format!("must be a string, got {}", kind_of(other)),
            ));
        }
        None => {
            return Err(Error::validation(
                format!("documents[{position}]"),
                "must have a documentId",
            ));
        }
    };
    Ok(DocumentKey {
        document_id,
        attributes: parse_attributes(object.get("attributes"), position)?,
    })
}

fn parse_attributes(
    value: Option<&Value>,
    position: usize,
) -> Result<Vec<(String, AttributeValue)>, Error> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(attributes)) => {
            let mut parsed = attributes
                .iter()
                .map(|(name, value)| Ok((name.clone(), parse_attribute(name, value, position)?)))
                .collect::<Result<Vec<_>, Error>>()?;
            parsed.sort();
            Ok(parsed)
        }
        Some(other) => Err(Error::validation(
            format!("documents[{position}].attributes"),
            format!("must be an object, got {}", kind_of(other)),
        )),
    }
}

fn check_document_id(id: &str, position: usize) -> Result<String, Error> {
    let len = id.chars().count();
    if len == 0 || len > MAX_DOCUMENT_ID_CHARS {
        return Err(Error::validation(
            format!("documents[{position}].documentId"),
            format!("must be 1 to {MAX_DOCUMENT_ID_CHARS} characters, got {len}"),
        ));
    }
    Ok(id.to_string())
}

fn parse_attribute(name: &str, value: &Value, position: usize) -> Result<AttributeValue, Error> {
    let bad = || {
        Error::validation(
            format!("documents[{position}].attributes.{}", shorten(name, 64)),
            format!(
                "must be a string, an integer or a list of strings, got {}",
                quoted(value)
            ),
        )
    };
    match value {
        Value::String(s) => Ok(AttributeValue::String(s.clone())),
        Value::Number(n) => n.as_i64().map(AttributeValue::Long).ok_or_else(bad),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string).ok_or_else(bad))
            .collect::<Result<Vec<_>, _>>()
            .map(AttributeValue::StringList),
        _ => Err(bad()),
    }
}

/// The attribute keys `BatchGetDocumentStatus` accepts in `DocumentInfo.Attributes`.
pub const ATTRIBUTE_KEYS: [&str; 3] = ["version", "datasourceId", "jobExecutionId"];

impl DocumentKey {
    /// The rule of Kendra's that this document's attributes break, if any. Kendra refuses a
    /// whole call for one such document, so the checker fails it on its own (as
    /// `INVALID_REQUEST`, code `InvalidAttributes`) and never sends it.
    pub fn attribute_violation(&self) -> Option<String> {
        if let Some((name, _)) = self
            .attributes
            .iter()
            .find(|(name, _)| !ATTRIBUTE_KEYS.contains(&name.as_str()))
        {
            return Some(format!(
                "attribute {name:?} is not accepted by BatchGetDocumentStatus: the only valid attributes are version, datasourceId and jobExecutionId"
            ));
        }
        let has = |key: &str| self.attributes.iter().any(|(name, _)| name == key);
        if has("datasourceId") != has("jobExecutionId") {
            return Some("datasourceId and jobExecutionId must be used together".to_string());
        }
        None
    }
}

/// A bad value as its JSON text, at most 64 characters of it.
fn quoted(value: &Value) -> String {
    shorten(&value.to_string(), 64)
}

/// A short name of a JSON value's type, for error messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const INDEX: &str = "0123456789abcdef0123456789abcdef0123";

    fn limits() -> Limits<'static> {
        Limits {
            default_index_id: None,
            max_documents: 6,
            max_attempts: 60,
            max_attempts_limit: 100,
        }
    }

    fn parse(value: Value) -> Result<Batch, Error> {
        Batch::parse(value, limits())
    }

    /// Asserts a `ValidationError` that names `field`.
    fn rejects(value: Value, expected_field: &str) {
        match parse(value) {
            Err(Error::Validation { field, rule }) => {
                assert_eq!(field, expected_field, "rule: {rule}")
            }
            other => panic!("expected a ValidationError of {expected_field}, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_full_batch() {
        let batch = parse(json!({
            "indexId": INDEX, "operation": "DELETE",
            "documents": ["a", {"documentId": "b", "attributes": {"v": 3, "s": "x", "l": ["p", "q"]}}],
            "attempt": 2, "maxAttempts": 9, "succeeded": 4, "failed": [{"documentId": "z"}],
            "requestId": "r-1"
        }))
        .unwrap();
        assert_eq!(batch.index_id, INDEX);
        assert_eq!(batch.operation, Operation::Delete);
        assert_eq!(
            (batch.attempt, batch.max_attempts, batch.succeeded),
            (2, 9, 4)
        );
        assert_eq!(batch.failed, vec![json!({"documentId": "z"})]);
        assert_eq!(batch.fields["requestId"], json!("r-1"));
        assert_eq!(batch.documents.len(), 2);
        assert_eq!(
            batch.documents[1].key.attributes,
            vec![
                (
                    "l".to_string(),
                    AttributeValue::StringList(vec!["p".into(), "q".into()])
                ),
                ("s".to_string(), AttributeValue::String("x".into())),
                ("v".to_string(), AttributeValue::Long(3)),
            ]
        );
    }

    #[test]
    fn defaults_apply_when_fields_are_absent_or_null() {
        let batch = parse(
            json!({"indexId": INDEX, "documents": ["a"], "attempt": null, "operation": null}),
        )
        .unwrap();
        assert_eq!(batch.operation, Operation::Put);
        assert_eq!(
            (batch.attempt, batch.max_attempts, batch.succeeded),
            (0, 60, 0)
        );
        assert!(batch.failed.is_empty());
    }

    #[test]
    fn index_id_comes_from_the_configuration_when_absent() {
        let limits = Limits {
            default_index_id: Some(INDEX),
            ..limits()
        };
        let batch = Batch::parse(json!({"documents": ["a"]}), limits).unwrap();
        assert_eq!(batch.index_id, INDEX);
        rejects(json!({"documents": ["a"]}), "indexId");
        let message = parse(json!({"documents": ["a"]})).unwrap_err().to_string();
        assert!(message.contains("KENDRA_INDEX_ID"), "{message}");
    }

    #[test]
    fn duplicates_are_one_document_kept_in_first_form() {
        let batch = parse(json!({"indexId": INDEX, "documents": [
            "a", {"documentId": "a"}, {"documentId": "a", "attributes": {}},
            {"documentId": "b", "attributes": {"x": 1, "y": "z"}},
            {"documentId": "b", "attributes": {"y": "z", "x": 1}},
            {"documentId": "b", "attributes": {"x": 2}},
        ]}))
        .unwrap();
        let ids: Vec<_> = batch
            .documents
            .iter()
            .map(|d| d.key.document_id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b", "b"]);
        assert_eq!(batch.documents[0].original, json!("a"));
    }

    #[test]
    fn documents_are_counted_before_deduplication() {
        rejects(
            json!({"indexId": INDEX, "documents": ["a", "a", "a", "a", "a", "a", "a"]}),
            "documents",
        );
        assert!(
            parse(json!({"indexId": INDEX, "documents": ["a", "a", "a", "a", "a", "a"]})).is_ok()
        );
    }

    #[test]
    fn every_rule_is_named_in_its_error() {
        let long = "x".repeat(MAX_DOCUMENT_ID_CHARS + 1);
        let cases = [
            (json!([1]), "the batch"),
            (json!({"documents": ["a"]}), "indexId"),
            (json!({"indexId": 7, "documents": ["a"]}), "indexId"),
            (json!({"indexId": "short", "documents": ["a"]}), "indexId"),
            (
                json!({"indexId": format!("-{}", &INDEX[1..]), "documents": ["a"]}),
                "indexId",
            ),
            (
                json!({"indexId": format!("{}_", &INDEX[1..]), "documents": ["a"]}),
                "indexId",
            ),
            (
                json!({"indexId": INDEX, "operation": "UPSERT", "documents": ["a"]}),
                "operation",
            ),
            (
                json!({"indexId": INDEX, "operation": "put", "documents": ["a"]}),
                "operation",
            ),
            (json!({"indexId": INDEX}), "documents"),
            (json!({"indexId": INDEX, "documents": "a"}), "documents"),
            (json!({"indexId": INDEX, "documents": []}), "documents"),
            (
                json!({"indexId": INDEX, "documents": [""]}),
                "documents[0].documentId",
            ),
            (
                json!({"indexId": INDEX, "documents": [long]}),
                "documents[0].documentId",
            ),
            (
                json!({"indexId": INDEX, "documents": ["a", 5]}),
                "documents[1]",
            ),
            (
                json!({"indexId": INDEX, "documents": [{"id": "a"}]}),
                "documents[0]",
            ),
            (
                json!({"indexId": INDEX, "documents": [{"documentId": 3}]}),
                "documents[0].documentId",
            ),
            (
                json!({"indexId": INDEX, "documents": [{"documentId": "a", "attributes": []}]}),
                "documents[0].attributes",
            ),
            (
                json!({"indexId": INDEX, "documents": [{"documentId": "a", "attributes": {"v": 1.5}}]}),
                "documents[0].attributes.v",
            ),
            (
                json!({"indexId": INDEX, "documents": [{"documentId": "a", "attributes": {"v": true}}]}),
                "documents[0].attributes.v",
            ),
            (
                json!({"indexId": INDEX, "documents": [{"documentId": "a", "attributes": {"v": ["x", 1]}}]}),
                "documents[0].attributes.v",
            ),
            (
                json!({"indexId": INDEX, "documents": [{"documentId": "a", "attributes": {"v": u64::MAX}}]}),
                "documents[0].attributes.v",
            ),
            (
                json!({"indexId": INDEX, "documents": ["a"], "attempt": -1}),
                "attempt",
            ),
            (
                json!({"indexId": INDEX, "documents": ["a"], "attempt": 1.5}),
                "attempt",
            ),
            (
                json!({"indexId": INDEX, "documents": ["a"], "attempt": "1"}),
                "attempt",
            ),
            (
                json!({"indexId": INDEX, "documents": ["a"], "maxAttempts": 0}),
                "maxAttempts",
            ),
            (
                json!({"indexId": INDEX, "documents": ["a"], "maxAttempts": 101}),
                "maxAttempts",
            ),
            (
                json!({"indexId": INDEX, "documents": ["a"], "succeeded": -2}),
                "succeeded",
            ),
            (
                json!({"indexId": INDEX, "documents": ["a"], "attempt": 1u64 << 53}),
                "attempt",
            ),
            (
                json!({"indexId": INDEX, "documents": ["a"], "succeeded": u64::MAX}),
                "succeeded",
            ),
            (
                json!({"indexId": INDEX, "documents": ["a"], "failed": {}}),
                "failed",
            ),
        ];
        for (value, field) in cases {
            rejects(value, field);
        }
    }

    #[test]
    fn messages_read_as_before() {
        let error = parse(json!({"indexId": INDEX, "documents": []})).unwrap_err();
        assert_eq!(
            error.to_string(),
            "documents must have 1 to 6 entries (MAX_DOCUMENTS), got 0"
        );
        let error =
            parse(json!({"indexId": INDEX, "documents": ["a"], "maxAttempts": 101})).unwrap_err();
        assert_eq!(
            error.to_string(),
            "maxAttempts must be at most 100 (MAX_ATTEMPTS_LIMIT), got 101"
        );
        assert!(parse(json!({"indexId": INDEX, "documents": ["a"], "maxAttempts": 100})).is_ok());
    }

    #[test]
    fn a_huge_bad_value_is_quoted_short() {
        let huge = "q".repeat(300_000);
        for batch in [
            json!({"indexId": INDEX, "documents": ["a"], "operation": huge}),
            json!({"indexId": INDEX, "documents": ["a"], "attempt": huge}),
            json!({"indexId": INDEX, "documents": [{"documentId": "a", "attributes": {"v": {"x": huge}}}]}),
            json!({"indexId": INDEX, "documents": [{"documentId": "a", "attributes": {huge.clone(): {}}}]}),
        ] {
            let message = parse(batch).unwrap_err().to_string();
            assert!(
                message.len() < 300,
                "{} characters: {}",
                message.len(),
                &message[..300]
            );
            assert!(message.contains("qqq..."), "{message}");
        }
        let error = parse(json!({"indexId": INDEX, "documents": ["a"], "operation": "put"}));
        assert_eq!(
            error.unwrap_err().to_string(),
            "operation must be \"PUT\" or \"DELETE\", got \"put\"",
            "a short value is quoted whole"
        );
    }

    #[test]
    fn attribute_rules_are_kendras() {
        let key = |attributes: Value| {
            let batch = parse(json!({"indexId": INDEX, "documents": [
                {"documentId": "a", "attributes": attributes}
            ]}))
            .unwrap();
            batch.documents[0].key.attribute_violation()
        };
        assert_eq!(key(json!({"version": 3})), None);
        assert_eq!(key(json!({"version": "3"})), None);
        assert_eq!(
            key(json!({"datasourceId": "d", "jobExecutionId": "j", "version": "1"})),
            None
        );
        assert!(
            key(json!({"colour": "red"}))
                .unwrap()
                .contains("\"colour\"")
        );
        assert!(
            key(json!({"_version": "1"}))
                .unwrap()
                .contains("\"_version\"")
        );
        assert_eq!(
            key(json!({"datasourceId": "d"})).unwrap(),
            "datasourceId and jobExecutionId must be used together"
        );
        assert_eq!(
            key(json!({"jobExecutionId": "j", "version": "2"})).unwrap(),
            "datasourceId and jobExecutionId must be used together"
        );
        assert_eq!(DocumentKey::new("plain").attribute_violation(), None);
    }

    #[test]
    fn document_id_length_counts_characters_not_bytes() {
        let id = "é".repeat(MAX_DOCUMENT_ID_CHARS);
        assert!(parse(json!({"indexId": INDEX, "documents": [id]})).is_ok());
    }
}
