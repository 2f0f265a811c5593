//! What `tail ID` may name: a full id, a unique prefix of one, or the
//! word `server` (the server's own session). A prefix that matches no
//! session exits 1; one that matches several exits 2 (a usage error: give
//! more digits), naming a few of them.

use serde_json::Value;

use super::http_client::HttpClient;

/// Ids named in an "ambiguous" message, at most.
const NAMED_IDS_MAX: usize = 5;

/// Why an id could not be resolved, with the exit status to use.
#[derive(Debug, PartialEq, Eq)]
pub struct RefError {
    pub message: String,
    pub exit_code: u8,
}

/// The kind of `ID` argument, before asking the server.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionRef {
    Full(String),
    Prefix(String),
    Server,
}

impl SessionRef {
    pub fn parse(text: &str) -> Result<SessionRef, String> {
        let lower = text.to_ascii_lowercase();
        if lower == "server" {
            return Ok(SessionRef::Server);
        }
        let hex = !lower.is_empty() && lower.bytes().all(|byte| byte.is_ascii_hexdigit());
        match (hex, lower.len()) {
            (true, 24) => Ok(SessionRef::Full(lower)),
            (true, 1..=23) => Ok(SessionRef::Prefix(lower)),
            _ => Err(format!(
                "{text:?} is not a session id, a prefix of one (hex digits) or \"server\""
            )),
        }
    }

    /// The full id, asking the server for a prefix or `server`.
    pub fn resolve(&self, client: &mut HttpClient) -> Result<String, RefError> {
        let prefix = match self {
            SessionRef::Full(id) => return Ok(id.clone()),
            SessionRef::Prefix(prefix) => prefix,
            SessionRef::Server => "",
        };
        let list = fetch_list(client)?;
        if prefix.is_empty() {
            return list["server_session"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| failure("the server did not name its own session"));
        }
        let ids: Vec<&str> = list["sessions"]
            .as_array()
            .map(|sessions| sessions.iter().filter_map(|s| s["id"].as_str()).collect())
            .unwrap_or_default();
        pick(prefix, &ids)
    }
}

/// The one id of `ids` that starts with `prefix`.
pub fn pick(prefix: &str, ids: &[&str]) -> Result<String, RefError> {
    let matches: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| id.starts_with(prefix))
        .collect();
    match matches.as_slice() {
        [] => Err(failure(&format!("no session id starts with {prefix}"))),
        [id] => Ok((*id).to_owned()),
        many => {
            let named: Vec<&str> = many.iter().copied().take(NAMED_IDS_MAX).collect();
            let more = if many.len() > NAMED_IDS_MAX {
                ", ..."
            } else {
                ""
            };
            Err(RefError {
                message: format!(
                    "{prefix} is ambiguous: {} sessions match ({}{more}); give more digits",
                    many.len(),
                    named.join(", ")
                ),
                exit_code: 2,
            })
        }
    }
}

fn fetch_list(client: &mut HttpClient) -> Result<Value, RefError> {
    let response = client
        .request("GET", "/sessions/?status=all", None, b"", 0)
        .map_err(|error| failure(&format!("{}: {error}", client.endpoint().authority)))?;
    if response.status != 200 {
        return Err(failure(&format!(
            "listing sessions: {}",
            response.error_text()
        )));
    }
    serde_json::from_slice(&response.body).map_err(|_| failure("the session list is not json"))
}

fn failure(message: &str) -> RefError {
    RefError {
        message: message.to_owned(),
        exit_code: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let full = "5f0a1b2c3d4e5f60718293a4";
        assert_eq!(SessionRef::parse(full), Ok(SessionRef::Full(full.into())));
        assert_eq!(
            SessionRef::parse("5F0A"),
            Ok(SessionRef::Prefix("5f0a".into()))
        );
        assert_eq!(SessionRef::parse("Server"), Ok(SessionRef::Server));
        for bad in ["", "xyz", "5f0a1b2c3d4e5f60718293a4ff", "5f-0"] {
            assert!(SessionRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes() {
        let ids = ["aa01", "aa02", "ab03"];
        assert_eq!(pick("ab", &ids), Ok("ab03".into()));
        assert_eq!(pick("zz", &ids).map_err(|e| e.exit_code), Err(1));
        let ambiguous = pick("aa", &ids).expect_err("two match");
        assert_eq!(ambiguous.exit_code, 2);
        assert!(
            ambiguous.message.contains("aa01, aa02"),
            "{}",
            ambiguous.message
        );
    }
}
