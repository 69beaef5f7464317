//! JWT admission in a build without the `jwt` cargo feature: a gateway
//! asked to accept JWTs refuses to start, rather than start and refuse
//! every token.

use super::TokenRefusal;
use crate::GatewayConfig;

/// Never constructed: no JWT is ever verified in this build.
pub enum JwtVerifier {}

impl JwtVerifier {
    /// `None` when no JWT flag is given; an error naming the feature otherwise.
    pub fn from_config(config: &GatewayConfig) -> Result<Option<JwtVerifier>, String> {
        if !config.jwt_enabled() {
            return Ok(None);
        }
        Err("this clicktail was built without JWT support (cargo feature `jwt`, on by default): \
             rebuild it without --no-default-features to use --jwt-* options"
            .into())
    }

    pub fn verify(&self, _token: &str) -> Result<String, TokenRefusal> {
        match *self {}
    }
}
