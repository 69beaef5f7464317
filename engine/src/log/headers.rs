//! Record headers (Kafka's, KIP-82): named values beside a record's key and
//! payload, carried by both adapters of the log seam.
//!
//! Sent headers are borrowed ([`Header`]), so a producer can build them on
//! the stack from buffers it reuses; read headers ([`Headers`]) keep every
//! name and value of a record in one buffer, two allocations per record
//! however many headers it has (none when it has none).

/// One header to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The header's name (Kafka's header key, a UTF-8 string).
    pub name: &'a str,
    pub value: &'a [u8],
}

/// Where one header of [`Headers`] lies in its buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HeaderSpan {
    name_start: u32,
    /// The value starts where the name ends.
    value_start: u32,
    value_end: u32,
}

/// The headers of a read record, in the order they were sent.
///
/// Kafka allows a header without a value (null): it reads here as an empty
/// value, a difference no clicktail reader depends on. Names are bytes as
/// the broker returned them; a name that is not UTF-8 (a foreign producer)
/// is kept and matches no `&str` lookup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    bytes: Vec<u8>,
    spans: Vec<HeaderSpan>,
}

impl Headers {
    /// Copies `headers` into a new set.
    pub fn from_sent(headers: &[Header<'_>]) -> Headers {
        let mut copied = Headers::default();
        if headers.is_empty() {
            return copied;
        }
        copied.bytes.reserve(headers.iter().map(|h| h.name.len() + h.value.len()).sum());
        copied.spans.reserve(headers.len());
        for header in headers {
            copied.push(header.name.as_bytes(), header.value);
        }
        copied
    }

    /// Appends one header.
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        // Offsets are u32: a Kafka record is far below 4 GiB
        // (`message.max.bytes`, 1 MB by default).
        let name_start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(name);
        let value_start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(value);
        self.spans.push(HeaderSpan { name_start, value_start, value_end: self.bytes.len() as u32 });
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Every header as (name, value), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.spans.iter().map(|span| {
            (
                &self.bytes[span.name_start as usize..span.value_start as usize],
                &self.bytes[span.value_start as usize..span.value_end as usize],
            )
        })
    }

    /// The value of the last header named `name` (the last wins, as in
    /// Kafka's `Headers.lastHeader`), if any.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter().filter(|(found, _)| *found == name.as_bytes()).last().map(|(_, value)| value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_their_order_and_the_last_of_a_name_wins() {
        let sent = [
            Header { name: "a", value: b"1" },
            Header { name: "empty", value: b"" },
            Header { name: "a", value: b"2" },
        ];
        let headers = Headers::from_sent(&sent);
        assert_eq!(headers.len(), 3);
        let all: Vec<(&[u8], &[u8])> = headers.iter().collect();
        assert_eq!(all, [(&b"a"[..], &b"1"[..]), (b"empty", b""), (b"a", b"2")]);
        assert_eq!(headers.get("a"), Some(&b"2"[..]));
        assert_eq!(headers.get("empty"), Some(&b""[..]));
        assert_eq!(headers.get("missing"), None);
        assert!(Headers::from_sent(&[]).is_empty());
    }

    #[test]
    fn a_name_that_is_not_utf8_is_kept_and_matches_no_lookup() {
        let mut headers = Headers::default();
        headers.push(&[0xff, b'a'], b"x");
        assert_eq!(headers.iter().next(), Some((&[0xff, b'a'][..], &b"x"[..])));
        assert_eq!(headers.get("a"), None);
    }
}
