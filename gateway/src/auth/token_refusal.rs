//! Why a JWT was refused: shared by the verifier (`jwt.rs`) and the
//! admission policy that answers the handshake.

/// Why a token was refused, as told to the client in the `401` body. Short
/// and generic on purpose: which key or claim value was expected stays here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    Malformed,
    AlgorithmNotAccepted,
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
    WrongAudience,
    WrongIssuer,
    MissingClaim,
    BadSubject,
}

impl TokenRefusal {
    pub fn message(self) -> &'static str {
        match self {
            TokenRefusal::Malformed => "malformed token",
            TokenRefusal::AlgorithmNotAccepted => "token algorithm not accepted",
            TokenRefusal::UnknownKey => "token signing key not known",
            TokenRefusal::BadSignature => "token signature invalid",
            TokenRefusal::Expired => "token expired",
            TokenRefusal::NotYetValid => "token not valid yet",
            TokenRefusal::WrongAudience => "token audience not accepted",
            TokenRefusal::WrongIssuer => "token issuer not accepted",
            TokenRefusal::MissingClaim => "token lacks a required claim (sub, exp, aud)",
            TokenRefusal::BadSubject => "token subject is empty, too long or not printable",
        }
    }
}
