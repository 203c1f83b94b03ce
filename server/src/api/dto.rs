//! Response bodies. The refresh token leaves the server here, once, in the answer to the
//! request that created it.

use serde::Serialize;
use tus_core::registration::Batch;
use tus_core::Credentials;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AccessTokenDto {
    pub token: String,
    pub expires_in: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CredentialsDto {
    pub device_token: Option<String>,
    pub access_token: Option<AccessTokenDto>,
    pub refresh_token: Option<String>,
}

impl From<Credentials> for CredentialsDto {
    fn from(c: Credentials) -> Self {
        CredentialsDto {
            device_token: c.device_token.map(|t| t.to_string()),
            access_token: c.access_token.map(|a| AccessTokenDto {
                token: a.token,
                expires_in: a.expires_in,
            }),
            refresh_token: c.refresh_token.map(|r| r.expose().to_string()),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct BatchDto {
    pub results: Vec<CredentialsDto>,
    pub batch_id: String,
}

impl From<Batch> for BatchDto {
    fn from(b: Batch) -> Self {
        BatchDto {
            results: b.results.into_iter().map(Into::into).collect(),
            batch_id: b.batch_id.to_string(),
        }
    }
}
