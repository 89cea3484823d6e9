//! The manifest splitter: turns one large S3 object listing the documents of an ingest (a JSON
//! array, JSON Lines or CSV; 10 million documents, hundreds of MB) into batches of
//! `batch_size` documents while its bytes stream in, so that an ingest of any size is waited
//! for batch by batch without ever holding the whole object in memory.
//!
//! The splitter is pure: it is fed byte chunks cut anywhere (inside a UTF-8 character, a JSON
//! string or escape, a quoted CSV field) and hands back finished batches; fetching the object
//! is the caller's job. Each document comes out in one of the two forms a batch's `documents`
//! list takes: a string (the DocumentId) or an object with `documentId` and optional
//! `attributes`. Documents are checked for shape only (a non-empty id, a string `documentId`):
//! the batch parser applies every other rule later, the same way as for any batch.
//!
//! Memory stays bounded by the batch being built plus one partial entry (an array element, a
//! line or a CSV row, at most [`MAX_ENTRY_BYTES`]), whatever the size of the manifest.
//!
//! CSV is read by hand rather than with `csv-core`: `csv-core` accepts any input (it has no
//! error for an unterminated quoted field or for text after a closing quote, and counts
//! physical lines rather than rows), so the checks this module needs would have to shadow its
//! state machine anyway; the reader below is four states and about 100 lines.

use std::fmt;

use serde_json::{Map, Value};

use crate::batch::kind_of;
use crate::error::shorten;

/// The largest single entry (array element, line or CSV row) accepted, in bytes. A real entry
/// is a document id (Kendra allows 2,048 characters) and a few attributes, far below this; the
/// cap bounds memory when the file is malformed (a string that never closes, an unbalanced CSV
/// quote, a one-line JSON array named `.jsonl`).
pub const MAX_ENTRY_BYTES: usize = 1024 * 1024;

/// The most documents reserved up front for a batch: a huge `batch_size` must not allocate
/// room for documents that may never come.
const MAX_RESERVED_BATCH: usize = 4096;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The CSV column that holds the document id.
const DOCUMENT_ID: &str = "documentId";

/// The CSV columns that become attributes: the only attributes Kendra's
/// `BatchGetDocumentStatus` takes (`DocumentInfo.Attributes`), spelled as it spells them.
const ATTRIBUTE_COLUMNS: [&str; 3] = ["version", "datasourceId", "jobExecutionId"];

/// How the manifest is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ManifestFormat {
    /// One JSON array of documents.
    JsonArray,
    /// One document (JSON string or object) per line.
    JsonLines,
    /// A header row naming a `documentId` column, then one document per row.
    Csv,
}

impl ManifestFormat {
    /// The format an S3 key's extension names (case-insensitive), or `None` when the key
    /// does not say (then [`ManifestFormat::sniff`] the first bytes).
    pub fn from_key(key: &str) -> Option<ManifestFormat> {
        let name = key.rsplit('/').next().unwrap_or(key);
        let (_, extension) = name.rsplit_once('.')?;
        match extension.to_ascii_lowercase().as_str() {
            "json" => Some(ManifestFormat::JsonArray),
            "jsonl" | "ndjson" => Some(ManifestFormat::JsonLines),
            "csv" => Some(ManifestFormat::Csv),
            _ => None,
        }
    }

    /// Guesses the format from the first bytes of the object (a BOM and whitespace skipped):
    /// `[` is a JSON array, `{` or `"` JSON Lines, anything else CSV. Give it enough bytes to
    /// reach the first non-whitespace one: empty or all-whitespace input sniffs as CSV.
    pub fn sniff(first_bytes: &[u8]) -> ManifestFormat {
        let bytes = first_bytes.strip_prefix(UTF8_BOM).unwrap_or(first_bytes);
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => ManifestFormat::JsonArray,
            Some(b'{' | b'"') => ManifestFormat::JsonLines,
            _ => ManifestFormat::Csv,
        }
    }

    /// A stable name for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            ManifestFormat::JsonArray => "json-array",
            ManifestFormat::JsonLines => "json-lines",
            ManifestFormat::Csv => "csv",
        }
    }
}

/// Where in the manifest an error is: the way a person finds it in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// An element of the JSON array, counted from 0 (as in `manifest[0]`).
    Element(u64),
    /// A line of JSON Lines, counted from 1 (blank lines count).
    Line(u64),
    /// A CSV row, counted from 1 with the header as row 1 (as a spreadsheet shows it; a
    /// quoted newline does not start a row).
    Row(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Element(index) => write!(f, "manifest[{index}]"),
            Position::Line(line) => write!(f, "manifest line {line}"),
            Position::Row(row) => write!(f, "manifest row {row}"),
        }
    }
}

/// Why a manifest cannot be split. Each message names where the problem is, what is wrong
/// and what was expected, for the person who fixes the file. Byte offsets count from 0 at
/// the first byte of the object (a BOM included).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    /// An element or line is not JSON at all.
    #[error(
        "{at}: not valid JSON ({detail}); expected a document id (string) or an object with documentId"
    )]
    InvalidJson { at: Position, detail: String },

    /// An element or line is JSON, but neither a string nor an object.
    #[error("{at}: expected a document id (string) or an object with documentId, got {got}")]
    NotADocument { at: Position, got: &'static str },

    /// A document object without `documentId`.
    #[error(
        "{at}: the object has no documentId; expected an object with a string documentId and optional attributes"
    )]
    MissingDocumentId { at: Position },

    /// A document object whose `documentId` is not a string.
    #[error("{at}: expected documentId to be a string (the document id), got {got}")]
    DocumentIdNotString { at: Position, got: &'static str },

    /// An empty document id (string, `documentId` or CSV field).
    #[error("{at}: the document id is empty; expected a non-empty document id")]
    EmptyDocumentId { at: Position },

    /// One entry is larger than [`MAX_ENTRY_BYTES`]: the file is malformed or not in the
    /// format its name says.
    #[error(
        "{at} is larger than {limit} bytes; expected one short document entry (is the file malformed, or not in the format its name says?)"
    )]
    TooLarge { at: Position, limit: usize },

    /// A JSON array manifest holds another JSON value.
    #[error(
        "manifest byte {byte}: the manifest is {got}, not a JSON array; expected one array of documents, e.g. [\"doc-1\", {{\"documentId\": \"doc-2\"}}] (a file with one document per line is JSON Lines: name it .jsonl)"
    )]
    NotAnArray { byte: u64, got: &'static str },

    /// A JSON array manifest does not start with `[`.
    #[error("manifest byte {byte}: expected '[' to open the array of documents, found {found}")]
    MissingArrayStart { byte: u64, found: String },

    /// An empty element: `[,`, `,,` or a trailing comma before `]`.
    #[error("{at}: expected a document, found {found} (an empty element or a trailing comma)")]
    MissingElement { at: Position, found: String },

    /// Something other than whitespace after the array's closing `]`.
    #[error(
        "manifest byte {byte}: unexpected {found} after the array's closing ']'; expected only whitespace to the end"
    )]
    TrailingData { byte: u64, found: String },

    /// The input ends inside the array, outside a string.
    #[error(
        "manifest[{elements}]: the manifest ends after {elements} element(s); expected the array's closing ']' (is the object truncated?)"
    )]
    UnterminatedArray { elements: u64 },

    /// The input ends inside a JSON string of an array element.
    #[error(
        "{at}: the manifest ends inside a string; expected its closing '\"' and the array's closing ']' (is the object truncated?)"
    )]
    UnterminatedString { at: Position },

    /// The CSV header has no `documentId` column.
    #[error(
        "{at}: the CSV header has no documentId column (columns: {header}); expected a header row naming a documentId column and optionally version, datasourceId, jobExecutionId"
    )]
    MissingDocumentIdColumn { at: Position, header: String },

    /// The CSV header names one of the columns this module reads twice.
    #[error("{at}: the CSV header names the {name} column twice; expected each column once")]
    DuplicateColumn { at: Position, name: &'static str },

    /// The input ends inside a quoted CSV field.
    #[error(
        "{at}: the manifest ends inside a quoted field; expected its closing '\"' (is a quote unbalanced, or the object truncated?)"
    )]
    UnterminatedQuotedField { at: Position },

    /// Text between a quoted CSV field's closing quote and the next `,` or row end.
    #[error(
        "{at}: unexpected {found} after the closing quote of a quoted field; expected ',' or the end of the row (write a quote inside a quoted field as \"\")"
    )]
    TextAfterClosingQuote { at: Position, found: String },

    /// A CSV field this module reads is not UTF-8.
    #[error("{at}: {field} is not valid UTF-8; expected UTF-8 text (save the CSV as UTF-8)")]
    InvalidUtf8 { at: Position, field: String },
}

type Result<T, E = ManifestError> = std::result::Result<T, E>;

/// Splits a manifest fed in chunks into batches of `batch_size` documents, in manifest order.
///
/// After an error the manifest is bad as a whole: every later call returns the same error.
/// The batches that the failing chunk completed, and the batch being built, are dropped;
/// [`ManifestSplitter::documents_seen`] still counts every document accepted before the
/// error (all batches returned earlier hold documents that came before it).
#[derive(Debug)]
pub struct ManifestSplitter {
    reader: Reader,
    batcher: Batcher,
    /// The first bytes while they may still be a BOM (a chunk can end inside one).
    bom_head: Option<Vec<u8>>,
    failed: Option<ManifestError>,
}

impl ManifestSplitter {
    /// A splitter for a manifest in `format`; a `batch_size` of 0 counts as 1 (the caller
    /// validates it; the function never panics on input).
    pub fn new(format: ManifestFormat, batch_size: usize) -> ManifestSplitter {
        let batch_size = batch_size.max(1);
        let reader = match format {
            ManifestFormat::JsonArray => Reader::Array(ArrayReader::default()),
            ManifestFormat::JsonLines => Reader::Lines(LinesReader::default()),
            ManifestFormat::Csv => Reader::Csv(CsvReader::default()),
        };
        ManifestSplitter {
            reader,
            batcher: Batcher::new(batch_size),
            bom_head: Some(Vec::with_capacity(UTF8_BOM.len())),
            failed: None,
        }
    }

    /// Feeds the next chunk (any boundaries, even inside a UTF-8 character or a JSON string);
    /// returns the batches completed by it (each exactly batch_size documents).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<Value>>> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        match self.feed(chunk) {
            Ok(()) => Ok(self.batcher.take_done()),
            Err(error) => {
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    /// End of input: the last, possibly shorter, batch (none if empty), or an error for
    /// truncated input (unterminated array/string/quoted field). Input with no document at
    /// all (empty, only whitespace or a BOM) gives no batch in every format.
    pub fn finish(mut self) -> Result<Vec<Vec<Value>>> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        if let Some(head) = self.bom_head.take() {
            // Fewer bytes than a BOM: they are content, however short.
            self.reader.feed(&head, &mut self.batcher)?;
        }
        self.reader.finish(&mut self.batcher)?;
        let mut batches = self.batcher.take_done();
        if !self.batcher.current.is_empty() {
            batches.push(std::mem::take(&mut self.batcher.current));
        }
        Ok(batches)
    }

    /// Documents accepted so far, including those of the batch being built (for progress
    /// logs; [`ManifestSplitter::finish`] may add the last line or row, which only the end of
    /// input completes).
    pub fn documents_seen(&self) -> u64 {
        self.batcher.seen
    }

    /// Skips a BOM at the very start (which may arrive split over chunks), then hands the
    /// bytes to the format's reader.
    fn feed(&mut self, chunk: &[u8]) -> Result<()> {
        let Some(head) = self.bom_head.as_mut() else {
            return self.reader.feed(chunk, &mut self.batcher);
        };
        let taken = (UTF8_BOM.len() - head.len()).min(chunk.len());
        head.extend_from_slice(&chunk[..taken]);
        if head.len() < UTF8_BOM.len() && UTF8_BOM.starts_with(head) {
            return Ok(());
        }
        let head = self.bom_head.take().unwrap_or_default();
        if head == UTF8_BOM {
            self.reader.skipped(UTF8_BOM.len());
        } else {
            self.reader.feed(&head, &mut self.batcher)?;
        }
        self.reader.feed(&chunk[taken..], &mut self.batcher)
    }

    /// The bytes held between chunks: the partial entry's buffer (capacity) and the batch
    /// being built, for the tests that show memory stays bounded.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let partial = match &self.reader {
            Reader::Array(reader) => reader.partial.capacity(),
            Reader::Lines(reader) => reader.partial.capacity(),
            Reader::Csv(reader) => reader.record.capacity(),
        };
        (partial, self.batcher.current.len())
    }
}

/// Collects documents into batches of exactly `size`.
#[derive(Debug)]
struct Batcher {
    size: usize,
    current: Vec<Value>,
    done: Vec<Vec<Value>>,
    seen: u64,
}

impl Batcher {
    fn new(size: usize) -> Batcher {
        Batcher {
            size,
            current: Vec::with_capacity(size.min(MAX_RESERVED_BATCH)),
            done: Vec::new(),
            seen: 0,
        }
    }

    fn add(&mut self, document: Value) {
        self.current.push(document);
        self.seen += 1;
        if self.current.len() == self.size {
            let next = Vec::with_capacity(self.size.min(MAX_RESERVED_BATCH));
            self.done.push(std::mem::replace(&mut self.current, next));
        }
    }

    fn take_done(&mut self) -> Vec<Vec<Value>> {
        std::mem::take(&mut self.done)
    }
}

/// The reader of each format; each keeps its own state between chunks.
#[derive(Debug)]
enum Reader {
    Array(ArrayReader),
    Lines(LinesReader),
    Csv(CsvReader),
}

impl Reader {
    fn feed(&mut self, chunk: &[u8], out: &mut Batcher) -> Result<()> {
        match self {
            Reader::Array(reader) => reader.feed(chunk, out),
            Reader::Lines(reader) => reader.feed(chunk, out),
            Reader::Csv(reader) => reader.feed(chunk, out),
        }
    }

    fn finish(&mut self, out: &mut Batcher) -> Result<()> {
        match self {
            Reader::Array(reader) => reader.finish(),
            Reader::Lines(reader) => reader.finish(out),
            Reader::Csv(reader) => reader.finish(out),
        }
    }

    /// Bytes dropped before the reader saw them (a BOM): only byte offsets need them.
    fn skipped(&mut self, bytes: usize) {
        if let Reader::Array(reader) = self {
            reader.offset += bytes as u64;
        }
    }
}

/// A short name of a JSON value's type, for error messages (the same words as the batch
/// parser's).
/// A byte as an error message shows it: the character if printable ASCII, else its value.
fn describe_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}'", byte as char)
    } else {
        format!("byte 0x{byte:02X}")
    }
}

fn check_size(len: usize, at: Position) -> Result<()> {
    if len > MAX_ENTRY_BYTES {
        return Err(ManifestError::TooLarge {
            at,
            limit: MAX_ENTRY_BYTES,
        });
    }
    Ok(())
}

/// Checks a document's shape only: a non-empty string, or an object with a non-empty string
/// `documentId`. Objects pass through unchanged (all keys, in order).
fn check_document(value: Value, at: Position) -> Result<Value> {
    let id = match &value {
        Value::String(id) => id,
        Value::Object(object) => match object.get(DOCUMENT_ID) {
            Some(Value::String(id)) => id,
            Some(other) => {
                let got = kind_of(other);
                return Err(ManifestError::DocumentIdNotString { at, got });
            }
            None => return Err(ManifestError::MissingDocumentId { at }),
        },
        other => {
            let got = kind_of(other);
            return Err(ManifestError::NotADocument { at, got });
        }
    };
    if id.is_empty() {
        return Err(ManifestError::EmptyDocumentId { at });
    }
    Ok(value)
}

/// Parses one element or line and checks its shape.
fn parse_document(bytes: &[u8], at: Position) -> Result<Value> {
    let value = serde_json::from_slice(bytes).map_err(|error| ManifestError::InvalidJson {
        at,
        detail: json_detail(&error, at),
    })?;
    check_document(value, at)
}

/// serde_json's message with its position made relative to what the person looks at: the
/// column of the line, or the line and column within the array element.
fn json_detail(error: &serde_json::Error, at: Position) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text);
    match at {
        Position::Element(_) => format!(
            "{message} at line {} column {} of the element",
            error.line(),
            error.column()
        ),
        _ => format!("{message} at column {}", error.column()),
    }
}

/// Where the JSON array reader is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum ArrayState {
    /// Before the opening `[`.
    #[default]
    BeforeArray,
    /// After `[` or `,`: an element or (after `[` only) `]` comes next.
    BeforeElement,
    /// Inside an element, until a `,` or `]` outside any string and nesting.
    InElement,
    /// After the closing `]`: only whitespace may follow.
    AfterArray,
}

/// Finds the top-level elements of a JSON array itself (strings, escapes and nesting are
/// tracked byte by byte, so chunk boundaries do not matter) and parses each one on its own
/// with serde_json: a streaming JSON parser would be a much larger dependency, and parsing
/// the whole array at once would hold the whole file.
#[derive(Debug, Default)]
struct ArrayReader {
    state: ArrayState,
    /// Nesting depth inside the current element.
    depth: u32,
    in_string: bool,
    /// The previous byte was a backslash inside a string.
    escaped: bool,
    /// The current element's bytes from earlier chunks.
    partial: Vec<u8>,
    /// Index of the current element (elements read so far).
    index: u64,
    /// The last separator read was a `,` (so a `]` now is a trailing comma).
    after_comma: bool,
    /// Bytes of the object before the current chunk.
    offset: u64,
}

impl ArrayReader {
    fn feed(&mut self, chunk: &[u8], out: &mut Batcher) -> Result<()> {
        let mut i = 0;
        while i < chunk.len() {
            i = match self.state {
                ArrayState::BeforeArray => self.open(chunk, i)?,
                ArrayState::BeforeElement => self.before_element(chunk, i)?,
                ArrayState::InElement => self.element(chunk, i, out)?,
                ArrayState::AfterArray => self.after_array(chunk, i)?,
            };
        }
        self.offset += chunk.len() as u64;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        match self.state {
            // Nothing but whitespace: an empty manifest.
            ArrayState::BeforeArray | ArrayState::AfterArray => Ok(()),
            ArrayState::InElement if self.in_string => Err(ManifestError::UnterminatedString {
                at: Position::Element(self.index),
            }),
            ArrayState::BeforeElement | ArrayState::InElement => {
                Err(ManifestError::UnterminatedArray {
                    elements: self.index,
                })
            }
        }
    }

    /// Skips whitespace to the opening `[`; returns where to go on.
    fn open(&mut self, chunk: &[u8], i: usize) -> Result<usize> {
        let Some(at) = skip_whitespace(chunk, i) else {
            return Ok(chunk.len());
        };
        let byte = self.offset + at as u64;
        let got = match chunk[at] {
            b'[' => {
                self.state = ArrayState::BeforeElement;
                return Ok(at + 1);
            }
            b'{' => "an object",
            b'"' => "a string",
            b'-' | b'0'..=b'9' => "a number",
            other => {
                let found = describe_byte(other);
                return Err(ManifestError::MissingArrayStart { byte, found });
            }
        };
        Err(ManifestError::NotAnArray { byte, got })
    }

    /// Skips whitespace to the next element (or the `]` of an empty array).
    fn before_element(&mut self, chunk: &[u8], i: usize) -> Result<usize> {
        let Some(at) = skip_whitespace(chunk, i) else {
            return Ok(chunk.len());
        };
        match chunk[at] {
            b']' if !self.after_comma => {
                self.state = ArrayState::AfterArray;
                Ok(at + 1)
            }
            separator @ (b']' | b',') => Err(ManifestError::MissingElement {
                at: Position::Element(self.index),
                found: describe_byte(separator),
            }),
            _ => {
                self.state = ArrayState::InElement;
                (self.depth, self.in_string, self.escaped) = (0, false, false);
                Ok(at)
            }
        }
    }

    /// Reads the current element up to its `,` or `]`: parses it when complete, keeps the
    /// part in this chunk otherwise.
    fn element(&mut self, chunk: &[u8], start: usize, out: &mut Batcher) -> Result<usize> {
        let at = Position::Element(self.index);
        let Some(end) = self.scan(chunk, start) else {
            check_size(self.partial.len() + chunk.len() - start, at)?;
            self.partial.extend_from_slice(&chunk[start..]);
            return Ok(chunk.len());
        };
        check_size(self.partial.len() + end - start, at)?;
        let bytes = if self.partial.is_empty() {
            &chunk[start..end]
        } else {
            self.partial.extend_from_slice(&chunk[start..end]);
            &self.partial[..]
        };
        let document = parse_document(bytes, at);
        self.partial.clear();
        out.add(document?);
        self.index += 1;
        self.after_comma = chunk[end] == b',';
        self.state = if self.after_comma {
            ArrayState::BeforeElement
        } else {
            ArrayState::AfterArray
        };
        Ok(end + 1)
    }

    /// The position of the `,` or `]` that ends the current element, or `None` if it goes
    /// on past this chunk. Keeps the string/escape/depth state for the next chunk.
    fn scan(&mut self, chunk: &[u8], mut i: usize) -> Option<usize> {
        while i < chunk.len() {
            if self.escaped {
                self.escaped = false;
            } else if self.in_string {
                // The bulk of a manifest is string content: jump to the next quote or escape.
                let special = chunk[i..].iter().position(|&b| b == b'"' || b == b'\\')?;
                i += special;
                self.escaped = chunk[i] == b'\\';
                self.in_string = self.escaped;
            } else {
                match chunk[i] {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b',' | b']' if self.depth == 0 => return Some(i),
                    // A stray `}` at depth 0 is left for serde_json to report.
                    b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                    _ => {}
                }
            }
            i += 1;
        }
        None
    }

    /// After the closing `]`: whitespace only.
    fn after_array(&mut self, chunk: &[u8], i: usize) -> Result<usize> {
        match skip_whitespace(chunk, i) {
            None => Ok(chunk.len()),
            Some(at) => Err(ManifestError::TrailingData {
                byte: self.offset + at as u64,
                found: describe_byte(chunk[at]),
            }),
        }
    }
}

/// The first non-whitespace byte at or after `i`, if any in this chunk.
fn skip_whitespace(chunk: &[u8], i: usize) -> Option<usize> {
    let skipped = chunk[i..].iter().position(|b| !b.is_ascii_whitespace())?;
    Some(i + skipped)
}

/// Splits JSON Lines on `\n` (JSON strings cannot hold a raw newline, so every `\n` ends a
/// line) and parses each non-blank line.
#[derive(Debug, Default)]
struct LinesReader {
    /// The current line's bytes from earlier chunks.
    partial: Vec<u8>,
    /// Lines completed so far.
    lines: u64,
}

impl LinesReader {
    fn feed(&mut self, chunk: &[u8], out: &mut Batcher) -> Result<()> {
        let mut rest = chunk;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            self.end_line(&rest[..newline], out)?;
            rest = &rest[newline + 1..];
        }
        // One more byte for a `\r` that the line's end will strip, so that a line's fate
        // does not depend on where the chunks were cut.
        let at = Position::Line(self.lines + 1);
        check_size((self.partial.len() + rest.len()).saturating_sub(1), at)?;
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    fn finish(&mut self, out: &mut Batcher) -> Result<()> {
        if self.partial.is_empty() {
            return Ok(());
        }
        self.end_line(&[], out)
    }

    /// Completes a line with `tail` (this chunk's part of it) and reads it.
    fn end_line(&mut self, tail: &[u8], out: &mut Batcher) -> Result<()> {
        self.lines += 1;
        let at = Position::Line(self.lines);
        if self.partial.is_empty() {
            return read_line(tail, at, out);
        }
        check_size((self.partial.len() + tail.len()).saturating_sub(1), at)?;
        self.partial.extend_from_slice(tail);
        let result = read_line(&self.partial, at, out);
        self.partial.clear();
        result
    }
}

/// One line of JSON Lines: blank lines are skipped, a `\r` before the `\n` is dropped.
fn read_line(line: &[u8], at: Position, out: &mut Batcher) -> Result<()> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    check_size(line.len(), at)?;
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    out.add(parse_document(line, at)?);
    Ok(())
}

/// Where the CSV reader is within a field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum CsvState {
    /// At the first byte of a field.
    #[default]
    FieldStart,
    /// In a field that did not start with a quote (a quote inside it is kept as text).
    Unquoted,
    /// In a quoted field.
    Quoted,
    /// Just after a quote in a quoted field: a second quote is a literal one, anything else
    /// closes the field.
    QuoteInQuoted,
}

/// The columns a CSV manifest's header names, as indices into a row.
#[derive(Debug)]
struct Columns {
    document_id: usize,
    /// The attribute columns present, in header order.
    attributes: Vec<(&'static str, usize)>,
}

/// An RFC 4180 reader: fields separated by `,`, rows by `\r\n`, `\n` or `\r`; quoted fields
/// may hold commas, newlines and doubled quotes. Blank lines (nothing or only whitespace, not
/// quoted) are skipped, as in JSON Lines; they still count as rows, so row numbers match what
/// an editor shows.
#[derive(Debug, Default)]
struct CsvReader {
    state: CsvState,
    /// The last row ended on `\r`: a `\n` right after it is part of the same row end.
    after_cr: bool,
    /// The current row's field bytes, back to back.
    record: Vec<u8>,
    /// Where each completed field of the current row ends in `record`.
    ends: Vec<usize>,
    /// The current row has a quoted field (so `""` alone is not an empty line).
    quoted: bool,
    /// Rows completed so far.
    rows: u64,
    /// Read from the header row; `None` until then.
    columns: Option<Columns>,
}

impl CsvReader {
    fn feed(&mut self, chunk: &[u8], out: &mut Batcher) -> Result<()> {
        let mut i = 0;
        while i < chunk.len() {
            i = match self.state {
                CsvState::FieldStart => self.field_start(chunk[i], i),
                CsvState::Unquoted => self.unquoted(chunk, i, out)?,
                CsvState::Quoted => self.quoted(chunk, i)?,
                CsvState::QuoteInQuoted => self.after_quote(chunk[i], i, out)?,
            };
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Batcher) -> Result<()> {
        match self.state {
            CsvState::Quoted => Err(ManifestError::UnterminatedQuotedField {
                at: self.current_row(),
            }),
            // The input ended with a row end (or was empty).
            CsvState::FieldStart if self.ends.is_empty() => Ok(()),
            _ => self.end_field(b'\n', out),
        }
    }

    fn current_row(&self) -> Position {
        Position::Row(self.rows + 1)
    }

    fn field_start(&mut self, byte: u8, i: usize) -> usize {
        if std::mem::take(&mut self.after_cr) && byte == b'\n' {
            return i + 1;
        }
        if byte == b'"' {
            self.state = CsvState::Quoted;
            self.quoted = true;
            i + 1
        } else {
            self.state = CsvState::Unquoted;
            i
        }
    }

    fn unquoted(&mut self, chunk: &[u8], i: usize, out: &mut Batcher) -> Result<usize> {
        let rest = &chunk[i..];
        match rest.iter().position(|&b| matches!(b, b',' | b'\n' | b'\r')) {
            None => {
                self.append(rest)?;
                Ok(chunk.len())
            }
            Some(n) => {
                self.append(&rest[..n])?;
                self.end_field(rest[n], out)?;
                Ok(i + n + 1)
            }
        }
    }

    fn quoted(&mut self, chunk: &[u8], i: usize) -> Result<usize> {
        let rest = &chunk[i..];
        match rest.iter().position(|&b| b == b'"') {
            None => {
                self.append(rest)?;
                Ok(chunk.len())
            }
            Some(n) => {
                self.append(&rest[..n])?;
                self.state = CsvState::QuoteInQuoted;
                Ok(i + n + 1)
            }
        }
    }

    fn after_quote(&mut self, byte: u8, i: usize, out: &mut Batcher) -> Result<usize> {
        match byte {
            b'"' => {
                self.append(b"\"")?;
                self.state = CsvState::Quoted;
            }
            b',' | b'\n' | b'\r' => self.end_field(byte, out)?,
            other => {
                return Err(ManifestError::TextAfterClosingQuote {
                    at: self.current_row(),
                    found: describe_byte(other),
                });
            }
        }
        Ok(i + 1)
    }

    /// Adds field bytes, within the row size limit (content plus one byte per separator).
    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        let len = self.record.len() + self.ends.len() + bytes.len();
        check_size(len, self.current_row())?;
        self.record.extend_from_slice(bytes);
        Ok(())
    }

    /// Ends the current field on `delimiter`, and the row too unless it is a comma.
    fn end_field(&mut self, delimiter: u8, out: &mut Batcher) -> Result<()> {
        self.append(&[])?;
        self.ends.push(self.record.len());
        self.state = CsvState::FieldStart;
        if delimiter == b',' {
            return Ok(());
        }
        self.after_cr = delimiter == b'\r';
        self.end_row(out)
    }

    /// Reads the completed row: the header first, documents after it.
    fn end_row(&mut self, out: &mut Batcher) -> Result<()> {
        self.rows += 1;
        let at = Position::Row(self.rows);
        let empty_line =
            self.ends.len() == 1 && !self.quoted && self.record.iter().all(u8::is_ascii_whitespace);
        let result = match &self.columns {
            _ if empty_line => Ok(()),
            None => read_header(&self.record, &self.ends, at).map(|c| self.columns = Some(c)),
            Some(columns) => read_row(&self.record, &self.ends, columns, at).map(|d| out.add(d)),
        };
        self.record.clear();
        self.ends.clear();
        self.quoted = false;
        result
    }
}

/// Field `index` of a row, or `None` if the row is shorter.
fn field<'r>(record: &'r [u8], ends: &[usize], index: usize) -> Option<&'r [u8]> {
    let end = *ends.get(index)?;
    let start = index.checked_sub(1).map_or(0, |previous| ends[previous]);
    Some(&record[start..end])
}

fn text(bytes: &[u8], at: Position, field: impl FnOnce() -> String) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|_| ManifestError::InvalidUtf8 { at, field: field() })
}

/// Finds the columns this module reads (names trimmed, matched without regard to case, so
/// `DocumentId` as Kendra's own API spells it works too); other columns are ignored.
fn read_header(record: &[u8], ends: &[usize], at: Position) -> Result<Columns> {
    let mut names = Vec::with_capacity(ends.len());
    for index in 0..ends.len() {
        let raw = field(record, ends, index).unwrap_or_default();
        names.push(text(raw, at, || "the header".to_string())?.trim());
    }
    let mut document_id = None;
    let mut attributes: Vec<(&'static str, usize)> = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let known = std::iter::once(DOCUMENT_ID)
            .chain(ATTRIBUTE_COLUMNS)
            .find(|known| known.eq_ignore_ascii_case(name));
        let duplicate = match known {
            None => false,
            Some(DOCUMENT_ID) => document_id.replace(index).is_some(),
            Some(known) => {
                let seen = attributes.iter().any(|(name, _)| *name == known);
                attributes.push((known, index));
                seen
            }
        };
        if let (true, Some(name)) = (duplicate, known) {
            return Err(ManifestError::DuplicateColumn { at, name });
        }
    }
    let Some(document_id) = document_id else {
        let header = shorten(&names.join(","), 200);
        return Err(ManifestError::MissingDocumentIdColumn { at, header });
    };
    Ok(Columns {
        document_id,
        attributes,
    })
}

/// One CSV document: a plain string id, or an object when an attribute column is non-empty.
/// A row shorter than the header has empty fields for the missing columns.
fn read_row(record: &[u8], ends: &[usize], columns: &Columns, at: Position) -> Result<Value> {
    let raw = field(record, ends, columns.document_id).unwrap_or_default();
    let id = text(raw, at, || format!("the {DOCUMENT_ID} field"))?;
    if id.is_empty() {
        return Err(ManifestError::EmptyDocumentId { at });
    }
    let mut attributes = Map::new();
    for &(name, index) in &columns.attributes {
        let raw = field(record, ends, index).unwrap_or_default();
        if !raw.is_empty() {
            let value = text(raw, at, || format!("the {name} field"))?;
            attributes.insert(name.to_string(), Value::String(value.to_string()));
        }
    }
    if attributes.is_empty() {
        return Ok(Value::String(id.to_string()));
    }
    let mut document = Map::new();
    document.insert(DOCUMENT_ID.to_string(), Value::String(id.to_string()));
    document.insert("attributes".to_string(), Value::Object(attributes));
    Ok(Value::Object(document))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ManifestFormat::{Csv, JsonArray, JsonLines};
    use serde_json::json;

    const FORMATS: [ManifestFormat; 3] = [JsonArray, JsonLines, Csv];

    /// Feeds `input` in chunks whose sizes `next_len` picks (0 pushes an empty chunk), checks
    /// the batch sizes on the way, and returns every batch.
    fn split_with(
        format: ManifestFormat,
        batch_size: usize,
        input: &[u8],
        mut next_len: impl FnMut() -> usize,
    ) -> Result<Vec<Vec<Value>>> {
        let mut splitter = ManifestSplitter::new(format, batch_size);
        let mut batches = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let n = next_len().min(rest.len());
            let completed = splitter.push(&rest[..n])?;
            assert!(completed.iter().all(|batch| batch.len() == batch_size));
            batches.extend(completed);
            rest = &rest[n..];
        }
        let seen = splitter.documents_seen();
        let last = splitter.finish()?;
        assert!(last.len() <= 1, "finish returns at most one batch");
        assert!(last.iter().all(|b| (1..=batch_size).contains(&b.len())));
        batches.extend(last);
        let total = batches.iter().map(Vec::len).sum::<usize>() as u64;
        // finish may add the last line or row (one with no newline after it).
        assert!(total == seen || total == seen + 1, "{total} vs {seen}");
        Ok(batches)
    }

    /// The documents of `input` fed whole, in one list.
    fn documents(format: ManifestFormat, input: &[u8]) -> Result<Vec<Value>> {
        let batches = split_with(format, 1000, input, || usize::MAX)?;
        Ok(batches.into_iter().flatten().collect())
    }

    /// JSON text of `value`, which (unlike `Value`'s `==`) tells object key order apart.
    fn text_of(values: &[Value]) -> String {
        serde_json::to_string(values).unwrap()
    }

    fn list(value: Value) -> Vec<Value> {
        match value {
            Value::Array(items) => items,
            other => panic!("not a list: {other}"),
        }
    }

    #[test]
    fn the_key_extension_names_the_format() {
        assert_eq!(
            ManifestFormat::from_key("in/manifest.json"),
            Some(JsonArray)
        );
        assert_eq!(
            ManifestFormat::from_key("a.b/MANIFEST.JSON"),
            Some(JsonArray)
        );
        assert_eq!(ManifestFormat::from_key("x.jsonl"), Some(JsonLines));
        assert_eq!(ManifestFormat::from_key("x.NDJSON"), Some(JsonLines));
        assert_eq!(ManifestFormat::from_key("2024/x.Csv"), Some(Csv));
        assert_eq!(ManifestFormat::from_key("x.json.gz"), None);
        assert_eq!(ManifestFormat::from_key("dir.json/manifest"), None);
        assert_eq!(ManifestFormat::from_key("manifest"), None);
        assert_eq!(ManifestFormat::from_key(""), None);
    }

    #[test]
    fn sniffing_reads_the_first_non_whitespace_byte() {
        assert_eq!(ManifestFormat::sniff(b"  \r\n [\"a\"]"), JsonArray);
        assert_eq!(ManifestFormat::sniff(b"\xEF\xBB\xBF["), JsonArray);
        assert_eq!(ManifestFormat::sniff(b"\n{\"documentId\""), JsonLines);
        assert_eq!(
            ManifestFormat::sniff(b"\xEF\xBB\xBF \"doc-1\"\n"),
            JsonLines
        );
        assert_eq!(ManifestFormat::sniff(b"documentId,version"), Csv);
        assert_eq!(ManifestFormat::sniff(b"\xEF\xBB\xBFdocumentId"), Csv);
        assert_eq!(ManifestFormat::sniff(b""), Csv);
        assert_eq!(ManifestFormat::sniff(b"   "), Csv);
    }

    #[test]
    fn formats_have_stable_names() {
        let names = FORMATS.map(|format| format.as_str());
        assert_eq!(names, ["json-array", "json-lines", "csv"]);
    }

    #[test]
    fn a_json_array_passes_its_elements_through_as_written() {
        let input = "\u{feff} [\r\n  \"doc-1\",\r\n  {\"note\": [1, {\"s\": \"]},\\\"[\"}], \
            \"documentId\": \"doc-2\", \"attributes\": {\"version\": \"3\", \"n\": 4, \
            \"tags\": [\"a\", \"b\"]}},\n\"日本語/😀\", {\"documentId\": \"\\u00e9\\\\\\\"\"}\n]\n";
        let expected = json!([
            "doc-1",
            {"note": [1, {"s": "]},\"["}], "documentId": "doc-2",
             "attributes": {"version": "3", "n": 4, "tags": ["a", "b"]}},
            "日本語/😀",
            {"documentId": "é\\\""},
        ]);
        let documents = documents(JsonArray, input.as_bytes()).unwrap();
        assert_eq!(text_of(&documents), text_of(&list(expected)));
    }

    #[test]
    fn json_lines_skip_blank_lines_and_take_crlf() {
        let input = "\u{feff}\"doc-1\"\r\n\r\n   \n{\"documentId\": \"doc-2\", \"attributes\": \
            {\"version\": 3}, \"x\": null}\r\n\t\"ünï/😀\"  \n{\"documentId\":\"last\"}";
        let expected = json!([
            "doc-1",
            {"documentId": "doc-2", "attributes": {"version": 3}, "x": null},
            "ünï/😀",
            {"documentId": "last"},
        ]);
        let documents = documents(JsonLines, input.as_bytes()).unwrap();
        assert_eq!(text_of(&documents), text_of(&list(expected)));
    }

    #[test]
    fn csv_rows_become_ids_or_objects_with_attributes() {
        let input = "\u{feff}note,DocumentId,version,\"datasourceId\",jobExecutionId\r\n\
            x,doc-1,,,\r\n\
            \"a, b\",\"doc,2\",7,,\r\n\
            \r\n\
            ,\"multi\nline \"\"quoted\"\" id\",\"\",ds-1,job-1\n\
            y,日本/😀,\"v\r\n2\"\n\
            z,say \"hi\",,,\n\
            ,short";
        let expected = json!([
            "doc-1",
            {"documentId": "doc,2", "attributes": {"version": "7"}},
            {"documentId": "multi\nline \"quoted\" id",
             "attributes": {"datasourceId": "ds-1", "jobExecutionId": "job-1"}},
            {"documentId": "日本/😀", "attributes": {"version": "v\r\n2"}},
            "say \"hi\"",
            "short",
        ]);
        let documents = documents(Csv, input.as_bytes()).unwrap();
        assert_eq!(text_of(&documents), text_of(&list(expected)));
    }

    #[test]
    fn csv_rows_may_end_with_a_lone_cr_and_fields_may_be_quoted_empty() {
        let input = b"documentId,version\ra,\"\"\rb,1";
        let expected = json!(["a", {"documentId": "b", "attributes": {"version": "1"}}]);
        assert_eq!(documents(Csv, input).unwrap(), list(expected));
    }

    #[test]
    fn empty_manifests_give_no_batch_in_any_format() {
        let empty: [&[u8]; 5] = [b"", b"  \r\n", b"\xEF\xBB\xBF", b"\xEF\xBB\xBF\n\n", b"\n"];
        for format in FORMATS {
            for input in empty {
                assert_eq!(documents(format, input).unwrap(), Vec::<Value>::new());
            }
        }
        assert!(
            documents(JsonArray, b"\xEF\xBB\xBF [ \n ] \n")
                .unwrap()
                .is_empty()
        );
        assert!(
            documents(Csv, b"documentId,version\r\n")
                .unwrap()
                .is_empty()
        );
        assert!(documents(Csv, b"\n\ndocumentId\n\n").unwrap().is_empty());
    }

    #[test]
    fn batches_are_exactly_batch_size_and_the_rest_comes_in_finish() {
        let ids: Vec<String> = (0..23).map(|n| format!("doc-{n}")).collect();
        let input = format!("{}\n", ids.join("\n"));
        for batch_size in [1, 2, 5, 22, 23, 24, 1_000_000_000] {
            let mut splitter = ManifestSplitter::new(Csv, batch_size);
            let input = format!("documentId\n{input}");
            let mut sizes = Vec::new();
            for chunk in input.as_bytes().chunks(7) {
                sizes.extend(splitter.push(chunk).unwrap().iter().map(Vec::len));
            }
            assert!(sizes.iter().all(|&size| size == batch_size));
            assert_eq!(splitter.documents_seen(), 23);
            let last: Vec<usize> = splitter.finish().unwrap().iter().map(Vec::len).collect();
            let expected_last = match 23 % batch_size {
                0 => vec![],
                rest => vec![rest],
            };
            assert_eq!(last, expected_last, "batch size {batch_size}");
            assert_eq!(sizes.len() * batch_size + last.iter().sum::<usize>(), 23);
        }
    }

    #[test]
    fn documents_come_out_in_order_across_batches() {
        let input = b"[\"a\",\"b\",\"c\",\"d\",\"e\"]";
        let batches = split_with(JsonArray, 2, input, || 3).unwrap();
        assert_eq!(
            batches,
            vec![
                vec![json!("a"), json!("b")],
                vec![json!("c"), json!("d")],
                vec![json!("e")],
            ]
        );
    }

    #[test]
    fn a_batch_size_of_zero_counts_as_one() {
        let mut splitter = ManifestSplitter::new(Csv, 0);
        let batches = splitter.push(b"documentId\na\nb\n").unwrap();
        assert_eq!(batches, vec![vec![json!("a")], vec![json!("b")]]);
    }

    /// splitmix64: a small seeded generator, so every run tests the same inputs.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn one_in(&mut self, n: usize) -> bool {
            self.below(n) == 0
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())]
        }
    }

    /// Characters that stress every format: separators, quotes, escapes, brackets, controls,
    /// and 2-, 3- and 4-byte UTF-8 (so chunk boundaries fall inside characters).
    const CHARS: &[char] = &[
        'a', 'b', 'Z', '0', '7', '-', '_', '/', '.', ' ', ',', ';', '"', '\\', '\'', '{', '}', '[',
        ']', ':', 'é', 'ß', '日', '本', '😀', '\u{2028}', '\t', '\n', '\r', '\u{1}',
    ];

    fn random_text(rng: &mut Rng, min_len: usize) -> String {
        let len = min_len + rng.below(10);
        (0..len).map(|_| rng.pick(CHARS)).collect()
    }

    /// A document in either form, objects with attributes of every type and extra keys.
    fn random_json_document(rng: &mut Rng) -> Value {
        let id = random_text(rng, 1);
        if rng.one_in(2) {
            return Value::String(id);
        }
        let mut object = Map::new();
        if rng.one_in(4) {
            object.insert("note".into(), json!({"n": [1, {"s": "]},\"["}], "m": -3}));
        }
        object.insert("documentId".into(), Value::String(id));
        if !rng.one_in(3) {
            let mut attributes = Map::new();
            if rng.one_in(2) {
                let number = rng.below(1000);
                attributes.insert("version".into(), json!(number));
            }
            if rng.one_in(2) {
                attributes.insert("datasourceId".into(), json!(random_text(rng, 1)));
                attributes.insert("jobExecutionId".into(), json!(random_text(rng, 0)));
            }
            if rng.one_in(3) {
                let tags = json!([random_text(rng, 0), random_text(rng, 0)]);
                attributes.insert("tags".into(), tags);
            }
            object.insert("attributes".into(), Value::Object(attributes));
        }
        if rng.one_in(5) {
            object.insert("extra".into(), json!([null, true, 2.5, {}]));
        }
        Value::Object(object)
    }

    fn whitespace(rng: &mut Rng, newlines: bool, out: &mut String) {
        let pool: &[&str] = if newlines {
            &[" ", "\t", "\n", "\r\n"]
        } else {
            &[" ", "\t"]
        };
        for _ in 0..rng.below(3) {
            out.push_str(rng.pick(pool));
        }
    }

    /// A JSON string with random escapes (`\uXXXX`, surrogate pairs, `\/`), so chunk
    /// boundaries fall inside escapes too.
    fn render_string(text: &str, rng: &mut Rng, out: &mut String) {
        use std::fmt::Write as _;
        out.push('"');
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' if rng.one_in(2) => out.push_str("\\n"),
                '/' if rng.one_in(2) => out.push_str("\\/"),
                c if (c as u32) < 0x20 || rng.one_in(6) => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        write!(out, "\\u{unit:04X}").unwrap();
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    /// JSON text of `value` with random whitespace (no newlines for JSON Lines).
    fn render(value: &Value, rng: &mut Rng, newlines: bool, out: &mut String) {
        match value {
            Value::String(text) => render_string(text, rng, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i > 0 { "," } else { "" });
                    whitespace(rng, newlines, out);
                    render(item, rng, newlines, out);
                    whitespace(rng, newlines, out);
                }
                out.push(']');
            }
            Value::Object(object) => {
                out.push('{');
                for (i, (key, item)) in object.iter().enumerate() {
                    out.push_str(if i > 0 { "," } else { "" });
                    whitespace(rng, newlines, out);
                    render_string(key, rng, out);
                    whitespace(rng, newlines, out);
                    out.push(':');
                    whitespace(rng, newlines, out);
                    render(item, rng, newlines, out);
                    whitespace(rng, newlines, out);
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    fn random_bom(rng: &mut Rng, out: &mut String) {
        if rng.one_in(3) {
            out.push('\u{feff}');
        }
    }

    fn json_array_manifest(documents: &[Value], rng: &mut Rng) -> String {
        let mut out = String::new();
        random_bom(rng, &mut out);
        whitespace(rng, true, &mut out);
        render(&Value::Array(documents.to_vec()), rng, true, &mut out);
        whitespace(rng, true, &mut out);
        out
    }

    fn json_lines_manifest(documents: &[Value], rng: &mut Rng) -> String {
        let mut out = String::new();
        random_bom(rng, &mut out);
        for (i, document) in documents.iter().enumerate() {
            while rng.one_in(4) {
                out.push_str(rng.pick(&["", "  ", "\t \r"]));
                out.push_str(rng.pick(&["\n", "\r\n"]));
            }
            whitespace(rng, false, &mut out);
            render(document, rng, false, &mut out);
            whitespace(rng, false, &mut out);
            if i + 1 < documents.len() || rng.one_in(2) {
                out.push_str(rng.pick(&["\n", "\r\n"]));
            }
        }
        out
    }

    /// A CSV field, quoted when it must be (and at random otherwise); a quote inside an
    /// otherwise plain field is sometimes left bare, which the reader keeps as text.
    fn csv_field(text: &str, rng: &mut Rng, out: &mut String) {
        let must = text.contains([',', '\n', '\r']) || text.starts_with('"');
        let should = text.contains('"') && !rng.one_in(4);
        if must || should || rng.one_in(4) {
            out.push('"');
            out.push_str(&text.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(text);
        }
    }

    /// A CSV manifest of `count` random rows and the documents it must give.
    fn csv_manifest(count: usize, rng: &mut Rng) -> (String, Vec<Value>) {
        let mut columns = vec![DOCUMENT_ID, "note"];
        columns.extend(ATTRIBUTE_COLUMNS.iter().filter(|_| rng.one_in(2)));
        for i in (1..columns.len()).rev() {
            columns.swap(i, rng.below(i + 1));
        }
        let mut out = String::new();
        random_bom(rng, &mut out);
        let header: Vec<String> = columns
            .iter()
            .map(|&c| {
                if rng.one_in(3) {
                    c.to_uppercase()
                } else {
                    c.into()
                }
            })
            .collect();
        csv_row(&header, rng, &mut out);
        let mut expected = Vec::with_capacity(count);
        for i in 0..count {
            let (row, document) = random_csv_row(&columns, rng);
            csv_row(&row, rng, &mut out);
            expected.push(document);
            if i + 1 == count && rng.one_in(2) {
                out.truncate(out.trim_end_matches(['\n', '\r']).len());
            }
        }
        (out, expected)
    }

    fn csv_row(fields: &[String], rng: &mut Rng, out: &mut String) {
        while rng.one_in(5) {
            out.push_str(rng.pick(&["\n", "\r\n", "  \n"]));
        }
        for (i, field) in fields.iter().enumerate() {
            out.push_str(if i > 0 { "," } else { "" });
            csv_field(field, rng, out);
        }
        out.push_str(rng.pick(&["\n", "\r\n"]));
    }

    fn random_csv_row(columns: &[&'static str], rng: &mut Rng) -> (Vec<String>, Value) {
        let id = random_text(rng, 1);
        let mut attributes = Map::new();
        let mut row = Vec::with_capacity(columns.len());
        for &column in columns {
            let value = match column {
                DOCUMENT_ID => id.clone(),
                "note" => random_text(rng, 0),
                _ if rng.one_in(2) => String::new(),
                _ => random_text(rng, 1),
            };
            if ATTRIBUTE_COLUMNS.contains(&column) && !value.is_empty() {
                attributes.insert(column.to_string(), json!(value));
            }
            row.push(value);
        }
        let document = if attributes.is_empty() {
            json!(id)
        } else {
            json!({"documentId": id, "attributes": attributes})
        };
        (row, document)
    }

    fn random_manifest(format: ManifestFormat, rng: &mut Rng) -> (String, Vec<Value>) {
        let count = rng.below(25);
        if format == Csv {
            return csv_manifest(count, rng);
        }
        let documents: Vec<Value> = (0..count).map(|_| random_json_document(rng)).collect();
        let input = match format {
            JsonArray => json_array_manifest(&documents, rng),
            _ => json_lines_manifest(&documents, rng),
        };
        (input, documents)
    }

    /// The property: for many random manifests, the documents come out as written, and the
    /// batches are the same whether the input comes whole, byte by byte, or cut at random
    /// (inside UTF-8 characters, escapes, quoted fields, `\r\n` and the BOM).
    #[test]
    fn chunk_boundaries_never_change_the_batches() {
        let mut rng = Rng(0x5EED_CAFE);
        for case in 0..600 {
            let format = FORMATS[case % 3];
            let (input, expected) = random_manifest(format, &mut rng);
            let context = || format!("case {case} ({}): {input:?}", format.as_str());
            let batch_size = 1 + rng.below(7);
            let whole = split_with(format, batch_size, input.as_bytes(), || usize::MAX)
                .unwrap_or_else(|e| panic!("{e}\n{}", context()));
            let flat: Vec<Value> = whole.iter().flatten().cloned().collect();
            assert_eq!(text_of(&flat), text_of(&expected), "{}", context());
            for chunking in 0..4 {
                let mut next_len = || match chunking {
                    0 => 1,
                    1 => rng.below(4),
                    2 => 1 + rng.below(64),
                    _ => 1 + rng.below(2000),
                };
                let chunked = split_with(format, batch_size, input.as_bytes(), &mut next_len)
                    .unwrap_or_else(|e| panic!("chunking {chunking}: {e}\n{}", context()));
                assert_eq!(chunked, whole, "chunking {chunking}: {}", context());
            }
            // A CSV whose first header field is quoted sniffs as JSON Lines (the rule as
            // specified: its key's .csv extension decides instead).
            let quoted_csv = input
                .trim_start_matches('\u{feff}')
                .trim_start()
                .starts_with('"');
            let unsniffable = expected.is_empty() || (format == Csv && quoted_csv);
            if !unsniffable {
                assert_eq!(
                    ManifestFormat::sniff(input.as_bytes()),
                    format,
                    "{}",
                    context()
                );
            }
        }
    }

    /// Every error, found the same whether the input comes whole or byte by byte, and its
    /// message naming the position and what was expected.
    fn assert_error(format: ManifestFormat, input: &[u8], expected: ManifestError, at: &str) {
        let whole = split_with(format, 2, input, || usize::MAX).unwrap_err();
        let bytewise = split_with(format, 2, input, || 1).unwrap_err();
        assert_eq!(whole, expected, "{:?}", String::from_utf8_lossy(input));
        assert_eq!(bytewise, expected, "{:?}", String::from_utf8_lossy(input));
        let message = expected.to_string();
        assert!(
            message.starts_with(at),
            "{message:?} should start with {at:?}"
        );
        assert!(
            message.contains("expected"),
            "{message:?} should say what is expected"
        );
    }

    #[test]
    fn document_shape_errors_name_the_element_line_or_row() {
        use ManifestError::*;
        let (e, l, r) = (Position::Element, Position::Line, Position::Row);
        let cases: Vec<(ManifestFormat, &[u8], ManifestError, &str)> = vec![
            (
                JsonArray,
                br#"["a", 3]"#,
                NotADocument {
                    at: e(1),
                    got: "a number",
                },
                "manifest[1]:",
            ),
            (
                JsonArray,
                br#"[["a"]]"#,
                NotADocument {
                    at: e(0),
                    got: "a list",
                },
                "manifest[0]:",
            ),
            (
                JsonLines,
                b"\"a\"\n\ntrue\n",
                NotADocument {
                    at: l(3),
                    got: "a boolean",
                },
                "manifest line 3:",
            ),
            (
                JsonLines,
                b"null",
                NotADocument {
                    at: l(1),
                    got: "null",
                },
                "manifest line 1:",
            ),
            (
                JsonArray,
                br#"["a", {"id": "b"}]"#,
                MissingDocumentId { at: e(1) },
                "manifest[1]:",
            ),
            (
                JsonLines,
                b"\r\n{\"DocumentId\": \"b\"}",
                MissingDocumentId { at: l(2) },
                "manifest line 2:",
            ),
            (
                JsonArray,
                br#"[{"documentId": 7}]"#,
                DocumentIdNotString {
                    at: e(0),
                    got: "a number",
                },
                "manifest[0]:",
            ),
            (
                JsonLines,
                b"{\"documentId\": null}",
                DocumentIdNotString {
                    at: l(1),
                    got: "null",
                },
                "manifest line 1:",
            ),
            (
                JsonArray,
                br#"["a", ""]"#,
                EmptyDocumentId { at: e(1) },
                "manifest[1]:",
            ),
            (
                JsonArray,
                br#"[{"documentId": ""}]"#,
                EmptyDocumentId { at: e(0) },
                "manifest[0]:",
            ),
            (
                JsonLines,
                b"\"a\"\n\"\"\n",
                EmptyDocumentId { at: l(2) },
                "manifest line 2:",
            ),
            (
                Csv,
                b"documentId,version\na,1\n,2\n",
                EmptyDocumentId { at: r(3) },
                "manifest row 3:",
            ),
            // A quoted newline does not start a row; a quoted empty field is not a blank line.
            (
                Csv,
                b"documentId\n\"a\nb\"\n\"\"\n",
                EmptyDocumentId { at: r(3) },
                "manifest row 3:",
            ),
            (
                Csv,
                b"version,documentId\n1\n",
                EmptyDocumentId { at: r(2) },
                "manifest row 2:",
            ),
        ];
        for (format, input, expected, at) in cases {
            assert_error(format, input, expected, at);
        }
    }

    #[test]
    fn invalid_json_names_the_element_or_line_and_the_column() {
        let cases: [(ManifestFormat, &[u8], Position, &str); 4] = [
            (
                JsonArray,
                b"[\"a\", nope]",
                Position::Element(1),
                "at line 1 column 2 of the element",
            ),
            (
                JsonArray,
                b"[\"a\" \"b\"]",
                Position::Element(0),
                "trailing characters",
            ),
            (
                JsonLines,
                b"\"a\"\n{oops}\n",
                Position::Line(2),
                "key must be a string at column 2",
            ),
            (
                JsonLines,
                b"\"a\"\r\n\"b",
                Position::Line(2),
                "EOF while parsing a string",
            ),
        ];
        for (format, input, position, detail) in cases {
            let error = split_with(format, 1, input, || 1).unwrap_err();
            let ManifestError::InvalidJson { at, detail: got } = &error else {
                panic!("{error:?}");
            };
            assert_eq!(*at, position);
            assert!(got.contains(detail), "{got:?} should contain {detail:?}");
            assert_eq!(
                split_with(format, 1, input, || usize::MAX).unwrap_err(),
                error
            );
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("{position}: not valid JSON (")),
                "{message}"
            );
        }
    }

    #[test]
    fn json_array_structure_errors_name_the_byte_or_element() {
        use ManifestError::*;
        let found = |s: &str| s.to_string();
        let cases: Vec<(&[u8], ManifestError, &str)> = vec![
            (
                br#" {"documentId": "a"}"#,
                NotAnArray {
                    byte: 1,
                    got: "an object",
                },
                "manifest byte 1:",
            ),
            (
                b"\xEF\xBB\xBF\"a\"",
                NotAnArray {
                    byte: 3,
                    got: "a string",
                },
                "manifest byte 3:",
            ),
            (
                b"42",
                NotAnArray {
                    byte: 0,
                    got: "a number",
                },
                "manifest byte 0:",
            ),
            (
                b"\n\ndocumentId\na\n",
                MissingArrayStart {
                    byte: 2,
                    found: found("'d'"),
                },
                "manifest byte 2:",
            ),
            (
                b"\xEF\xBB",
                MissingArrayStart {
                    byte: 0,
                    found: found("byte 0xEF"),
                },
                "manifest byte 0:",
            ),
            (
                br#"["a",,"b"]"#,
                MissingElement {
                    at: Position::Element(1),
                    found: found("','"),
                },
                "manifest[1]:",
            ),
            (
                br#"["a", ]"#,
                MissingElement {
                    at: Position::Element(1),
                    found: found("']'"),
                },
                "manifest[1]:",
            ),
            (
                b"[,]",
                MissingElement {
                    at: Position::Element(0),
                    found: found("','"),
                },
                "manifest[0]:",
            ),
            (
                b"[\"a\"]\n x",
                TrailingData {
                    byte: 7,
                    found: found("'x'"),
                },
                "manifest byte 7:",
            ),
            (
                b"[][]",
                TrailingData {
                    byte: 2,
                    found: found("'['"),
                },
                "manifest byte 2:",
            ),
            (
                b"[\"a\", \"b\"",
                UnterminatedArray { elements: 1 },
                "manifest[1]:",
            ),
            (
                b"[\"a\", \"b\",",
                UnterminatedArray { elements: 2 },
                "manifest[2]:",
            ),
            (b" [ ", UnterminatedArray { elements: 0 }, "manifest[0]:"),
            (
                br#"["a", {"documentId": "b"}"#,
                UnterminatedArray { elements: 1 },
                "manifest[1]:",
            ),
            (
                b"[\"a\", \"b\\\"]",
                UnterminatedString {
                    at: Position::Element(1),
                },
                "manifest[1]:",
            ),
            (
                br#"[{"documentId": "a"#,
                UnterminatedString {
                    at: Position::Element(0),
                },
                "manifest[0]:",
            ),
        ];
        for (input, expected, at) in cases {
            assert_error(JsonArray, input, expected, at);
        }
    }

    #[test]
    fn csv_errors_name_the_row() {
        use ManifestError::*;
        let r = Position::Row;
        let text = |s: &str| s.to_string();
        let cases: Vec<(&[u8], ManifestError, &str)> = vec![
            (
                b"id,version\na,1\n",
                MissingDocumentIdColumn {
                    at: r(1),
                    header: text("id,version"),
                },
                "manifest row 1:",
            ),
            (
                b"\n\"doc id\"\n",
                MissingDocumentIdColumn {
                    at: r(2),
                    header: text("doc id"),
                },
                "manifest row 2:",
            ),
            (
                b"documentId, DOCUMENTID\n",
                DuplicateColumn {
                    at: r(1),
                    name: "documentId",
                },
                "manifest row 1:",
            ),
            (
                b"version,documentId,Version\n",
                DuplicateColumn {
                    at: r(1),
                    name: "version",
                },
                "manifest row 1:",
            ),
            (
                b"documentId\na\n\"b\nc\n",
                UnterminatedQuotedField { at: r(3) },
                "manifest row 3:",
            ),
            (
                b"documentId\r\n\"a\"b\r\n",
                TextAfterClosingQuote {
                    at: r(2),
                    found: text("'b'"),
                },
                "manifest row 2:",
            ),
            (
                b"documentId\n\"a\" \n",
                TextAfterClosingQuote {
                    at: r(2),
                    found: text("byte 0x20"),
                },
                "manifest row 2:",
            ),
            (
                b"docum\xFFentId\n",
                InvalidUtf8 {
                    at: r(1),
                    field: text("the header"),
                },
                "manifest row 1:",
            ),
            (
                b"documentId\na\n\xFF\n",
                InvalidUtf8 {
                    at: r(3),
                    field: text("the documentId field"),
                },
                "manifest row 3:",
            ),
            (
                b"documentId,version\na,\xC3",
                InvalidUtf8 {
                    at: r(2),
                    field: text("the version field"),
                },
                "manifest row 2:",
            ),
        ];
        for (input, expected, at) in cases {
            assert_error(Csv, input, expected, at);
        }
    }

    #[test]
    fn an_entry_over_one_mib_is_an_error_in_every_format() {
        use ManifestError::TooLarge;
        let big = "x".repeat(MAX_ENTRY_BYTES);
        let limit = MAX_ENTRY_BYTES;
        let cases = [
            (
                JsonArray,
                format!("[\"a\", \"{big}\"]"),
                Position::Element(1),
            ),
            (JsonArray, format!("[\"a\", \"{big}"), Position::Element(1)),
            (JsonLines, format!("\"a\"\n\"{big}\"\n"), Position::Line(2)),
            (JsonLines, format!("\"a\"\n{big}x"), Position::Line(2)),
            (Csv, format!("documentId\n{big}x\r\n"), Position::Row(2)),
            (Csv, format!("documentId,note\na,\"{big}"), Position::Row(2)),
            (
                Csv,
                format!("documentId,{}", ",".repeat(MAX_ENTRY_BYTES)),
                Position::Row(1),
            ),
        ];
        for (format, input, at) in cases {
            let expected = TooLarge { at, limit };
            for chunk in [usize::MAX, 64 * 1024, 1000] {
                let error = split_with(format, 1, input.as_bytes(), || chunk).unwrap_err();
                assert_eq!(error, expected, "{} in chunks of {chunk}", format.as_str());
            }
            assert!(
                expected
                    .to_string()
                    .starts_with(&format!("{at} is larger than 1048576 bytes"))
            );
        }
        // Exactly the limit is accepted, with or without a `\r\n` after it.
        let id = "y".repeat(MAX_ENTRY_BYTES - 2);
        for ending in ["", "\n", "\r\n"] {
            let input = format!("\"{id}\"{ending}");
            let documents = split_with(JsonLines, 1, input.as_bytes(), || 4096).unwrap();
            assert_eq!(documents, vec![vec![json!(id)]]);
        }
    }

    #[test]
    fn after_an_error_every_call_returns_it_again() {
        let mut splitter = ManifestSplitter::new(JsonLines, 10);
        assert_eq!(splitter.push(b"\"a\"\n\"b\"\n").unwrap().len(), 0);
        let error = splitter.push(b"3\n\"c\"\n").unwrap_err();
        assert_eq!(
            error,
            ManifestError::NotADocument {
                at: Position::Line(3),
                got: "a number"
            }
        );
        assert_eq!(splitter.push(b"\"d\"\n").unwrap_err(), error);
        assert_eq!(splitter.documents_seen(), 2);
        assert_eq!(splitter.finish().unwrap_err(), error);
    }

    /// Writes document `n` of a generated manifest in `format`.
    fn write_document(format: ManifestFormat, n: usize, out: &mut Vec<u8>) {
        use std::io::Write as _;
        match format {
            JsonArray if n == 0 => write!(out, "\"doc-{n}\""),
            JsonArray => write!(out, ",\"doc-{n}\""),
            JsonLines => writeln!(out, "\"doc-{n}\""),
            Csv => write!(out, "doc-{n}\r\n"),
        }
        .unwrap();
    }

    /// A million short ids, generated on the fly and fed in 64 KiB chunks: the batches come
    /// out as they fill, and what the splitter holds between chunks stays small.
    #[test]
    fn a_million_documents_stream_through_in_bounded_memory() {
        const TOTAL: usize = 1_000_000;
        const CHUNK: usize = 64 * 1024;
        const BATCH: usize = 1000;
        for format in FORMATS {
            let mut splitter = ManifestSplitter::new(format, BATCH);
            let mut pending: Vec<u8> = match format {
                JsonArray => b"[".to_vec(),
                JsonLines => Vec::new(),
                Csv => b"documentId,version\r\n".to_vec(),
            };
            let mut next_id = 0;
            let mut check = |batches: Vec<Vec<Value>>, splitter: &ManifestSplitter| {
                for batch in batches {
                    assert_eq!(batch.len(), BATCH.min(TOTAL - next_id));
                    for document in batch {
                        assert_eq!(document.as_str(), Some(format!("doc-{next_id}").as_str()));
                        next_id += 1;
                    }
                }
                let (partial, current) = splitter.held();
                assert!(partial <= 256 && current < BATCH, "{partial} {current}");
            };
            for n in 0..TOTAL {
                write_document(format, n, &mut pending);
                if pending.len() >= CHUNK {
                    check(splitter.push(&pending[..CHUNK]).unwrap(), &splitter);
                    pending.drain(..CHUNK);
                }
            }
            pending.extend_from_slice(if format == JsonArray { b"]" } else { b"" });
            check(splitter.push(&pending).unwrap(), &splitter);
            assert_eq!(splitter.documents_seen(), TOTAL as u64);
            let last = splitter.finish().unwrap();
            assert!(last.is_empty(), "{TOTAL} is a whole number of batches");
            assert_eq!(next_id, TOTAL, "{}", format.as_str());
        }
    }

    /// An entry that never ends (a string never closed, a line never ended, a quote never
    /// closed) is rejected once it passes the limit, not buffered to the end of the file.
    #[test]
    fn an_endless_entry_is_rejected_before_it_is_buffered() {
        let starts: [(ManifestFormat, &[u8], Position); 3] = [
            (JsonArray, b"[\"a\", \"", Position::Element(1)),
            (JsonLines, b"\"a\"\n\"", Position::Line(2)),
            (Csv, b"documentId\n\"", Position::Row(2)),
        ];
        let chunk = [b'z'; 64 * 1024];
        for (format, start, at) in starts {
            let mut splitter = ManifestSplitter::new(format, 1);
            splitter.push(start).unwrap();
            let mut pushed = 0;
            let error = loop {
                match splitter.push(&chunk) {
                    Ok(batches) => assert!(batches.is_empty()),
                    Err(error) => break error,
                }
                pushed += chunk.len();
                assert!(
                    pushed <= MAX_ENTRY_BYTES,
                    "{} buffered {pushed}",
                    format.as_str()
                );
                assert!(splitter.held().0 <= 2 * MAX_ENTRY_BYTES);
            };
            let limit = MAX_ENTRY_BYTES;
            assert_eq!(error, ManifestError::TooLarge { at, limit });
        }
    }
}
