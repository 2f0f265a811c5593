//! A small blocking HTTP/1.1 client over `std::net` for the subcommands:
//! one keep-alive connection, connect and I/O timeouts, and a cap on what
//! it reads (`CLIENT_RESPONSE_HEAD_BYTES_MAX`, `..._BODY_BYTES_MAX`).
//! It speaks only what this server answers: `Content-Length` bodies (or
//! none). A request on a reused connection that fails before any answer
//! byte is sent once more on a fresh one: the server may have closed an
//! idle connection just as we wrote.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::limits::{
    CLIENT_CONNECT_TIMEOUT_MS, CLIENT_IO_TIMEOUT_MS, CLIENT_RESPONSE_BODY_BYTES_MAX,
    CLIENT_RESPONSE_HEAD_BYTES_MAX, HEADERS_MAX,
};

/// Where the server is: from `--server http://HOST:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `HOST:PORT` as given, for the `Host` header and for messages.
    pub authority: String,
}

impl Endpoint {
    /// Accepts `http://HOST[:PORT][/]` (port 80 when left out).
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("server url {url:?} must start with http://"))?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        let valid = !authority.is_empty()
            && !authority.contains(['/', '?', '#', '@', ' '])
            && !authority.ends_with(':');
        if !valid {
            return Err(format!("server url {url:?} must be http://HOST:PORT"));
        }
        let has_port = match authority.rfind(']') {
            Some(bracket) => authority[bracket..].contains(':'),
            None => authority.contains(':'),
        };
        let authority = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Endpoint { authority })
    }

    fn resolve(&self) -> std::io::Result<SocketAddr> {
        let host_port = self.authority.replace(['[', ']'], "");
        let target = match self.authority.starts_with('[') {
            // `[::1]:8558` resolves as `(::1, 8558)`.
            true => host_port
                .rsplit_once(':')
                .and_then(|(host, port)| Some((host.to_owned(), port.parse::<u16>().ok()?)))
                .ok_or_else(|| std::io::Error::other("bad port"))?
                .to_socket_addrs()?
                .next(),
            false => self.authority.to_socket_addrs()?.next(),
        };
        target.ok_or_else(|| std::io::Error::other("the host name has no address"))
    }
}

/// One answer: status, the headers this client reads, the body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The server's `{"error": "..."}` text, or the status alone.
    pub fn error_text(&self) -> String {
        let parsed = serde_json::from_slice::<serde_json::Value>(&self.body).ok();
        match parsed.as_ref().and_then(|value| value["error"].as_str()) {
            Some(text) => format!("{} ({text})", self.status),
            None => format!("status {}", self.status),
        }
    }
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum ClientError {
    Connect(std::io::Error),
    Io(std::io::Error),
    /// Not an HTTP/1.1 answer this client reads.
    BadResponse(&'static str),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect(error) => write!(f, "cannot connect: {error}"),
            ClientError::Io(error) if is_timeout(error) => f.write_str("no answer in time"),
            ClientError::Io(error) => write!(f, "connection failed: {error}"),
            ClientError::BadResponse(what) => write!(f, "bad answer: {what}"),
        }
    }
}

fn is_timeout(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// One request's parts, as `request` was given them.
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    content_type: Option<&'a str>,
    body: &'a [u8],
    extra_wait_ms: u64,
}

pub struct HttpClient {
    endpoint: Endpoint,
    token: Option<String>,
    stream: Option<TcpStream>,
    /// Bytes read past the last answer (never more than one read's worth).
    input: Vec<u8>,
    /// Read and write timeout of one request (a long-poll adds its wait).
    io_timeout_ms: u64,
}

impl HttpClient {
    pub fn new(endpoint: Endpoint, token: Option<String>) -> HttpClient {
        HttpClient {
            endpoint,
            token,
            stream: None,
            input: Vec::new(),
            io_timeout_ms: CLIENT_IO_TIMEOUT_MS,
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Shortens (or restores) the timeout of each read and write, for a
    /// caller with a deadline of its own.
    pub fn set_io_timeout_ms(&mut self, timeout_ms: u64) {
        self.io_timeout_ms = timeout_ms.clamp(1, CLIENT_IO_TIMEOUT_MS);
    }

    /// Sends one request and reads its answer. `extra_wait_ms` lengthens
    /// the read timeout (a long-poll). Writes carry the token, if any.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        extra_wait_ms: u64,
    ) -> Result<Response, ClientError> {
        let request = Request {
            method,
            path,
            content_type,
            body,
            extra_wait_ms,
        };
        let reused = self.stream.is_some();
        match self.try_request(&request) {
            Err(ClientError::Io(_)) if reused && self.input.is_empty() => {
                self.stream = None;
                self.try_request(&request)
            }
            other => other,
        }
        .inspect_err(|_| {
            self.stream = None;
            self.input.clear();
        })
    }

    fn try_request(&mut self, request: &Request<'_>) -> Result<Response, ClientError> {
        let Request {
            method,
            path,
            content_type,
            body,
            extra_wait_ms,
        } = *request;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.endpoint.authority,
            body.len()
        );
        if let Some(content_type) = content_type {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if let Some(token) = self.token.as_deref().filter(|_| method != "GET") {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        let io_timeout = Duration::from_millis(self.io_timeout_ms);
        let read_timeout = io_timeout + Duration::from_millis(extra_wait_ms);
        let stream = self.stream()?;
        stream
            .set_read_timeout(Some(read_timeout))
            .map_err(ClientError::Io)?;
        stream
            .set_write_timeout(Some(io_timeout))
            .map_err(ClientError::Io)?;
        // One write for small requests; a large body goes straight after.
        if body.len() <= 4096 {
            let mut bytes = head.into_bytes();
            bytes.extend_from_slice(body);
            stream.write_all(&bytes).map_err(ClientError::Io)?;
        } else {
            stream.write_all(head.as_bytes()).map_err(ClientError::Io)?;
            stream.write_all(body).map_err(ClientError::Io)?;
        }
        let response = self.read_response(method == "HEAD")?;
        Ok(response)
    }

    fn stream(&mut self) -> Result<&mut TcpStream, ClientError> {
        if self.stream.is_none() {
            let addr = self.endpoint.resolve().map_err(ClientError::Connect)?;
            let timeout = Duration::from_millis(CLIENT_CONNECT_TIMEOUT_MS.min(self.io_timeout_ms));
            let stream =
                TcpStream::connect_timeout(&addr, timeout).map_err(ClientError::Connect)?;
            let _ = stream.set_nodelay(true);
            self.input.clear();
            self.stream = Some(stream);
        }
        self.stream
            .as_mut()
            .ok_or(ClientError::BadResponse("no connection"))
    }

    fn read_response(&mut self, no_body: bool) -> Result<Response, ClientError> {
        loop {
            if let Some((head_len, response, length, close)) = parse_head(&self.input)? {
                let length = if no_body || response.status == 204 || response.status == 304 {
                    0
                } else {
                    length
                };
                let body = self.read_body(head_len, length)?;
                if close {
                    self.stream = None;
                }
                return Ok(Response { body, ..response });
            }
            if self.input.len() > CLIENT_RESPONSE_HEAD_BYTES_MAX {
                return Err(ClientError::BadResponse("response head too large"));
            }
            self.fill()?;
        }
    }

    fn read_body(&mut self, head_len: usize, length: usize) -> Result<Vec<u8>, ClientError> {
        while self.input.len() < head_len + length {
            self.fill()?;
        }
        let body = self.input[head_len..head_len + length].to_vec();
        self.input.drain(..head_len + length);
        Ok(body)
    }

    fn fill(&mut self) -> Result<(), ClientError> {
        let stream = self
            .stream
            .as_mut()
            .ok_or(ClientError::BadResponse("no connection"))?;
        let mut chunk = [0u8; 16 * 1024];
        let read = stream.read(&mut chunk).map_err(ClientError::Io)?;
        if read == 0 {
            return Err(ClientError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        self.input.extend_from_slice(&chunk[..read]);
        Ok(())
    }
}

/// `Some((head length, response without body, body length, close))` once
/// the head is complete.
type ParsedHead = (usize, Response, usize, bool);

fn parse_head(input: &[u8]) -> Result<Option<ParsedHead>, ClientError> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(input) {
        Ok(httparse::Status::Complete(head_len)) => head_len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ClientError::BadResponse("not an http/1.1 response")),
    };
    let status = parsed.code.ok_or(ClientError::BadResponse("no status"))?;
    let mut length = 0usize;
    let mut close = parsed.version == Some(0);
    let mut kept = Vec::new();
    for header in parsed.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            length = value
                .parse()
                .map_err(|_| ClientError::BadResponse("bad content-length"))?;
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ClientError::BadResponse("chunked answers are not read"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            close |= value.eq_ignore_ascii_case("close");
        }
        kept.push((header.name.to_owned(), value.to_owned()));
    }
    if length > CLIENT_RESPONSE_BODY_BYTES_MAX {
        return Err(ClientError::BadResponse("response body too large"));
    }
    let response = Response {
        status,
        headers: kept,
        body: Vec::new(),
    };
    Ok(Some((head_len, response, length, close)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let parse = |url| Endpoint::parse(url).map(|endpoint| endpoint.authority);
        assert_eq!(
            parse("http://127.0.0.1:8558").as_deref(),
            Ok("127.0.0.1:8558")
        );
        assert_eq!(parse("http://localhost:1/").as_deref(), Ok("localhost:1"));
        assert_eq!(parse("http://build.local").as_deref(), Ok("build.local:80"));
        assert_eq!(parse("http://[::1]:9").as_deref(), Ok("[::1]:9"));
        assert_eq!(parse("http://[::1]").as_deref(), Ok("[::1]:80"));
        for bad in [
            "https://x:1",
            "127.0.0.1:8558",
            "http://",
            "http://x:1/path",
            "http://x:",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn heads() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Cursor: 7\r\n\r\nhi";
        let (head_len, response, length, close) =
            parse_head(raw).expect("valid").expect("complete");
        assert_eq!((head_len, length, close), (raw.len() - 2, 2, false));
        assert_eq!(response.header("x-cursor"), Some("7"));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n")
            .expect("partial")
            .is_none());
        let closing = b"HTTP/1.1 400 Bad\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert!(parse_head(closing).expect("valid").expect("complete").3);
        let huge = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            CLIENT_RESPONSE_BODY_BYTES_MAX + 1
        );
        assert!(parse_head(huge.as_bytes()).is_err());
    }
}
