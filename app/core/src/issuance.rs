//! Issuing token pairs: the one path used by registration, batches, login and refresh, so
//! every pair is recorded the same way (refresh row hashed, access token in the lineage).

use chrono::{DateTime, Utc};

use super::error::CoreResult;
use super::secret::RefreshTokenSecret;
use super::store::{NewAccessRow, NewFamilyRow, NewRefreshRow, Tx};
use super::time::ms;
use super::tokens::{new_refresh_token, Lifetimes, MintedAccess, SubjectKind, Tokens, UserSubject};
use super::types::{new_row_id, DeviceToken};

#[derive(Debug, Clone)]
pub struct IssuedAccess {
    pub token: String,
    pub expires_in: i64,
}

/// What registration, login and refresh hand to the client. `refresh_token` is the only
/// copy of that secret anywhere: it is not stored, only its hash.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub device_token: Option<DeviceToken>,
    pub access_token: Option<IssuedAccess>,
    pub refresh_token: Option<RefreshTokenSecret>,
}

impl Credentials {
    pub fn without_tokens(device_token: DeviceToken) -> Self {
        Self {
            device_token: Some(device_token),
            access_token: None,
            refresh_token: None,
        }
    }
}

/// Rows to write for a set of issued pairs; written with one statement per table.
#[derive(Default)]
pub(crate) struct IssuedRows {
    pub families: Vec<NewFamilyRow>,
    pub refresh: Vec<NewRefreshRow>,
    pub access: Vec<NewAccessRow>,
    /// Pairs per source, in the order of `Source::ALL`.
    per_source: [u64; Source::ALL.len()],
}

/// Where a pair comes from, for the lineage and the metrics. `ALL` lists them in
/// declaration order, so `source as usize` is a source's place in it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source {
    Registration,
    Batch,
    Login,
    Refresh,
    /// An admin registered the user by hand (the dashboard).
    Admin,
    /// The first login of a user that came in by an import (its app kept its DeviceToken).
    Import,
}

impl Source {
    pub(crate) const ALL: [Source; 6] = [
        Source::Registration,
        Source::Batch,
        Source::Login,
        Source::Refresh,
        Source::Admin,
        Source::Import,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Registration => "registration",
            Source::Batch => "batch",
            Source::Login => "login",
            Source::Refresh => "refresh",
            Source::Admin => "admin",
            Source::Import => "import",
        }
    }
}

pub(crate) struct FamilyRef {
    pub id: String,
    pub parent: Option<String>,
}

impl IssuedRows {
    /// Opens a new family for `subject` and returns a reference to it.
    pub fn new_family(
        &mut self,
        now: DateTime<Utc>,
        subject: &str,
        kind: SubjectKind,
        source: Source,
    ) -> FamilyRef {
        let id = new_row_id().to_string();
        self.families.push(NewFamilyRow {
            id: id.clone(),
            subject: subject.to_string(),
            subject_kind: kind.as_str().to_string(),
            origin: source.as_str().to_string(),
            created_at: ms(now),
        });
        FamilyRef { id, parent: None }
    }

    /// A new refresh token in `family`, lasting as `lifetimes` say, and an access token from
    /// `mint`, which receives the refresh token's expiry (user tokens state it in a claim).
    #[allow(clippy::too_many_arguments)]
    pub fn pair(
        &mut self,
        now: DateTime<Utc>,
        tokens: &Tokens,
        subject: &str,
        family: &FamilyRef,
        source: Source,
        lifetimes: &Lifetimes,
        mint: impl FnOnce(DateTime<Utc>) -> CoreResult<MintedAccess>,
    ) -> CoreResult<(IssuedAccess, RefreshTokenSecret)> {
        self.per_source[source as usize] += 1;
        let refresh = new_refresh_token();
        let refresh_expires = tokens.refresh_expiry(now, lifetimes);
        let access = mint(refresh_expires)?;
        self.refresh.push(NewRefreshRow {
            id: new_row_id().to_string(),
            family_id: family.id.clone(),
            subject: subject.to_string(),
            token_hash: refresh.hash,
            parent_id: family.parent.clone(),
            issued_at: ms(now),
            expires_at: ms(refresh_expires),
        });
        self.access.push(NewAccessRow {
            jti: access.jti.to_string(),
            subject: subject.to_string(),
            family_id: Some(family.id.clone()),
            source: source.as_str().to_string(),
            issued_at: ms(access.issued_at),
            expires_at: ms(access.expires_at),
            kid: access.kid,
        });
        Ok((
            IssuedAccess {
                token: access.token,
                expires_in: access.expires_in,
            },
            refresh.secret,
        ))
    }

    /// A user pair: the access token carries the user's current flags.
    pub fn user_pair(
        &mut self,
        now: DateTime<Utc>,
        tokens: &Tokens,
        user: &UserSubject,
        family: &FamilyRef,
        source: Source,
    ) -> CoreResult<Credentials> {
        let subject = user.device_token.to_string();
        let lifetimes = &user.lifetimes;
        let (access, refresh) =
            self.pair(now, tokens, &subject, family, source, lifetimes, |exp| {
                tokens.mint_user(now, user, exp)
            })?;
        Ok(Credentials {
            device_token: Some(user.device_token),
            access_token: Some(access),
            refresh_token: Some(refresh),
        })
    }

    /// Adds `other`'s pairs to this one's counts per source (not its rows): what a write in
    /// several parts issued in all.
    pub fn count(&mut self, other: &IssuedRows) {
        for (n, more) in self.per_source.iter_mut().zip(other.per_source) {
            *n += more;
        }
    }

    /// Pairs per source, in the order of `Source::ALL`.
    pub fn per_source(&self) -> [u64; Source::ALL.len()] {
        self.per_source
    }

    pub async fn write(&self, tx: &mut Tx) -> CoreResult<()> {
        tx.insert_families(&self.families).await?;
        tx.insert_refresh_tokens(&self.refresh).await?;
        tx.insert_access_tokens(&self.access).await
    }
}

#[cfg(test)]
mod tests {
    use super::Source;

    #[test]
    fn sources_are_listed_in_declaration_order() {
        for (i, s) in Source::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i, "{}", s.as_str());
        }
    }
}
