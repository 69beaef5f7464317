//! A record's payload: its own bytes, or bytes the Kafka client that read
//! the record lends until the record is dropped.
//!
//! A worker's filter threads match each raw event once and drop their batch
//! before the next poll, so copying every payload out of librdkafka's
//! fetch buffer (an allocation and a copy of about 700 bytes per event, a
//! fifth of a filter thread's time in the drain) bought nothing: their
//! group member lends them instead (`kafka/message.rs`). Everything else
//! (the in-memory log, the gateways' and backfill's tails) owns its bytes:
//! a lent payload holds its whole fetch response in memory while it lives.

use std::fmt;
use std::ops::Deref;

/// A record's payload, read as a byte slice.
pub struct Payload(Bytes);

enum Bytes {
    Owned(Vec<u8>),
    /// Released (to librdkafka) when the payload is dropped.
    #[cfg(feature = "kafka")]
    Lent(super::kafka::LentPayload),
}

impl Payload {
    #[cfg(feature = "kafka")]
    pub(crate) fn lent(bytes: super::kafka::LentPayload) -> Self {
        Payload(Bytes::Lent(bytes))
    }

    /// Whether the bytes are a client's, read in place.
    #[cfg(test)]
    pub(crate) fn is_lent(&self) -> bool {
        !matches!(self.0, Bytes::Owned(_))
    }

    pub fn as_slice(&self) -> &[u8] {
        self
    }
}

impl Deref for Payload {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            Bytes::Owned(bytes) => bytes,
            #[cfg(feature = "kafka")]
            Bytes::Lent(bytes) => bytes,
        }
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Self {
        Payload(Bytes::Owned(bytes))
    }
}

impl Default for Payload {
    fn default() -> Self {
        Payload(Bytes::Owned(Vec::new()))
    }
}

/// A clone owns its bytes: only the record librdkafka gave holds the loan.
impl Clone for Payload {
    fn clone(&self) -> Self {
        Payload(Bytes::Owned(self.to_vec()))
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Payload {}

/// Compared with bytes as a `Vec<u8>` is.
macro_rules! compared_with {
    ($($bytes:ty),* $(; const $n:ident: $array:ty)*) => {
        $(impl PartialEq<$bytes> for Payload {
            fn eq(&self, other: &$bytes) -> bool {
                **self == other[..]
            }
        })*
        $(impl<const $n: usize> PartialEq<$array> for Payload {
            fn eq(&self, other: &$array) -> bool {
                **self == other[..]
            }
        })*
    };
}

compared_with!([u8], &[u8], Vec<u8>; const N: [u8; N]; const N: &[u8; N]);

impl fmt::Debug for Payload {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(formatter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owned_payload_reads_clones_and_compares_as_its_bytes() {
        let payload = Payload::from(b"{\"a\":1}".to_vec());
        assert_eq!(&*payload, b"{\"a\":1}");
        assert_eq!(payload.clone(), payload);
        assert_eq!(format!("{payload:?}"), format!("{:?}", b"{\"a\":1}".as_slice()));
        assert_eq!(payload.to_vec(), b"{\"a\":1}");
        assert!(Payload::default().is_empty());
    }
}
