//! The writes a SQLite transaction holds back (`SqliteTx`): SQL text and the values bound
//! to its `?` placeholders, in order. It is written like sqlx's `QueryBuilder` (the
//! statements of `defer_on_tx!` are written once for both backends), but its values can be
//! read again, so the group commit (`group`) can run several members' writes in one call.

use std::borrow::Cow;
use std::fmt::{Display, Write};

use sqlx::encode::{Encode, IsNull};
use sqlx::error::BoxDynError;
use sqlx::sqlite::{SqliteArgumentValue, SqliteArguments, SqliteQueryResult, SqliteTypeInfo};
use sqlx::{Arguments, Sqlite, SqliteConnection, Type};

#[derive(Default)]
pub struct Script {
    sql: String,
    values: Vec<SqliteArgumentValue<'static>>,
    /// Why a value could not be bound, if one could not: the script then fails when it
    /// runs, and nothing of it is written.
    unbound: Option<String>,
}

impl Script {
    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        // Writing to a String cannot fail.
        let _ = write!(self.sql, "{sql}");
        self
    }

    /// Binds `value` to a placeholder written here.
    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'static, Sqlite> + Type<Sqlite>,
    {
        let before = self.values.len();
        match value.encode(&mut self.values) {
            Ok(IsNull::Yes) => self.values.push(SqliteArgumentValue::Null),
            Ok(IsNull::No) => {}
            Err(e) => {
                self.values.truncate(before);
                self.values.push(SqliteArgumentValue::Null);
                self.unbound.get_or_insert_with(|| e.to_string());
            }
        }
        self.sql.push('?');
        self
    }

    /// A list whose items are separated by `separator`.
    pub fn separated(&mut self, separator: &'static str) -> Separated<'_> {
        Separated {
            script: self,
            separator,
            started: false,
        }
    }

    /// `VALUES (...), (...)`, one tuple per item, written by `push_tuple`.
    pub fn push_values<I, F>(&mut self, tuples: I, mut push_tuple: F) -> &mut Self
    where
        I: IntoIterator,
        F: FnMut(Separated<'_>, I::Item),
    {
        self.push("VALUES ");
        for (n, tuple) in tuples.into_iter().enumerate() {
            self.push(if n == 0 { "(" } else { ", (" });
            push_tuple(self.separated(", "), tuple);
            self.push(")");
        }
        self
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }
}

impl Script {
    /// Puts `before` in front of its SQL and `after` behind it (a savepoint around it).
    pub fn enclose(&mut self, before: &str, after: &str) {
        self.sql.insert_str(0, before);
        self.sql.push_str(after);
    }

    /// Runs its statements, in order, as one call. If one fails, those before it have run:
    /// the caller's `?` drops the transaction, which rolls them back.
    pub async fn execute(
        mut self,
        conn: &mut SqliteConnection,
    ) -> Result<SqliteQueryResult, sqlx::Error> {
        let sql = std::mem::take(&mut self.sql);
        let arguments = self.into_arguments()?;
        sqlx::query_with(&sql, arguments).execute(conn).await
    }

    /// Its values for sqlx, moved (no copy).
    pub fn into_arguments(self) -> Result<SqliteArguments<'static>, sqlx::Error> {
        if let Some(why) = self.unbound {
            return Err(sqlx::Error::Encode(why.into()));
        }
        let mut arguments = SqliteArguments::default();
        arguments.reserve(self.values.len(), 0);
        for value in self.values {
            arguments
                .add(Encoded(Cow::Owned(value)))
                .map_err(sqlx::Error::Encode)?;
        }
        Ok(arguments)
    }
}

/// The values of `scripts`, in order, borrowed: for running several scripts as one call.
pub fn arguments_of<'s>(
    scripts: impl IntoIterator<Item = &'s Script>,
) -> Result<SqliteArguments<'s>, sqlx::Error> {
    let mut arguments = SqliteArguments::default();
    for script in scripts {
        if let Some(why) = &script.unbound {
            return Err(sqlx::Error::Encode(why.clone().into()));
        }
        arguments.reserve(script.values.len(), 0);
        for value in &script.values {
            arguments
                .add(Encoded(Cow::Borrowed(value)))
                .map_err(sqlx::Error::Encode)?;
        }
    }
    Ok(arguments)
}

/// A list being written into a `Script`, as sqlx's `Separated`.
pub struct Separated<'a> {
    script: &'a mut Script,
    separator: &'static str,
    started: bool,
}

impl Separated<'_> {
    fn separate(&mut self) {
        if std::mem::replace(&mut self.started, true) {
            self.script.push(self.separator);
        }
    }

    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        self.separate();
        self.script.push(sql);
        self
    }

    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'static, Sqlite> + Type<Sqlite>,
    {
        self.separate();
        self.script.push_bind(value);
        self
    }

    pub fn push_bind_unseparated<T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'static, Sqlite> + Type<Sqlite>,
    {
        self.script.push_bind(value);
        self
    }
}

/// A value already encoded: handed over as it is when owned, lent when borrowed (sqlx then
/// copies it for its worker).
struct Encoded<'a>(Cow<'a, SqliteArgumentValue<'static>>);

impl<'a> Encode<'a, Sqlite> for Encoded<'a> {
    fn encode(self, buf: &mut Vec<SqliteArgumentValue<'a>>) -> Result<IsNull, BoxDynError> {
        buf.push(match self.0 {
            Cow::Owned(value) => value,
            Cow::Borrowed(value) => lent(value),
        });
        Ok(IsNull::No)
    }

    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'a>>) -> Result<IsNull, BoxDynError> {
        buf.push(match &self.0 {
            Cow::Owned(value) => value.clone(),
            Cow::Borrowed(value) => lent(value),
        });
        Ok(IsNull::No)
    }
}

// Not consulted when binding: each value carries its own storage class.
impl Type<Sqlite> for Encoded<'_> {
    fn type_info() -> SqliteTypeInfo {
        <str as Type<Sqlite>>::type_info()
    }
}

/// `value` with its text or bytes borrowed, not copied.
fn lent<'a>(value: &'a SqliteArgumentValue<'static>) -> SqliteArgumentValue<'a> {
    match value {
        SqliteArgumentValue::Null => SqliteArgumentValue::Null,
        SqliteArgumentValue::Text(text) => SqliteArgumentValue::Text(Cow::Borrowed(text)),
        SqliteArgumentValue::Blob(blob) => SqliteArgumentValue::Blob(Cow::Borrowed(blob)),
        SqliteArgumentValue::Double(v) => SqliteArgumentValue::Double(*v),
        SqliteArgumentValue::Int(v) => SqliteArgumentValue::Int(*v),
        SqliteArgumentValue::Int64(v) => SqliteArgumentValue::Int64(*v),
    }
}

#[cfg(test)]
mod tests {
    use super::Script;
    use sqlx::{Connection, Row, SqliteConnection};

    /// The builder writes what sqlx's `QueryBuilder` writes for the same calls, and two
    /// scripts joined run as one call with each value in its place (NULL included).
    #[tokio::test]
    async fn scripts_bind_in_order_and_run_joined() {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let mut create = Script::default();
        create.push("CREATE TABLE t (a TEXT, b INTEGER, c INTEGER); ");
        let rows = [("x", Some(1_i64), true), ("y", None, false)];
        create.push("INSERT INTO t (a, b, c) ");
        create.push_values(rows, |mut b, (a, n, c)| {
            b.push_bind(a).push_bind(n).push_bind(c);
        });
        let mut sqlx_builder = sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO t (a, b, c) ");
        sqlx_builder.push_values(rows, |mut b, (a, n, c)| {
            b.push_bind(a).push_bind(n).push_bind(c);
        });
        assert!(
            create.sql().ends_with(sqlx_builder.sql()),
            "{}",
            create.sql()
        );

        let mut update = Script::default();
        update.push("; UPDATE t SET ");
        let mut set = update.separated(", ");
        set.push("b = ");
        set.push_bind_unseparated(7_i64);
        set.push("a = ");
        set.push_bind_unseparated("z".to_string());
        update.push(" WHERE a = ").push_bind("y");
        let both = format!("{}{}", create.sql(), update.sql());
        let arguments = super::arguments_of([&create, &update]).unwrap();
        sqlx::query_with(&both, arguments)
            .execute(&mut conn)
            .await
            .unwrap();
        let mut insert = Script::default();
        insert.push("INSERT INTO t (a, b, c) VALUES (");
        let mut values = insert.separated(", ");
        values
            .push_bind("w")
            .push_bind(None::<i64>)
            .push_bind(false);
        insert.push(")");
        let sql = insert.sql().to_string();
        let arguments = insert.into_arguments().unwrap();
        sqlx::query_with(&sql, arguments)
            .execute(&mut conn)
            .await
            .unwrap();

        let stored: Vec<(String, Option<i64>, bool)> =
            sqlx::query("SELECT a, b, c FROM t ORDER BY a")
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect();
        let expected = [
            ("w", None, false),
            ("x", Some(1), true),
            ("z", Some(7), false),
        ];
        assert_eq!(stored, expected.map(|(a, b, c)| (a.to_string(), b, c)));
    }
}
