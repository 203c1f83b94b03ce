//! The audit log as the dashboard filters and exports it.

use chrono::Duration;

use super::error::{CoreResult, FieldErrors};
use super::management::Principal;
use super::store::AuditFilter;
use super::time::ms;
use super::types::parse_datetime;
use super::Core;
use tus_wire::model::AuditPageView;
use tus_wire::views::AuditQuery;

pub const DEFAULT_AUDIT_PAGE: i64 = 50;
/// Rows per query while exporting.
pub const EXPORT_CHUNK: i64 = 500;

/// Validates the filters of an audit query into the store's filter.
pub fn parse_audit_query(q: &AuditQuery) -> CoreResult<AuditFilter> {
    let mut e = FieldErrors::default();
    let actor = e.text("actor", q.actor.as_deref());
    let action = e.text("action", q.action.as_deref());
    let target = e.text("target", q.target.as_deref());
    let mut time = |key: &str, v: &Option<String>, end: bool| {
        let v = v.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        let at = e.take(key, parse_datetime(v))?;
        // An upper bound given as a date includes that whole day.
        let date_only = v.len() == 10;
        Some(ms(if end && date_only {
            at + Duration::days(1)
        } else {
            at
        }))
    };
    let from = time("from", &q.from, false);
    let to = time("to", &q.to, true);
    if let (Some(f), Some(t)) = (from, to) {
        if t <= f {
            e.push("to", "must be after from");
        }
    }
    let size = q.size.unwrap_or(DEFAULT_AUDIT_PAGE);
    if !(1..=500).contains(&size) {
        e.push("size", "must be between 1 and 500");
    }
    e.into_result()?;
    Ok(AuditFilter {
        actor,
        action,
        target,
        from,
        to,
        before_id: q.before,
        limit: size,
    })
}

impl Core {
    /// Admin: one page of the audit trail, newest first.
    pub async fn audit_page_for(&self, p: &Principal, q: &AuditQuery) -> CoreResult<AuditPageView> {
        p.require_admin()?;
        let filter = parse_audit_query(q)?;
        self.audit_log(p, filter).await
    }
}

/// One CSV field: quoted when needed (a `;` too: spreadsheets set to a European locale split
/// on it), and a leading `= + - @` (or tab, CR) defused with a quote so a spreadsheet never
/// runs it as a formula.
pub fn csv_field(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if defused.contains([',', ';', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(csv_field("a;b"), "\"a;b\"");
    }

    #[test]
    fn audit_queries_are_validated_and_a_date_bound_covers_its_day() {
        let q = AuditQuery {
            from: Some("2026-01-02".into()),
            to: Some("2026-01-02".into()),
            actor: Some(" admin:a@x.io ".into()),
            ..Default::default()
        };
        let f = parse_audit_query(&q).unwrap();
        assert_eq!(f.to.unwrap() - f.from.unwrap(), 86_400_000);
        assert_eq!(f.actor.as_deref(), Some("admin:a@x.io"));
        assert_eq!(f.limit, DEFAULT_AUDIT_PAGE);
        let bad = AuditQuery {
            from: Some("yesterday".into()),
            size: Some(0),
            ..Default::default()
        };
        let Err(crate::CoreError::Validation(fields)) = parse_audit_query(&bad) else {
            panic!("must be refused")
        };
        let keys: Vec<_> = fields.0.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["from", "size"]);
    }
}
