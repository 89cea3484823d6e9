//! `DocumentInfo`, one entry of BatchGetDocumentStatus, and Kendra's rules on its
//! `Attributes`: these only say which version of a document to report, so Kendra accepts just
//! the keys `version`, `datasourceId` and `jobExecutionId`, the last two together or not at
//! all. Values are not checked (a `LongValue` version is fine).

#![allow(non_snake_case)]

use crate::protocol::Violations;
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::borrow::Cow;

/// The keys Kendra accepts in `DocumentInfo.Attributes`.
pub(crate) const ATTRIBUTE_KEYS: [&str; 3] = ["version", "datasourceId", "jobExecutionId"];
/// Kendra's pattern of a `DocumentAttribute.Key`, checked by [`key_pattern`].
pub(crate) const KEY_PATTERN: &str = "[a-zA-Z0-9_][a-zA-Z0-9_-]*";
/// The most characters of a `DocumentAttribute.Key`.
const MAX_KEY_CHARS: usize = 200;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DocumentAttribute<'a> {
    #[serde(borrow)]
    pub Key: Option<Cow<'a, str>>,
    /// Only its presence is checked: Kendra types it, the emulator does not keep it.
    pub Value: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DocumentInfo<'a> {
    #[serde(borrow)]
    pub DocumentId: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub Attributes: Option<Vec<DocumentAttribute<'a>>>,
}

impl DocumentInfo<'_> {
    fn attributes(&self) -> &[DocumentAttribute<'_>] {
        self.Attributes.as_deref().unwrap_or_default()
    }

    fn has_key(&self, key: &str) -> bool {
        self.attributes()
            .iter()
            .any(|a| a.Key.as_deref() == Some(key))
    }

    /// Adds the shape violations of the `n`th entry (1-based), Kendra-style; those of its
    /// attributes also name the document, since their field path does not.
    pub(crate) fn validate_shape(&self, v: &mut Violations, n: usize) {
        let field = || format!("documentInfoList.{n}.member.documentId");
        match self.DocumentId.as_deref() {
            None => v.required::<&str>(&field(), None),
            // Byte length bounds the char count: skip the formatting when clearly fine (the
            // hot path).
            Some(id) if id.is_empty() || id.len() > 2048 => v.length(&field(), id, 1, 2048),
            Some(_) => {}
        }
        if self.attributes().is_empty() {
            return;
        }
        let mut attributes = Violations::default();
        for (k, a) in self.attributes().iter().enumerate() {
            let at = format!("documentInfoList.{n}.member.attributes.{}.member", k + 1);
            match a.Key.as_deref() {
                None => attributes.required::<&str>(&format!("{at}.key"), None),
                Some(key) => validate_key(&mut attributes, &format!("{at}.key"), key),
            }
            attributes.required(&format!("{at}.value"), a.Value.as_ref());
        }
        let id = self.DocumentId.as_deref().unwrap_or_default();
        v.append_noting(attributes, &format!("document {id}"));
    }

    /// Why Kendra refuses this entry's attributes (a `ValidationException` message naming the
    /// document and the rule), if it does. Assumes the shape is valid.
    pub(crate) fn attribute_rule_violation(&self) -> Option<String> {
        let id = self.DocumentId.as_deref().unwrap_or_default();
        let keys = self.attributes().iter().filter_map(|a| a.Key.as_deref());
        if let Some(key) = keys.into_iter().find(|k| !ATTRIBUTE_KEYS.contains(k)) {
            return Some(format!(
                "Document {id} has the attribute key {key}: the only valid attribute keys of \
                 DocumentInfo are version, datasourceId and jobExecutionId."
            ));
        }
        let (has, lacks) = match (self.has_key("datasourceId"), self.has_key("jobExecutionId")) {
            (true, false) => ("datasourceId", "jobExecutionId"),
            (false, true) => ("jobExecutionId", "datasourceId"),
            _ => return None,
        };
        Some(format!(
            "Document {id} has {has} without {lacks}: dataSourceId and jobExecutionId must be \
             used together."
        ))
    }
}

/// Adds the violations of one `DocumentAttribute.Key`: 1..200 characters matching
/// [`KEY_PATTERN`].
fn validate_key(v: &mut Violations, field: &str, key: &str) {
    v.length(field, key, 1, MAX_KEY_CHARS);
    v.pattern(field, key, key_pattern(key), KEY_PATTERN);
}

/// Whether `key` matches [`KEY_PATTERN`].
pub(crate) fn key_pattern(key: &str) -> bool {
    let mut b = key.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str, attributes: &str) -> DocumentInfo<'static> {
        let json = format!(r#"{{"DocumentId": "{id}", "Attributes": {attributes}}}"#);
        serde_json::from_str(Box::leak(json.into_boxed_str())).unwrap()
    }

    fn shape_errors(info: &DocumentInfo<'_>) -> Option<String> {
        let mut v = Violations::default();
        info.validate_shape(&mut v, 1);
        v.into_result().err().map(|e| e.message)
    }

    #[test]
    fn the_three_keys_are_accepted_whatever_their_value_types() {
        for attributes in [
            r#"[]"#,
            r#"[{"Key": "version", "Value": {"LongValue": 3}}]"#,
            r#"[{"Key": "version", "Value": {"StringValue": "3"}}]"#,
            r#"[{"Key": "datasourceId", "Value": {"StringValue": "ds"}},
                {"Key": "jobExecutionId", "Value": {"StringValue": "job"}},
                {"Key": "version", "Value": {"StringValue": "1"}}]"#,
        ] {
            let i = info("doc-1", attributes);
            assert_eq!(shape_errors(&i), None, "{attributes}");
            assert_eq!(i.attribute_rule_violation(), None, "{attributes}");
        }
        assert_eq!(info("doc-1", "null").attribute_rule_violation(), None);
    }

    #[test]
    fn another_key_is_refused_naming_document_key_and_rule() {
        let i = info(
            "doc-7",
            r#"[{"Key": "colour", "Value": {"StringValue": "red"}}]"#,
        );
        assert_eq!(shape_errors(&i), None);
        assert_eq!(
            i.attribute_rule_violation().as_deref(),
            Some(
                "Document doc-7 has the attribute key colour: the only valid attribute keys of \
                 DocumentInfo are version, datasourceId and jobExecutionId."
            )
        );
        // Keys are case-sensitive, as in Kendra.
        let i = info("d", r#"[{"Key": "Version", "Value": {"LongValue": 1}}]"#);
        assert!(i.attribute_rule_violation().is_some());
    }

    #[test]
    fn datasource_and_job_execution_go_together() {
        let i = info(
            "d1",
            r#"[{"Key": "datasourceId", "Value": {"StringValue": "x"}}]"#,
        );
        assert_eq!(
            i.attribute_rule_violation().as_deref(),
            Some(
                "Document d1 has datasourceId without jobExecutionId: dataSourceId and \
                 jobExecutionId must be used together."
            )
        );
        let i = info(
            "d2",
            r#"[{"Key": "jobExecutionId", "Value": {"StringValue": "x"}}]"#,
        );
        let message = i.attribute_rule_violation().unwrap();
        assert!(message.starts_with("Document d2 has jobExecutionId without datasourceId: "));
        assert!(message.contains("dataSourceId and jobExecutionId must be used together"));
    }

    #[test]
    fn key_shape_is_checked_kendra_style_and_names_the_document() {
        let i = info(
            "d3",
            r#"[{"Key": "version", "Value": {}}, {"Key": "bad key", "Value": {}}]"#,
        );
        assert_eq!(
            shape_errors(&i).as_deref(),
            Some(
                "1 validation error detected: Value 'bad key' at \
                 'documentInfoList.1.member.attributes.2.member.key' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: \
                 [a-zA-Z0-9_][a-zA-Z0-9_-]* (document d3)"
            )
        );
        let long = "k".repeat(201);
        let i = info("d4", &format!(r#"[{{"Key": "{long}", "Value": {{}}}}]"#));
        let message = shape_errors(&i).unwrap();
        assert!(
            message.contains("have length less than or equal to 200 (document d4)"),
            "{message}"
        );
        let i = info("d5", r#"[{"Value": {}}, {"Key": "version"}]"#);
        let message = shape_errors(&i).unwrap();
        assert!(
            message.starts_with("2 validation errors detected: "),
            "{message}"
        );
        assert!(
            message.contains("Value null at 'documentInfoList.1.member.attributes.1.member.key'")
        );
        assert!(
            message.contains("Value null at 'documentInfoList.1.member.attributes.2.member.value'")
        );
    }

    #[test]
    fn key_pattern_follows_kendra() {
        for ok in ["version", "_x", "0-a", "a_b-c", &"k".repeat(200)] {
            assert!(key_pattern(ok), "{ok}");
        }
        for bad in ["", "-x", "a b", "a.b", "é"] {
            assert!(!key_pattern(bad), "{bad}");
        }
    }
}
