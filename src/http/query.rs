//! Query strings: `a=1&b=two`, percent-decoded, strict.
//!
//! Every route names the parameters it knows; an unknown or repeated one is
//! a 400, so a typo such as `?curser=5` is an error rather than a silent
//! read from the start of the log.

use crate::ingest::Quoted;

/// Why a query was refused (always 400).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryError {
    BadEncoding,
    Unknown(String),
    Repeated(String),
    NotANumber(String),
}

impl QueryError {
    pub fn message(&self) -> String {
        match self {
            QueryError::BadEncoding => "query string has a bad percent-encoding".into(),
            // Names are the client's: quoted, escaped and cut like every
            // echo, not repeated whole from an 8 KiB target.
            QueryError::Unknown(name) => format!("unknown query parameter {}", Quoted(name)),
            QueryError::Repeated(name) => format!("query parameter {} given twice", Quoted(name)),
            QueryError::NotANumber(name) => format!(
                "query parameter {} must be a non-negative whole number",
                Quoted(name)
            ),
        }
    }
}

/// Decoded `name=value` pairs of one request, in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `query` (without the `?`), accepting only the names in `known`.
    pub fn parse(query: &str, known: &[&str]) -> Result<Query, QueryError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in query.split('&').filter(|part| !part.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let name = percent_decode(name)?;
            let value = percent_decode(value)?;
            if !known.contains(&name.as_str()) {
                return Err(QueryError::Unknown(name));
            }
            if pairs.iter().any(|(seen, _)| *seen == name) {
                return Err(QueryError::Repeated(name));
            }
            pairs.push((name, value));
        }
        Ok(Query { pairs })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A parameter that must be plain decimal digits, as a u64.
    pub fn number(&self, name: &str) -> Result<Option<u64>, QueryError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        let digits_only = !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
        match text.parse::<u64>() {
            Ok(number) if digits_only => Ok(Some(number)),
            _ => Err(QueryError::NotANumber(name.to_owned())),
        }
    }
}

/// Decodes `%XX` escapes and `+` as space; the result must be UTF-8.
pub fn percent_decode(text: &str) -> Result<String, QueryError> {
    if !text.contains(['%', '+']) {
        return Ok(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = bytes
                    .get(index + 1..index + 3)
                    .ok_or(QueryError::BadEncoding)?;
                let text = std::str::from_utf8(hex).map_err(|_| QueryError::BadEncoding)?;
                let byte = u8::from_str_radix(text, 16).map_err(|_| QueryError::BadEncoding)?;
                decoded.push(byte);
                index += 3;
            }
            b'+' => {
                decoded.push(b' ');
                index += 1;
            }
            byte => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded).map_err(|_| QueryError::BadEncoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["cursor", "limit", "format"];

    #[test]
    fn parses_known_names() {
        let query = Query::parse("cursor=5&format=te%78t", KNOWN).expect("valid");
        assert_eq!(query.number("cursor"), Ok(Some(5)));
        assert_eq!(query.get("format"), Some("text"));
        assert_eq!(query.number("limit"), Ok(None));
        assert_eq!(Query::parse("", KNOWN), Ok(Query::default()));
        assert_eq!(Query::parse("&&", KNOWN), Ok(Query::default()));
    }

    #[test]
    fn an_unknown_name_is_echoed_quoted_and_cut() {
        let error = QueryError::Unknown("curser".into());
        assert_eq!(error.message(), "unknown query parameter \"curser\"");
        let long = "x".repeat(8000);
        let message = QueryError::Unknown(long).message();
        assert!(message.len() < 120, "{} bytes", message.len());
        assert!(message.ends_with(" (cut)"), "{message}");
        let odd = QueryError::Repeated("a\"b\n".into()).message();
        assert_eq!(odd, "query parameter \"a\\\"b\\n\" given twice");
    }

    #[test]
    fn refusals() {
        let cases: &[(&str, QueryError)] = &[
            ("curser=1", QueryError::Unknown("curser".into())),
            ("cursor=1&cursor=2", QueryError::Repeated("cursor".into())),
            ("cursor=%zz", QueryError::BadEncoding),
            ("cursor=%4", QueryError::BadEncoding),
            ("cursor=%ff", QueryError::BadEncoding),
        ];
        for (text, expected) in cases {
            assert_eq!(
                Query::parse(text, KNOWN).err().as_ref(),
                Some(expected),
                "{text}"
            );
        }
    }

    #[test]
    fn numbers_are_plain_digits() {
        for bad in ["-1", "+1", "1.5", "", "0x10", "18446744073709551616", " 1"] {
            let query = Query::parse(&format!("cursor={bad}"), KNOWN).expect("parses");
            assert!(query.number("cursor").is_err(), "{bad:?}");
        }
        let query = Query::parse("cursor=18446744073709551615", KNOWN).expect("parses");
        assert_eq!(query.number("cursor"), Ok(Some(u64::MAX)));
    }
}
