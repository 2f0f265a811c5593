//! Request heads: httparse does the tokenizing, this module the policy.
//!
//! httparse accepts things RFC 9112 wants refused (duplicate or conflicting
//! `Content-Length`, any `Transfer-Encoding`) and has no size limit, so the
//! framing decision is made here: exactly one way to find the body's end, or
//! an error that closes the connection. Pure: bytes in, a decision out.
//!
//! The head borrows its strings from the bytes it was parsed from, so a
//! request without a body (every GET) is answered without copying them;
//! a request that must wait for its body keeps `into_owned()`.

use crate::limits::{HEADERS_MAX, HEAD_BYTES_MAX, URI_BYTES_MAX};
use std::borrow::Cow;
use std::mem::MaybeUninit;

/// Request methods the server knows; anything else is `Other` (→ 405).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Other,
}

impl Method {
    fn parse(text: &str) -> Method {
        match text {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }

    /// The method's name as sent (`Other` has none of its own).
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Other => "OTHER",
        }
    }

    /// POST, PUT and DELETE change state: they need the token and a
    /// same-origin `Origin`.
    pub fn is_write(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Delete)
    }
}

/// How the end of the request body is found (RFC 9112 section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body.
    None,
    Length(u64),
    Chunked,
}

/// The parts of a request head the server acts on, borrowed from the
/// input (`'a`) or owned (`'static`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead<'a> {
    pub method: Method,
    /// Path and query as sent (origin-form).
    pub target: Cow<'a, str>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: u8,
    pub host: Option<Cow<'a, str>>,
    pub origin: Option<Cow<'a, str>>,
    pub content_type: Option<Cow<'a, str>>,
    /// Every `Content-Encoding` value, joined with ", " (a list header).
    pub content_encoding: Option<Cow<'a, str>>,
    pub authorization: Option<Cow<'a, str>>,
    pub accept: Option<Cow<'a, str>>,
    /// Every `Accept-Encoding` value, joined with ", " (a list header).
    pub accept_encoding: Option<Cow<'a, str>>,
    pub if_none_match: Option<Cow<'a, str>>,
    /// An `EventSource` reconnecting names the last event id it got.
    pub last_event_id: Option<Cow<'a, str>>,
    pub framing: BodyFraming,
    pub expect_continue: bool,
    /// After this exchange the connection stays open.
    pub keep_alive: bool,
    /// `Connection: upgrade` with `Upgrade: websocket`.
    pub websocket_upgrade: bool,
    pub websocket_key: Option<Cow<'a, str>>,
    pub websocket_version: Option<Cow<'a, str>>,
    /// Every `Sec-WebSocket-Extensions` value, joined with ", " (a list
    /// header may be split over several lines).
    pub websocket_extensions: Option<Cow<'a, str>>,
    /// Bytes of the head, including the blank line.
    pub head_size: usize,
}

impl RequestHead<'_> {
    /// The same head with its own copies of the strings, to outlive the
    /// input (a request that waits for its body).
    pub fn into_owned(self) -> RequestHead<'static> {
        fn owned(text: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
            text.map(|text| Cow::Owned(text.into_owned()))
        }
        RequestHead {
            method: self.method,
            target: Cow::Owned(self.target.into_owned()),
            version_minor: self.version_minor,
            host: owned(self.host),
            origin: owned(self.origin),
            content_type: owned(self.content_type),
            content_encoding: owned(self.content_encoding),
            authorization: owned(self.authorization),
            accept: owned(self.accept),
            accept_encoding: owned(self.accept_encoding),
            if_none_match: owned(self.if_none_match),
            last_event_id: owned(self.last_event_id),
            framing: self.framing,
            expect_continue: self.expect_continue,
            keep_alive: self.keep_alive,
            websocket_upgrade: self.websocket_upgrade,
            websocket_key: owned(self.websocket_key),
            websocket_version: owned(self.websocket_version),
            websocket_extensions: owned(self.websocket_extensions),
            head_size: self.head_size,
        }
    }
}

/// Why a head was refused. Every variant closes the connection after the
/// answer: once framing is in doubt no later byte can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    TooLarge,
    UriTooLong,
    TooManyHeaders,
    Malformed(&'static str),
    MissingHost,
    DuplicateHost,
    LengthAndChunked,
    BadContentLength,
    DuplicateContentLength,
    UnknownTransferCoding,
    ChunkedNotFinal,
    TransferEncodingOnHttp10,
    UnknownExpectation,
}

impl HeadError {
    /// The contract's status code for this error.
    pub fn status(self) -> u16 {
        match self {
            HeadError::TooLarge | HeadError::TooManyHeaders => 431,
            HeadError::UriTooLong => 414,
            HeadError::UnknownTransferCoding => 501,
            HeadError::UnknownExpectation => 417,
            _ => 400,
        }
    }

    pub fn message(self) -> String {
        match self {
            HeadError::TooLarge => format!("request head exceeds {HEAD_BYTES_MAX} bytes"),
            HeadError::UriTooLong => format!("request target exceeds {URI_BYTES_MAX} bytes"),
            HeadError::TooManyHeaders => format!("more than {HEADERS_MAX} header fields"),
            HeadError::Malformed(what) => format!("malformed request head: {what}"),
            HeadError::MissingHost => "an HTTP/1.1 request needs a Host header".into(),
            HeadError::DuplicateHost => "more than one Host header".into(),
            HeadError::LengthAndChunked => {
                "Content-Length and Transfer-Encoding must not be sent together".into()
            }
            HeadError::BadContentLength => "Content-Length must be plain decimal digits".into(),
            HeadError::DuplicateContentLength => "more than one Content-Length".into(),
            HeadError::UnknownTransferCoding => {
                "only the chunked transfer coding is supported".into()
            }
            HeadError::ChunkedNotFinal => "chunked must be the only transfer coding".into(),
            HeadError::TransferEncodingOnHttp10 => {
                "Transfer-Encoding is not allowed on HTTP/1.0".into()
            }
            HeadError::UnknownExpectation => "only Expect: 100-continue is supported".into(),
        }
    }
}

/// A head is complete, or more bytes are needed.
#[derive(Debug, PartialEq, Eq)]
// Not boxed: a head is parsed once per request and matched at once, and a
// box would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
pub enum HeadParse<'a> {
    Complete(RequestHead<'a>),
    Partial,
}

/// Parses the head at the start of `buf`. `Partial` means wait for more
/// bytes; the caller keeps at most `HEAD_BYTES_MAX` of them, which this
/// function enforces by answering `TooLarge`/`UriTooLong` past that.
///
/// The verdict does not depend on how the bytes arrived: a head refused
/// whole gets the error its first refused prefix would have got. That
/// matters for the two size limits: a target over `URI_BYTES_MAX` is 414
/// even when the whole head, over `HEAD_BYTES_MAX` too, came in one read.
pub fn parse_head(buf: &[u8]) -> Result<HeadParse<'_>, HeadError> {
    // Left uninitialized: httparse initializes the ones it fills, and
    // filling all 64 first cost more than the rest of the parse.
    let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; HEADERS_MAX];
    let mut request = httparse::Request::new(&mut []);
    let refused = match request.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(head_size)) if head_size <= HEAD_BYTES_MAX => {
            return decide(&request, head_size).map(HeadParse::Complete);
        }
        Ok(httparse::Status::Complete(_)) => HeadError::TooLarge,
        Ok(httparse::Status::Partial) => return partial_verdict(buf),
        Err(httparse::Error::TooManyHeaders) => HeadError::TooManyHeaders,
        Err(error) => HeadError::Malformed(httparse_reason(error)),
    };
    if target_over_limit_first(buf) {
        return Err(HeadError::UriTooLong);
    }
    Err(refused)
}

/// A partial head may already be over a limit: say which one.
fn partial_verdict(buf: &[u8]) -> Result<HeadParse<'static>, HeadError> {
    if target_over_limit_first(buf) {
        return Err(HeadError::UriTooLong);
    }
    if buf.len() >= HEAD_BYTES_MAX {
        return Err(HeadError::TooLarge);
    }
    Ok(HeadParse::Partial)
}

/// True when the request target in `buf` is over `URI_BYTES_MAX` and
/// nothing before the byte that took it over was refused: sent one byte at
/// a time, this head would have been a 414 at that byte. The target is
/// measured between the first two spaces of the first line (to the end of
/// `buf` if the line has not ended), as the complete parse measures it, so
/// a long method is not a long URI.
fn target_over_limit_first(buf: &[u8]) -> bool {
    let line_end = buf
        .iter()
        .position(|&byte| byte == b'\n')
        .unwrap_or(buf.len());
    let line = &buf[..line_end];
    let Some(space) = line.iter().position(|&byte| byte == b' ') else {
        return false;
    };
    let target = &line[space + 1..];
    let target_size = target
        .iter()
        .position(|&byte| byte == b' ')
        .unwrap_or(target.len());
    if target_size <= URI_BYTES_MAX {
        return false;
    }
    // The shortest prefix with the target over its limit: within the head
    // limit (else a shorter prefix was already a 431) and not refused by
    // httparse (else an earlier byte was a 400).
    let prefix = &buf[..space + 1 + URI_BYTES_MAX + 1];
    let mut headers = [httparse::EMPTY_HEADER; 1];
    prefix.len() <= HEAD_BYTES_MAX
        && matches!(
            httparse::Request::new(&mut headers).parse(prefix),
            Ok(httparse::Status::Partial)
        )
}

fn httparse_reason(error: httparse::Error) -> &'static str {
    match error {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid method or token",
        httparse::Error::Version => "unsupported HTTP version",
        httparse::Error::TooManyHeaders => "too many headers",
    }
}

/// Header values the framing decision reads, collected in one pass.
#[derive(Default)]
struct Fields<'a> {
    host: Option<&'a str>,
    host_count: usize,
    content_length: Option<u64>,
    content_length_count: usize,
    transfer_codings: Vec<String>,
    connection_close: bool,
    connection_keep_alive: bool,
    connection_upgrade: bool,
    upgrade_websocket: bool,
    expect: Option<&'a str>,
}

fn decide<'a>(
    request: &httparse::Request<'_, 'a>,
    head_size: usize,
) -> Result<RequestHead<'a>, HeadError> {
    let method = Method::parse(request.method.ok_or(HeadError::Malformed("no method"))?);
    let target = request.path.ok_or(HeadError::Malformed("no target"))?;
    if target.len() > URI_BYTES_MAX {
        return Err(HeadError::UriTooLong);
    }
    if !target.starts_with('/') {
        return Err(HeadError::Malformed("request target must start with /"));
    }
    let version_minor = request.version.ok_or(HeadError::Malformed("no version"))?;
    let mut head = RequestHead {
        method,
        target: Cow::Borrowed(target),
        version_minor,
        host: None,
        origin: None,
        content_type: None,
        content_encoding: None,
        authorization: None,
        accept: None,
        accept_encoding: None,
        if_none_match: None,
        last_event_id: None,
        framing: BodyFraming::None,
        expect_continue: false,
        keep_alive: version_minor >= 1,
        websocket_upgrade: false,
        websocket_key: None,
        websocket_version: None,
        websocket_extensions: None,
        head_size,
    };
    let mut fields = Fields::default();
    for header in request.headers.iter() {
        read_header(header, &mut head, &mut fields)?;
    }
    apply_fields(&mut head, fields)?;
    Ok(head)
}

/// `text` without leading and trailing SP / HTAB (RFC 9110 OWS).
pub fn trim_ows(text: &str) -> &str {
    text.trim_matches(|c| c == ' ' || c == '\t')
}

/// A header value without its optional whitespace. OWS is SP and HTAB
/// only (RFC 9110 5.6.3): `str::trim` would also drop Unicode spaces such as
/// NBSP, and `chunked\u{a0}` would then pass for `chunked`.
fn header_text<'a>(header: &httparse::Header<'a>) -> Result<&'a str, HeadError> {
    std::str::from_utf8(header.value)
        .map(trim_ows)
        .map_err(|_| HeadError::Malformed("header value is not UTF-8"))
}

fn read_header<'a>(
    header: &httparse::Header<'a>,
    head: &mut RequestHead<'a>,
    fields: &mut Fields<'a>,
) -> Result<(), HeadError> {
    let name = header.name;
    let is = |wanted: &str| name.eq_ignore_ascii_case(wanted);
    if is("host") {
        fields.host_count += 1;
        fields.host = Some(header_text(header)?);
    } else if is("content-length") {
        fields.content_length_count += 1;
        fields.content_length = Some(parse_content_length(header.value)?);
    } else if is("transfer-encoding") {
        for coding in header_text(header)?.split(',') {
            fields
                .transfer_codings
                .push(trim_ows(coding).to_ascii_lowercase());
        }
    } else if is("connection") {
        for option in header_text(header)?.split(',') {
            let option = trim_ows(option);
            fields.connection_close |= option.eq_ignore_ascii_case("close");
            fields.connection_keep_alive |= option.eq_ignore_ascii_case("keep-alive");
            fields.connection_upgrade |= option.eq_ignore_ascii_case("upgrade");
        }
    } else if is("upgrade") {
        let text = header_text(header)?;
        fields.upgrade_websocket |= text
            .split(',')
            .any(|protocol| trim_ows(protocol).eq_ignore_ascii_case("websocket"));
    } else if is("expect") {
        fields.expect = Some(header_text(header)?);
    } else {
        read_plain_header(header, head)?;
    }
    Ok(())
}

/// Headers that are only carried to the router, never used for framing.
fn read_plain_header<'a>(
    header: &httparse::Header<'a>,
    head: &mut RequestHead<'a>,
) -> Result<(), HeadError> {
    let name = header.name;
    let slot = if name.eq_ignore_ascii_case("origin") {
        // One origin per request (RFC 6454 7.2); with two, which one the
        // write checks would be a guess.
        if head.origin.is_some() {
            return Err(HeadError::Malformed("more than one Origin header"));
        }
        &mut head.origin
    } else if name.eq_ignore_ascii_case("content-type") {
        &mut head.content_type
    } else if name.eq_ignore_ascii_case("authorization") {
        &mut head.authorization
    } else if name.eq_ignore_ascii_case("accept") {
        &mut head.accept
    } else if name.eq_ignore_ascii_case("if-none-match") {
        &mut head.if_none_match
    } else if name.eq_ignore_ascii_case("last-event-id") {
        &mut head.last_event_id
    } else if name.eq_ignore_ascii_case("sec-websocket-key") {
        &mut head.websocket_key
    } else if name.eq_ignore_ascii_case("sec-websocket-version") {
        &mut head.websocket_version
    } else if name.eq_ignore_ascii_case("sec-websocket-extensions") {
        return join_list(&mut head.websocket_extensions, header_text(header)?);
    } else if name.eq_ignore_ascii_case("accept-encoding") {
        return join_list(&mut head.accept_encoding, header_text(header)?);
    } else if name.eq_ignore_ascii_case("content-encoding") {
        return join_list(&mut head.content_encoding, header_text(header)?);
    } else {
        return Ok(());
    };
    *slot = Some(Cow::Borrowed(header_text(header)?));
    Ok(())
}

/// Appends one line of a list header: several lines of one field are one
/// comma-separated list (RFC 9110 5.3). One line stays borrowed.
fn join_list<'a>(joined: &mut Option<Cow<'a, str>>, text: &'a str) -> Result<(), HeadError> {
    match joined {
        Some(joined) => {
            let joined = joined.to_mut();
            joined.push_str(", ");
            joined.push_str(text);
        }
        None => *joined = Some(Cow::Borrowed(text)),
    }
    Ok(())
}

/// `Content-Length` is 1*DIGIT (RFC 9110 8.6): no sign, no spaces inside,
/// no list, and it must fit in a u64.
fn parse_content_length(value: &[u8]) -> Result<u64, HeadError> {
    let text = std::str::from_utf8(value).map_err(|_| HeadError::BadContentLength)?;
    let text = text.trim_matches(|c| c == ' ' || c == '\t');
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeadError::BadContentLength);
    }
    text.parse().map_err(|_| HeadError::BadContentLength)
}

fn apply_fields<'a>(head: &mut RequestHead<'a>, fields: Fields<'a>) -> Result<(), HeadError> {
    match fields.host_count {
        0 if head.version_minor >= 1 => return Err(HeadError::MissingHost),
        0 | 1 => head.host = fields.host.map(Cow::Borrowed),
        _ => return Err(HeadError::DuplicateHost),
    }
    head.framing = framing(head.version_minor, &fields)?;
    if let Some(expect) = fields.expect {
        if !expect.eq_ignore_ascii_case("100-continue") {
            return Err(HeadError::UnknownExpectation);
        }
        // A 1.0 client cannot understand a 100 response (RFC 9110 10.1.1).
        head.expect_continue = head.version_minor >= 1;
    }
    head.keep_alive = if head.version_minor >= 1 {
        !fields.connection_close
    } else {
        fields.connection_keep_alive && !fields.connection_close
    };
    head.websocket_upgrade = fields.connection_upgrade && fields.upgrade_websocket;
    Ok(())
}

fn framing(version_minor: u8, fields: &Fields<'_>) -> Result<BodyFraming, HeadError> {
    if fields.content_length_count > 1 {
        return Err(HeadError::DuplicateContentLength);
    }
    if fields.transfer_codings.is_empty() {
        return Ok(match fields.content_length {
            Some(length) => BodyFraming::Length(length),
            None => BodyFraming::None,
        });
    }
    if fields.content_length.is_some() {
        return Err(HeadError::LengthAndChunked);
    }
    if version_minor == 0 {
        return Err(HeadError::TransferEncodingOnHttp10);
    }
    let codings = &fields.transfer_codings;
    if codings.iter().any(|coding| coding != "chunked") {
        return Err(HeadError::UnknownTransferCoding);
    }
    if codings.len() > 1 {
        return Err(HeadError::ChunkedNotFinal);
    }
    Ok(BodyFraming::Chunked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(raw: &str) -> RequestHead<'_> {
        match parse_head(raw.as_bytes()) {
            Ok(HeadParse::Complete(head)) => head,
            other => panic!("expected a complete head for {raw:?}, got {other:?}"),
        }
    }

    fn refused(raw: &str) -> HeadError {
        match parse_head(raw.as_bytes()) {
            Err(error) => error,
            other => panic!("expected an error for {raw:?}, got {other:?}"),
        }
    }

    #[test]
    fn simple_get() {
        let head = complete("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(head.method, Method::Get);
        assert_eq!(head.target, "/health");
        assert_eq!(head.framing, BodyFraming::None);
        assert!(head.keep_alive);
    }

    #[test]
    fn framing_rules() {
        let h = "Host: x\r\n";
        let cases: &[(&str, Result<BodyFraming, HeadError>)] = &[
            ("Content-Length: 5\r\n", Ok(BodyFraming::Length(5))),
            ("Content-Length: 0\r\n", Ok(BodyFraming::Length(0))),
            ("Transfer-Encoding: chunked\r\n", Ok(BodyFraming::Chunked)),
            ("Transfer-Encoding: CHUNKED\r\n", Ok(BodyFraming::Chunked)),
            ("Content-Length: +5\r\n", Err(HeadError::BadContentLength)),
            ("Content-Length: 5 5\r\n", Err(HeadError::BadContentLength)),
            ("Content-Length: 5,5\r\n", Err(HeadError::BadContentLength)),
            ("Content-Length: 0x5\r\n", Err(HeadError::BadContentLength)),
            ("Content-Length: \r\n", Err(HeadError::BadContentLength)),
            (
                "Content-Length: 99999999999999999999\r\n",
                Err(HeadError::BadContentLength),
            ),
            (
                "Content-Length: 5\r\nContent-Length: 5\r\n",
                Err(HeadError::DuplicateContentLength),
            ),
            (
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                Err(HeadError::LengthAndChunked),
            ),
            (
                "Transfer-Encoding: gzip\r\n",
                Err(HeadError::UnknownTransferCoding),
            ),
            (
                "Transfer-Encoding: chunked, gzip\r\n",
                Err(HeadError::UnknownTransferCoding),
            ),
            (
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                Err(HeadError::ChunkedNotFinal),
            ),
            ("Expect: 100-continue\r\n", Ok(BodyFraming::None)),
            ("Expect: magic\r\n", Err(HeadError::UnknownExpectation)),
        ];
        for (headers, expected) in cases {
            let raw = format!("POST /x HTTP/1.1\r\n{h}{headers}\r\n");
            let got = match parse_head(raw.as_bytes()) {
                Ok(HeadParse::Complete(head)) => Ok(head.framing),
                Ok(HeadParse::Partial) => panic!("partial for {headers:?}"),
                Err(error) => Err(error),
            };
            assert_eq!(&got, expected, "headers {headers:?}");
        }
    }

    /// Found by fuzzing (seed `te-chunked-nbsp`): `str::trim` dropped a
    /// trailing NBSP, so `chunked\u{a0}` framed a body as chunked.
    #[test]
    fn nbsp_after_a_transfer_coding_is_not_whitespace() {
        let raw = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\u{a0}\r\n\r\n";
        assert_eq!(refused(raw), HeadError::UnknownTransferCoding);
        let tabbed = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked \r\n\r\n";
        assert_eq!(complete(tabbed).framing, BodyFraming::Chunked);
    }

    #[test]
    fn host_rules() {
        assert_eq!(refused("GET / HTTP/1.1\r\n\r\n"), HeadError::MissingHost);
        assert_eq!(
            refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            HeadError::DuplicateHost
        );
        let head = complete("GET / HTTP/1.0\r\n\r\n");
        assert_eq!(head.host, None);
        assert!(!head.keep_alive);
        assert!(complete("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert_eq!(
            refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            HeadError::TransferEncodingOnHttp10
        );
    }

    #[test]
    fn malformed_heads() {
        assert!(matches!(
            refused("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"),
            HeadError::Malformed(_)
        ));
        assert!(matches!(
            refused("GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n"),
            HeadError::Malformed(_)
        ));
        assert!(matches!(
            refused("GET / HTTP/2.0\r\nHost: x\r\n\r\n"),
            HeadError::Malformed(_)
        ));
        assert!(matches!(
            refused("GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n"),
            HeadError::Malformed(_)
        ));
    }

    #[test]
    fn header_count_at_the_limit() {
        let head_with = |count: usize| {
            let mut raw = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
            for index in 1..count {
                raw.push_str(&format!("X-{index}: y\r\n"));
            }
            raw.push_str("\r\n");
            parse_head(raw.as_bytes()).map(|parse| matches!(parse, HeadParse::Complete(_)))
        };
        assert_eq!(head_with(HEADERS_MAX - 1), Ok(true));
        assert_eq!(head_with(HEADERS_MAX), Ok(true));
        assert_eq!(head_with(HEADERS_MAX + 1), Err(HeadError::TooManyHeaders));
    }

    #[test]
    fn head_size_at_the_limit() {
        let head_of_size = |size: usize| {
            let start = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ";
            let pad = size - start.len() - 4;
            format!("{start}{}\r\n\r\n", "a".repeat(pad))
        };
        for size in [HEAD_BYTES_MAX - 1, HEAD_BYTES_MAX] {
            assert!(matches!(
                parse_head(head_of_size(size).as_bytes()),
                Ok(HeadParse::Complete(_))
            ));
        }
        assert_eq!(
            parse_head(head_of_size(HEAD_BYTES_MAX + 1).as_bytes()),
            Err(HeadError::TooLarge)
        );
        let partial = "GET / HTTP/1.1\r\nX: ".to_string() + &"a".repeat(HEAD_BYTES_MAX);
        assert_eq!(parse_head(partial.as_bytes()), Err(HeadError::TooLarge));
        let long_uri = "GET /".to_string() + &"a".repeat(HEAD_BYTES_MAX);
        assert_eq!(parse_head(long_uri.as_bytes()), Err(HeadError::UriTooLong));
    }

    /// Found by fuzzing (seed `long-method`): a request line over 8 KiB
    /// without its newline yet was refused as a long URI, though its target
    /// was short and the whole head (a long method) parses.
    #[test]
    fn a_long_method_is_not_a_long_uri() {
        let long_method = "M".repeat(URI_BYTES_MAX + 100);
        let prefix = format!("{long_method} /sessions HTTP/1.1\r\nHost: x\r\n");
        assert_eq!(parse_head(prefix.as_bytes()), Ok(HeadParse::Partial));
        let whole = format!("{prefix}\r\n");
        assert!(matches!(
            parse_head(whole.as_bytes()),
            Ok(HeadParse::Complete(_))
        ));
        let long_target = format!("GET /{}", "a".repeat(URI_BYTES_MAX));
        assert_eq!(
            parse_head(long_target.as_bytes()),
            Err(HeadError::UriTooLong)
        );
    }

    #[test]
    fn uri_at_the_limit() {
        let with_target = |length: usize| {
            format!(
                "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
                "a".repeat(length - 1)
            )
        };
        assert!(matches!(
            parse_head(with_target(URI_BYTES_MAX).as_bytes()),
            Ok(HeadParse::Complete(_))
        ));
        assert_eq!(
            parse_head(with_target(URI_BYTES_MAX + 1).as_bytes()),
            Err(HeadError::UriTooLong)
        );
    }

    /// What the server answers when `raw` arrives in reads ending at
    /// `ends` (then the rest): it parses what it holds after each read.
    fn verdict_in_reads(
        raw: &[u8],
        ends: impl IntoIterator<Item = usize>,
    ) -> Result<bool, HeadError> {
        for end in ends.into_iter().chain([raw.len()]) {
            match parse_head(&raw[..end.min(raw.len())]) {
                Ok(HeadParse::Partial) => continue,
                Ok(HeadParse::Complete(_)) => return Ok(true),
                Err(error) => return Err(error),
            }
        }
        Ok(false)
    }

    /// The verdict on `raw` in one read, in two (at several cuts) and one
    /// byte at a time: all the same, returned.
    fn verdict_every_way(raw: &str) -> Result<bool, HeadError> {
        let raw = raw.as_bytes();
        let whole = verdict_in_reads(raw, []);
        for cut in [
            1,
            100,
            URI_BYTES_MAX,
            URI_BYTES_MAX + 7,
            HEAD_BYTES_MAX - 1,
            HEAD_BYTES_MAX + 1,
        ] {
            assert_eq!(
                verdict_in_reads(raw, [cut]),
                whole,
                "two reads, cut at {cut}"
            );
        }
        // Byte by byte across both limits, small reads between them (each
        // read parses all it holds: byte by byte throughout is quadratic).
        let near = |limit: usize, end: usize| end.abs_diff(limit) <= 64;
        let bytes = (1..raw.len())
            .filter(|&end| end % 61 == 0 || near(URI_BYTES_MAX, end) || near(HEAD_BYTES_MAX, end));
        assert_eq!(verdict_in_reads(raw, bytes), whole, "byte by byte");
        whole
    }

    /// Regression (issue 15): a 20 KiB URI in one read got 431, since the
    /// head limit was checked before the target's; in pieces it got 414.
    #[test]
    fn a_long_uri_is_414_however_it_arrives() {
        let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(20 * 1024));
        assert_eq!(verdict_every_way(&long_uri), Err(HeadError::UriTooLong));
        let no_line_end = format!("GET /{}", "a".repeat(HEAD_BYTES_MAX + 10));
        assert_eq!(verdict_every_way(&no_line_end), Err(HeadError::UriTooLong));
        // Over the header count too: the URI came first.
        let mut many = format!("GET /{} HTTP/1.1\r\nHost: x\r\n", "a".repeat(URI_BYTES_MAX));
        for index in 0..HEADERS_MAX {
            many.push_str(&format!("X-{index}: y\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(verdict_every_way(&many), Err(HeadError::UriTooLong));
    }

    #[test]
    fn a_long_header_is_still_431_however_it_arrives() {
        let long_header = format!(
            "GET /x HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(20 * 1024)
        );
        assert_eq!(verdict_every_way(&long_header), Err(HeadError::TooLarge));
        // A URI exactly at its limit is not a 414, even in a head over its own.
        let target = format!("/{}", "a".repeat(URI_BYTES_MAX - 1));
        let at_limit = format!(
            "GET {target} HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(HEAD_BYTES_MAX)
        );
        assert_eq!(verdict_every_way(&at_limit), Err(HeadError::TooLarge));
        let fits = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(verdict_every_way(&fits), Ok(true));
        // A long method and a long target: the head limit came first.
        let both = format!(
            "{} /{} HTTP/1.1\r\n\r\n",
            "M".repeat(9000),
            "a".repeat(9000)
        );
        assert_eq!(verdict_every_way(&both), Err(HeadError::TooLarge));
    }

    #[test]
    fn a_bad_byte_before_the_uri_limit_is_400_after_it_414() {
        let before = format!(
            "GET /a\x01{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(20 * 1024)
        );
        assert!(matches!(
            verdict_every_way(&before),
            Err(HeadError::Malformed(_))
        ));
        let after = format!(
            "GET /{}\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(URI_BYTES_MAX + 10)
        );
        assert_eq!(verdict_every_way(&after), Err(HeadError::UriTooLong));
    }

    #[test]
    fn content_encoding_lines_are_joined_into_one_list() {
        let head = complete(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n\
             content-encoding: br\r\n\r\n",
        );
        assert_eq!(head.content_encoding.as_deref(), Some("gzip, br"));
        assert_eq!(
            complete("GET / HTTP/1.1\r\nHost: x\r\n\r\n").content_encoding,
            None
        );
    }

    #[test]
    fn partial_stays_partial_until_blank_line() {
        let raw = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n";
        for cut in 0..raw.len() {
            assert_eq!(parse_head(&raw[..cut]), Ok(HeadParse::Partial), "cut {cut}");
        }
        assert!(matches!(parse_head(raw), Ok(HeadParse::Complete(_))));
    }

    #[test]
    fn two_origin_headers_are_refused() {
        let one = "GET / HTTP/1.1\r\nHost: x\r\nOrigin: http://x\r\n\r\n";
        assert_eq!(complete(one).origin.as_deref(), Some("http://x"));
        let two = "POST / HTTP/1.1\r\nHost: x\r\nOrigin: http://x\r\nOrigin: http://evil\r\n\r\n";
        let error = parse_head(two.as_bytes()).expect_err("two origins");
        assert_eq!(error.status(), 400);
        assert!(error.message().contains("more than one Origin header"));
    }

    #[test]
    fn websocket_upgrade_fields() {
        let head = complete(
            "GET /sessions/ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n\r\n",
        );
        assert!(head.websocket_upgrade);
        assert_eq!(head.websocket_key.as_deref(), Some("abc"));
        assert_eq!(head.websocket_version.as_deref(), Some("13"));
        assert_eq!(head.websocket_extensions, None);
    }

    #[test]
    fn websocket_extension_lines_are_joined_into_one_list() {
        let head = complete(
            "GET /sessions/ws HTTP/1.1\r\nHost: x\r\n\
             Sec-WebSocket-Extensions: x-frame\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
        );
        assert_eq!(
            head.websocket_extensions.as_deref(),
            Some("x-frame, permessage-deflate; client_max_window_bits")
        );
    }

    #[test]
    fn accept_encoding_lines_are_joined_into_one_list() {
        let head = complete(
            "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\n\
             accept-encoding:  gzip;q=0.5 \r\n\r\n",
        );
        assert_eq!(head.accept_encoding.as_deref(), Some("br, gzip;q=0.5"));
        assert_eq!(
            complete("GET / HTTP/1.1\r\nHost: x\r\n\r\n").accept_encoding,
            None
        );
    }
}
