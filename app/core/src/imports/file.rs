//! Reading an import file: CSV with a header, or NDJSON (one JSON object per line), told
//! apart by the first character. Records stream one at a time from any `Read`, so a file of
//! any length is read in bounded memory: a record longer than `MAX_RECORD` ends the read
//! with one clear error instead of growing a buffer.
//!
//! Each record becomes a map from a column we know to its text, or the reason it cannot be
//! read (not UTF-8, the wrong number of fields, not a JSON object). Columns we do not know
//! are noted once for the whole file, never fatal.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;

/// Longest record (a CSV record or an NDJSON line), in bytes.
pub const MAX_RECORD: u64 = 64 * 1024;

/// Distinct unknown names noted before the notes say "and more".
const MAX_NOTED: usize = 20;

macro_rules! columns {
    ($($variant:ident),+ $(,)?) => {
        /// A column an import reads, named as in the API and our users export.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Column { $($variant),+ }

        impl Column {
            pub const ALL: &'static [Column] = &[$(Column::$variant),+];

            pub fn name(self) -> &'static str {
                match self { $(Column::$variant => stringify!($variant)),+ }
            }
        }
    };
}

columns!(
    DeviceToken,
    InstanceId,
    FirstName,
    LastName,
    Nickname,
    Email,
    Phone,
    Gender,
    Birthday,
    MaritalStatus,
    ChildrenCount,
    Country,
    District,
    City,
    Address,
    ImageUrl,
    ClientId,
    Status,
    EnableTracking,
    EnableLogging,
    Enabled,
    EnableRealTimeLocation,
    DateCreated,
);

/// Columns we know and do not import, with why (said once in the import's notes).
const IGNORED: &[(&str, &str)] = &[
    (
        "Instance",
        "the instance's name; rows go to the import's instance",
    ),
    (
        "LastTokenActivity",
        "activity starts with the first token issued here",
    ),
    (
        "Password",
        "passwords are not migrated; invite the users to set one",
    ),
    ("CreateAccessToken", "an import issues no tokens"),
];

/// A column name as compared: lower case, letters and digits only (`device_token`,
/// `Device Token` and `DeviceToken` are one column).
fn folded(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

enum Named {
    Column(Column),
    Ignored(&'static str, &'static str),
    Unknown,
}

fn column_named(name: &str) -> Named {
    let f = folded(name);
    // Registration/Create's names for the same values.
    let f = match f.as_str() {
        "customtoken" => "devicetoken".to_string(),
        other => other
            .strip_prefix("userfields")
            .filter(|rest| !rest.is_empty())
            .unwrap_or(other)
            .to_string(),
    };
    if let Some(c) = Column::ALL.iter().find(|c| folded(c.name()) == f) {
        return Named::Column(*c);
    }
    match IGNORED.iter().find(|(n, _)| folded(n) == f) {
        Some((n, why)) => Named::Ignored(n, why),
        None => Named::Unknown,
    }
}

/// The fields of one record, by column.
pub type Fields = BTreeMap<Column, String>;

/// One record: its row as a spreadsheet numbers it (the CSV header is row 1) or its NDJSON
/// line, and its fields or why it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub row: i64,
    pub fields: Result<Fields, String>,
}

/// Counts bytes read since the last record began; refuses to go past `MAX_RECORD`.
struct Guarded<R> {
    inner: R,
    since_record: Rc<Cell<u64>>,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // The CSV reader reads ahead in pieces of its buffer: allow a margin on top.
        if self.since_record.get() > MAX_RECORD + 64 * 1024 {
            return Err(std::io::Error::other(RecordTooLong));
        }
        let n = self.inner.read(buf)?;
        self.since_record.set(self.since_record.get() + n as u64);
        Ok(n)
    }
}

#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a record is longer than {} KiB", MAX_RECORD / 1024)
    }
}

impl std::error::Error for RecordTooLong {}

/// Why a whole file cannot be read (one error for the file, not per row).
pub type FileError = String;

/// An io error as the file's error: our own guard's words, or the reader's.
fn file_error(e: &std::io::Error) -> FileError {
    match e.get_ref().and_then(|i| i.downcast_ref::<RecordTooLong>()) {
        Some(t) => format!("{t}: is this a CSV or NDJSON file?"),
        None => format!("the file could not be read: {e}"),
    }
}

enum Kind<R: Read> {
    Csv {
        reader: csv::Reader<Guarded<BufReader<R>>>,
        columns: Vec<Option<Column>>,
        record: csv::ByteRecord,
        index: i64,
    },
    Ndjson {
        lines: BufReader<R>,
        line: i64,
        buf: Vec<u8>,
    },
}

/// A file being read record by record.
pub struct ImportFile<R: Read> {
    kind: Kind<R>,
    since_record: Rc<Cell<u64>>,
    notes: Vec<String>,
    unknown: BTreeSet<String>,
    /// Records read (`seq` of the last one).
    pub records: i64,
}

impl<R: Read> ImportFile<R> {
    /// Opens a file: skips a UTF-8 byte order mark, refuses what is not text, and reads the
    /// CSV header (which must name a DeviceToken column).
    pub fn open(source: R) -> Result<Self, FileError> {
        let mut buffered = BufReader::with_capacity(64 * 1024, source);
        let head = buffered.fill_buf().map_err(|e| file_error(&e))?.to_vec();
        if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
            return Err("the file is UTF-16 text: save it as UTF-8 (CSV UTF-8)".into());
        }
        let bom = head.starts_with(&[0xEF, 0xBB, 0xBF]);
        if bom {
            buffered.consume(3);
        }
        let text = &head[if bom { 3 } else { 0 }..];
        if text.contains(&0) {
            return Err(
                "this is not a CSV or NDJSON file: it holds binary data (a spreadsheet must be saved as CSV)"
                    .into(),
            );
        }
        let first = text.iter().find(|b| !b.is_ascii_whitespace());
        let since_record = Rc::new(Cell::new(0));
        let kind = match first {
            None => return Err("the file is empty".into()),
            // Lines are read through `take`, which bounds them.
            Some(b'{') => Kind::Ndjson {
                lines: buffered,
                line: 0,
                buf: Vec::new(),
            },
            Some(_) => {
                let guarded = Guarded {
                    inner: buffered,
                    since_record: since_record.clone(),
                };
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(guarded);
                let mut header = csv::ByteRecord::new();
                let read = reader
                    .read_byte_record(&mut header)
                    .map_err(|e| csv_file_error(&e))?;
                if !read {
                    return Err("the file is empty".into());
                }
                Kind::Csv {
                    columns: Vec::new(),
                    reader,
                    record: header,
                    index: 1,
                }
            }
        };
        let mut file = ImportFile {
            kind,
            since_record,
            notes: Vec::new(),
            unknown: BTreeSet::new(),
            records: 0,
        };
        file.read_header()?;
        Ok(file)
    }

    fn read_header(&mut self) -> Result<(), FileError> {
        let Kind::Csv {
            columns, record, ..
        } = &mut self.kind
        else {
            return Ok(());
        };
        let mut seen = BTreeSet::new();
        let mut known = 0;
        let mut notes = Vec::new();
        for raw in record.iter() {
            let name = std::str::from_utf8(raw)
                .map_err(|_| "the header is not UTF-8 text: save the file as UTF-8".to_string())?
                .trim();
            columns.push(match column_named(name) {
                Named::Column(c) => {
                    if !seen.insert(c) {
                        return Err(format!("the header names the column {} twice", c.name()));
                    }
                    known += 1;
                    Some(c)
                }
                Named::Ignored(n, why) => {
                    known += 1;
                    notes.push(format!("column {n} is not imported: {why}"));
                    None
                }
                Named::Unknown if name.is_empty() => None,
                Named::Unknown => {
                    notes.push(format!(
                        "column \"{}\" is not ours and was not imported",
                        shown(name)
                    ));
                    None
                }
            });
        }
        if known == 0 {
            return Err(
                "the first line must name the columns (DeviceToken, FirstName, Email, …): it names none of ours; is the header missing?"
                    .into(),
            );
        }
        if !seen.contains(&Column::DeviceToken) {
            return Err(
                "the header has no DeviceToken column (the id each driver's app holds)".into(),
            );
        }
        self.notes = notes;
        Ok(())
    }

    /// What the file holds that is not imported, one line each.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = self.notes.clone();
        for name in &self.unknown {
            notes.push(format!(
                "field \"{}\" is not ours and was not imported",
                shown(name)
            ));
        }
        if self.unknown.len() >= MAX_NOTED {
            notes.push("… and more fields that are not ours".into());
        }
        notes
    }

    /// The next record, `Ok(None)` at the end, or the file's error.
    pub fn next_record(&mut self) -> Result<Option<Record>, FileError> {
        loop {
            self.since_record.set(0);
            let record = match &mut self.kind {
                Kind::Csv {
                    reader,
                    columns,
                    record,
                    index,
                } => {
                    if !reader
                        .read_byte_record(record)
                        .map_err(|e| csv_file_error(&e))?
                    {
                        return Ok(None);
                    }
                    *index += 1;
                    if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                        continue; // a blank line, or a spreadsheet's empty row
                    }
                    Record {
                        row: *index,
                        fields: csv_fields(columns, record),
                    }
                }
                Kind::Ndjson { lines, line, buf } => {
                    buf.clear();
                    let n = (&mut *lines)
                        .take(MAX_RECORD + 1)
                        .read_until(b'\n', buf)
                        .map_err(|e| file_error(&e))?;
                    if n == 0 {
                        return Ok(None);
                    }
                    *line += 1;
                    if buf.len() as u64 > MAX_RECORD && !buf.ends_with(b"\n") {
                        return Err(format!(
                            "line {line} is longer than {} KiB",
                            MAX_RECORD / 1024
                        ));
                    }
                    if buf.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let fields = json_fields(buf, &mut self.unknown);
                    Record { row: *line, fields }
                }
            };
            self.records += 1;
            return Ok(Some(record));
        }
    }
}

fn csv_file_error(e: &csv::Error) -> FileError {
    match e.kind() {
        csv::ErrorKind::Io(io) => file_error(io),
        _ => format!("the file is not valid CSV: {e}"),
    }
}

/// A name as shown in a note: at most 40 characters, control characters dropped.
fn shown(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(40).collect()
}

fn csv_fields(columns: &[Option<Column>], record: &csv::ByteRecord) -> Result<Fields, String> {
    if record.len() != columns.len() {
        return Err(format!(
            "has {} fields where the header has {} (a comma or quote out of place?)",
            record.len(),
            columns.len()
        ));
    }
    let mut fields = Fields::new();
    for (column, raw) in columns.iter().zip(record.iter()) {
        let Some(column) = column else { continue };
        let text = std::str::from_utf8(raw).map_err(|_| {
            format!(
                "{} is not UTF-8 text (save the file as UTF-8)",
                column.name()
            )
        })?;
        // Our export defuses a leading = + - @ with a quote (for spreadsheets): undone here.
        let text = match text.trim().strip_prefix('\'') {
            Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
            _ => text.trim(),
        };
        if !text.is_empty() {
            fields.insert(*column, text.to_string());
        }
    }
    Ok(fields)
}

fn json_fields(line: &[u8], unknown: &mut BTreeSet<String>) -> Result<Fields, String> {
    let text = std::str::from_utf8(line)
        .map_err(|_| "is not UTF-8 text (save the file as UTF-8)".to_string())?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("is not valid JSON: {e}"))?;
    let serde_json::Value::Object(object) = value else {
        return Err("is not a JSON object".into());
    };
    let mut fields = Fields::new();
    let mut put = |key: &str, value: &serde_json::Value| -> Result<(), String> {
        let column = match column_named(key) {
            Named::Column(c) => c,
            Named::Ignored(..) => return Ok(()),
            Named::Unknown => {
                if unknown.len() < MAX_NOTED {
                    unknown.insert(key.to_string());
                }
                return Ok(());
            }
        };
        let text = match value {
            serde_json::Value::Null => return Ok(()),
            serde_json::Value::String(s) => s.trim().to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => {
                return Err(format!(
                    "{}: must be a string, a number or true/false",
                    column.name()
                ))
            }
        };
        if !text.is_empty() && fields.insert(column, text).is_some() {
            return Err(format!("{} is given twice", column.name()));
        }
        Ok(())
    };
    for (key, value) in &object {
        match value {
            serde_json::Value::Object(inner) if folded(key) == "userfields" => {
                for (k, v) in inner {
                    put(k, v)?;
                }
            }
            _ => put(key, value)?,
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> Result<(Vec<Record>, Vec<String>), FileError> {
        let mut f = ImportFile::open(bytes)?;
        let mut out = Vec::new();
        while let Some(r) = f.next_record()? {
            out.push(r);
        }
        Ok((out, f.notes()))
    }

    const T1: &str = "6c4b6f3e-1d6e-4a53-9b38-1f0a3c1d2e01";

    #[test]
    fn csv_with_bom_crlf_quotes_and_unknown_columns() {
        let text = format!(
            "\u{feff}Device Token,FirstName,Address,Shoe size,Instance\r\n{T1},Ann,\"1 Main St, \"\"Flat\"\" 2\nBack door\",44,Common\r\n\r\n,,,,\r\n"
        );
        let (records, notes) = read_all(text.as_bytes()).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].row, 2);
        let f = records[0].fields.as_ref().unwrap();
        assert_eq!(f[&Column::DeviceToken], T1);
        assert_eq!(f[&Column::Address], "1 Main St, \"Flat\" 2\nBack door");
        assert!(!f.contains_key(&Column::FirstName) || f[&Column::FirstName] == "Ann");
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("Shoe size"), "{notes:?}");
        assert!(notes[1].contains("Instance"), "{notes:?}");
    }

    #[test]
    fn bad_records_are_row_errors_and_bad_files_one_error() {
        let mut bytes = format!("DeviceToken,FirstName\n{T1},Ann\n{T1},Bob,extra\n").into_bytes();
        bytes.extend_from_slice(b"x,Jos\xe9\n");
        let (records, _) = read_all(&bytes).unwrap();
        assert_eq!(records.len(), 3);
        assert!(records[1].fields.as_ref().unwrap_err().contains("3 fields"));
        assert!(records[2].fields.as_ref().unwrap_err().contains("UTF-8"));
        assert_eq!(records[2].row, 4);

        for (file, says) in [
            (&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..], "binary"),
            (b"", "empty"),
            (b"   \n", "empty"),
            (b"\xff\xfeD\0e\0", "UTF-16"),
            (b"Name,Mail\nAnn,a@x.io\n", "header missing"),
            (b"FirstName,Email\nAnn,a@x.io\n", "no DeviceToken"),
            (b"DeviceToken,devicetoken\n", "twice"),
        ] {
            let e = read_all(file).unwrap_err();
            assert!(e.contains(says), "{e} should say {says}");
        }
    }

    #[test]
    fn a_record_without_end_is_refused_without_holding_it() {
        let mut file = b"DeviceToken,FirstName\n\"".to_vec();
        file.extend(std::iter::repeat_n(b'a', 3 * MAX_RECORD as usize));
        let e = read_all(&file).unwrap_err();
        assert!(e.contains("longer than"), "{e}");
        let mut lines = b"{\"DeviceToken\": \"".to_vec();
        lines.extend(std::iter::repeat_n(b'a', 2 * MAX_RECORD as usize));
        let e = read_all(&lines).unwrap_err();
        assert!(e.contains("longer than"), "{e}");
    }

    #[test]
    fn ndjson_lines_with_user_fields_and_bad_lines() {
        let text = format!(
            "{{\"DeviceToken\":\"{T1}\",\"UserFields\":{{\"ClientId\":\"c-1\",\"EnableLogging\":true}},\"ChildrenCount\":2,\"Hobby\":\"x\"}}\n\n[1,2]\n{{\"DeviceToken\": {{\"a\":1}}}}\nnot json\n"
        );
        let (records, notes) = read_all(text.as_bytes()).unwrap();
        assert_eq!(records.len(), 4);
        let f = records[0].fields.as_ref().unwrap();
        assert_eq!(f[&Column::ClientId], "c-1");
        assert_eq!(f[&Column::EnableLogging], "true");
        assert_eq!(f[&Column::ChildrenCount], "2");
        assert_eq!(records[1].row, 3);
        assert!(records[1].fields.as_ref().unwrap_err().contains("object"));
        assert!(records[2]
            .fields
            .as_ref()
            .unwrap_err()
            .contains("DeviceToken"));
        assert!(records[3].fields.as_ref().unwrap_err().contains("JSON"));
        assert_eq!(
            notes,
            vec!["field \"Hobby\" is not ours and was not imported"]
        );
    }
}
