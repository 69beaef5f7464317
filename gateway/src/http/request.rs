//! One HTTP request head, parsed with `httparse` from the bytes read so far.

/// Most headers a request may carry; more is refused with `431`.
pub const HEADERS_MAX: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without its query.
    pub path: String,
    pub query: String,
    /// Header names lowercased; values as sent (non-UTF-8 values dropped).
    pub headers: Vec<(String, String)>,
    /// Bytes of the head, up to and including the blank line.
    pub head_bytes: usize,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("malformed request head: {0}")]
    Malformed(String),
    #[error("request head is over {limit} bytes")]
    TooLarge { limit: usize },
}

impl Request {
    /// `Ok(None)` while the head is incomplete.
    pub fn parse(buffer: &[u8], head_bytes_max: usize) -> Result<Option<Request>, RequestError> {
        let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(buffer) {
            Ok(httparse::Status::Complete(head_bytes)) => {
                if head_bytes > head_bytes_max {
                    return Err(RequestError::TooLarge { limit: head_bytes_max });
                }
                let target = request.path.unwrap_or("/");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                Ok(Some(Request {
                    method: request.method.unwrap_or("").to_owned(),
                    path: path.to_owned(),
                    query: query.to_owned(),
                    headers: request
                        .headers
                        .iter()
                        .filter_map(|header| {
                            let value = std::str::from_utf8(header.value).ok()?;
                            Some((header.name.to_ascii_lowercase(), value.trim().to_owned()))
                        })
                        .collect(),
                    head_bytes,
                }))
            }
            Ok(httparse::Status::Partial) if buffer.len() > head_bytes_max => {
                Err(RequestError::TooLarge { limit: head_bytes_max })
            }
            Ok(httparse::Status::Partial) => Ok(None),
            Err(httparse::Error::TooManyHeaders) => Err(RequestError::TooLarge { limit: head_bytes_max }),
            Err(error) => Err(RequestError::Malformed(error.to_string())),
        }
    }

    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// Whether a comma-separated header holds `token` (case-insensitive),
    /// as `Connection: keep-alive, Upgrade` does.
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(key, _)| key == name)
            .flat_map(|(_, value)| value.split(','))
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    }

    /// The value of query parameter `name`, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| percent_decode(value))
    }

    /// The one `Host` header (RFC 9112 section 3.2: a request without one,
    /// or with more than one, is answered `400`).
    pub fn host(&self) -> Result<&str, HeadError> {
        let mut values = self.headers.iter().filter(|(key, _)| key == "host").map(|(_, value)| value.as_str());
        match (values.next(), values.next()) {
            (Some(host), None) if !host.is_empty() => Ok(host),
            (Some(_), Some(_)) => Err(HeadError::DuplicateHost),
            _ => Err(HeadError::MissingHost),
        }
    }

    /// The body length, `None` without `Content-Length`. Several values
    /// (repeated headers or a list) must all be the same number (RFC 9110
    /// section 8.6): a request that disagrees with itself about where its
    /// body ends is refused rather than guessed at.
    pub fn content_length(&self) -> Result<Option<usize>, HeadError> {
        let mut length = None;
        let values = self.headers.iter().filter(|(key, _)| key == "content-length");
        for item in values.flat_map(|(_, value)| value.split(',')) {
            let value: usize = item.trim().parse().map_err(|_| HeadError::BadContentLength)?;
            if length.is_some_and(|seen| seen != value) {
                return Err(HeadError::ConflictingContentLength);
            }
            length = Some(value);
        }
        Ok(length)
    }
}

/// A parsed head the gateway refuses with `400`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("missing Host header")]
    MissingHost,
    #[error("more than one Host header")]
    DuplicateHost,
    #[error("Content-Length is not a number")]
    BadContentLength,
    #[error("conflicting Content-Length headers")]
    ConflictingContentLength,
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |byte: u8| (byte as char).to_digit(16).map(|digit| digit as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' && index + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[index + 1]), hex(bytes[index + 2])) {
                out.push(high << 4 | low);
                index += 3;
                continue;
            }
        }
        out.push(if byte == b'+' { b' ' } else { byte });
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_head_and_its_query() {
        let raw = b"GET /ws?token=a%20b&x=1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n\r\nrest";
        let request = Request::parse(raw, 1024).unwrap().unwrap();
        assert_eq!((request.method.as_str(), request.path.as_str()), ("GET", "/ws"));
        assert_eq!(request.query_param("token").as_deref(), Some("a b"));
        assert!(request.header_has_token("connection", "upgrade"));
        assert_eq!(request.head_bytes, raw.len() - 4);
        assert_eq!(Request::parse(b"GET / HTTP/1.1\r\n", 1024), Ok(None));
        assert!(matches!(Request::parse(&[b'a'; 2000], 1024), Err(RequestError::TooLarge { .. })));
        assert!(matches!(Request::parse(b"\x01\x02 / HTTP/1.1\r\n\r\n", 1024), Err(RequestError::Malformed(_))));
    }

    fn head(headers: &str) -> Request {
        Request::parse(format!("POST / HTTP/1.1\r\n{headers}\r\n").as_bytes(), 4096).unwrap().unwrap()
    }

    #[test]
    fn host_must_be_there_once() {
        assert_eq!(head("Host: a:1\r\n").host(), Ok("a:1"));
        assert_eq!(head("").host(), Err(HeadError::MissingHost));
        assert_eq!(head("Host: \r\n").host(), Err(HeadError::MissingHost));
        assert_eq!(head("Host: a\r\nHost: a\r\n").host(), Err(HeadError::DuplicateHost));
    }

    #[test]
    fn content_length_values_must_agree() {
        assert_eq!(head("").content_length(), Ok(None));
        assert_eq!(head("Content-Length: 5\r\n").content_length(), Ok(Some(5)));
        assert_eq!(head("Content-Length: 5\r\nContent-Length: 5\r\n").content_length(), Ok(Some(5)));
        assert_eq!(head("Content-Length: 5, 5\r\n").content_length(), Ok(Some(5)));
        assert_eq!(
            head("Content-Length: 5\r\nContent-Length: 6\r\n").content_length(),
            Err(HeadError::ConflictingContentLength)
        );
        assert_eq!(head("Content-Length: 5, 6\r\n").content_length(), Err(HeadError::ConflictingContentLength));
        assert_eq!(head("Content-Length: -1\r\n").content_length(), Err(HeadError::BadContentLength));
    }
}
