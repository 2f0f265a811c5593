//! Where and how the exporter sends: the `--otlp-*` flags and the standard
//! OpenTelemetry environment variables, resolved once at start into
//! `ExportSettings` (or `None`: export off).
//!
//! Precedence, as the OpenTelemetry exporter spec gives it
//! (`specification/protocol/exporter.md`): a flag wins over the
//! environment, and a logs-specific variable over the generic one.
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL (`/v1/logs` is appended, as
//! SDKs do), `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` is used as it is. Headers
//! merge key by key in that order (generic, logs-specific, flags), so a
//! flag replaces one header and keeps the rest.
//!
//! Only `http://` is sent: TLS is a local collector's job, and an
//! `https://` endpoint or the `grpc` protocol is refused at start (exit 2)
//! rather than sent the wrong way. The host is resolved once, here.

use super::otlp_request::Encoding;
use crate::limits::*;
use std::net::{SocketAddr, ToSocketAddrs};

/// The raw `--otlp-*` flags, before the environment is consulted.
#[derive(Clone, Debug, Default)]
pub struct ExportFlags {
    pub endpoint: Option<String>,
    pub headers: Vec<String>,
    pub protocol: Option<String>,
    pub batch_entries: Option<usize>,
    pub batch_ms: Option<u64>,
    pub flush_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
}

/// Everything the exporter needs, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportSettings {
    /// The URL as the user gave it (with `/v1/logs` when it was a base).
    pub url: String,
    pub addr: SocketAddr,
    /// `Host` header: the URL's authority.
    pub host: String,
    /// Request target: the URL's path (and query).
    pub path: String,
    pub encoding: Encoding,
    /// Extra request headers, names as given.
    pub headers: Vec<(String, String)>,
    /// Resource attributes other than `service.instance.id` (added by the
    /// server, which knows its session id): `service.name`, `host.name`,
    /// then `OTEL_RESOURCE_ATTRIBUTES`.
    pub resource: Vec<(String, String)>,
    pub batch_entries: usize,
    pub batch_ms: u64,
    pub flush_ms: u64,
    pub timeout_ms: u64,
}

/// Resolves the export settings; `env` reads one environment variable.
/// `Ok(None)`: no endpoint anywhere, export off.
pub fn resolve(
    flags: &ExportFlags,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<ExportSettings>, String> {
    let env = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    let url = match (&flags.endpoint, env("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")) {
        (Some(base), _) => logs_url(base),
        (None, Some(url)) => url,
        (None, None) => match env("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Some(base) => logs_url(&base),
            None => return Ok(None),
        },
    };
    let protocol = flags
        .protocol
        .clone()
        .or_else(|| env("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"))
        .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"));
    let encoding = match protocol.as_deref().map(str::trim) {
        None | Some("http/protobuf") => Encoding::Protobuf,
        Some("http/json") => Encoding::Json,
        Some("grpc") => {
            return Err("OTLP protocol grpc is not supported: use http/protobuf or \
                        http/json (a collector's OTLP/HTTP port is 4318; 4317 is gRPC)"
                .into())
        }
        Some(other) => {
            return Err(format!(
                "OTLP protocol {other:?} is unknown: use http/protobuf or http/json"
            ))
        }
    };
    let (addr, host, path) = parse_http_url(&url)?;
    let mut headers = Vec::new();
    for (source, list) in [
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            env("OTEL_EXPORTER_OTLP_HEADERS"),
        ),
        (
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
            env("OTEL_EXPORTER_OTLP_LOGS_HEADERS"),
        ),
    ] {
        if let Some(list) = list {
            for (name, value) in parse_key_values(&list).map_err(|e| format!("{source}: {e}"))? {
                set_header(&mut headers, name, value)?;
            }
        }
    }
    for header in &flags.headers {
        let (name, value) = header
            .split_once('=')
            .ok_or_else(|| format!("--otlp-header: {header:?} is not KEY=VALUE"))?;
        set_header(
            &mut headers,
            name.trim().to_owned(),
            value.trim().to_owned(),
        )?;
    }
    let mut resource = Vec::new();
    if let Some(list) = env("OTEL_RESOURCE_ATTRIBUTES") {
        resource = parse_key_values(&list).map_err(|e| format!("OTEL_RESOURCE_ATTRIBUTES: {e}"))?;
    }
    let service_name = env("OTEL_SERVICE_NAME")
        .or_else(|| take_attribute(&mut resource, "service.name"))
        .unwrap_or_else(|| OTLP_SERVICE_NAME_DEFAULT.to_owned());
    // The server names its own instance: its session id.
    take_attribute(&mut resource, "service.instance.id");
    let host_name = take_attribute(&mut resource, "host.name").unwrap_or_else(host_name);
    let mut attributes = vec![
        ("service.name".to_owned(), service_name),
        ("host.name".to_owned(), host_name),
    ];
    attributes.append(&mut resource);
    Ok(Some(ExportSettings {
        url,
        addr,
        host,
        path,
        encoding,
        headers,
        resource: attributes,
        batch_entries: flags.batch_entries.unwrap_or(OTLP_BATCH_ENTRIES_DEFAULT),
        batch_ms: flags.batch_ms.unwrap_or(OTLP_BATCH_MS_DEFAULT),
        flush_ms: flags.flush_ms.unwrap_or(OTLP_FLUSH_MS_DEFAULT),
        timeout_ms: match flags.timeout_ms {
            Some(ms) => ms,
            None => env_timeout(&env)?,
        },
    }))
}

/// `OTEL_EXPORTER_OTLP_LOGS_TIMEOUT`, then `OTEL_EXPORTER_OTLP_TIMEOUT`
/// (milliseconds), else the spec's default of 10 s.
fn env_timeout(env: &dyn Fn(&str) -> Option<String>) -> Result<u64, String> {
    for name in [
        "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ] {
        if let Some(value) = env(name) {
            return match value.trim().parse::<u64>() {
                Ok(ms) if (1..=OTLP_TIMEOUT_MS_MAX).contains(&ms) => Ok(ms),
                _ => Err(format!(
                    "{name}: {value:?} is not a whole number of milliseconds from 1 to \
                     {OTLP_TIMEOUT_MS_MAX}"
                )),
            };
        }
    }
    Ok(OTLP_TIMEOUT_MS_DEFAULT)
}

/// A base URL with the logs path appended, as SDKs build it.
fn logs_url(base: &str) -> String {
    let base = base.trim();
    if base.ends_with('/') {
        format!("{base}v1/logs")
    } else {
        format!("{base}/v1/logs")
    }
}

/// `http://host[:port][/path]` → (address, Host header, target).
fn parse_http_url(url: &str) -> Result<(SocketAddr, String, String), String> {
    let url = url.trim();
    let Some(rest) = url.strip_prefix("http://") else {
        if url.starts_with("https://") {
            return Err(format!(
                "OTLP endpoint {url:?}: https is not supported; send to a local \
                 collector over http:// and let it speak TLS"
            ));
        }
        return Err(format!("OTLP endpoint {url:?} must start with http://"));
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("OTLP endpoint {url:?} needs a host (and no user)"));
    }
    if path.contains('#') || path.bytes().any(|byte| byte <= b' ' || byte == 0x7f) {
        return Err(format!(
            "OTLP endpoint {url:?} has a fragment or a space in its path"
        ));
    }
    let with_port = if authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:80")
    } else {
        authority.to_owned()
    };
    let host_only = with_port.rsplit_once(':').map_or("", |(host, _)| {
        host.trim_start_matches('[').trim_end_matches(']')
    });
    let port = with_port.rsplit_once(':').map_or("", |(_, port)| port);
    let port: u16 = port
        .parse()
        .map_err(|_| format!("OTLP endpoint {url:?}: {port:?} is not a port"))?;
    let addr = (host_only, port)
        .to_socket_addrs()
        .map_err(|error| format!("OTLP endpoint {url:?}: cannot resolve {host_only:?}: {error}"))?
        .next()
        .ok_or_else(|| format!("OTLP endpoint {url:?}: {host_only:?} has no address"))?;
    Ok((addr, authority.to_owned(), path.to_owned()))
}

/// `key1=value1,key2=value2` with percent-encoded values (the W3C Baggage
/// format the OTLP headers and resource variables use).
fn parse_key_values(list: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for item in list
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("{item:?} is not key=value"))?;
        let key = percent_decode(key.trim())?;
        if key.is_empty() {
            return Err(format!("{item:?} has an empty key"));
        }
        pairs.push((key, percent_decode(value.trim())?));
    }
    Ok(pairs)
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3).and_then(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            });
            let byte = hex.ok_or_else(|| format!("{text:?} has a bad percent escape"))?;
            out.push(byte);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} is not UTF-8 once decoded"))
}

/// Sets a header, replacing one of the same name (case-insensitive).
/// Names must be tokens and values free of CR/LF, so nothing a variable
/// holds can split the request.
fn set_header(
    headers: &mut Vec<(String, String)>,
    name: String,
    value: String,
) -> Result<(), String> {
    let token = |byte: u8| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("OTLP header name {name:?} is not a token"));
    }
    if value
        .bytes()
        .any(|byte| byte < b' ' && byte != b'\t' || byte == 0x7f)
    {
        return Err(format!(
            "OTLP header {name:?} has a control character in its value"
        ));
    }
    let reserved = [
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
    ];
    if reserved.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "OTLP header {name:?} is set by the exporter itself"
        ));
    }
    headers.retain(|(other, _)| !other.eq_ignore_ascii_case(&name));
    headers.push((name, value));
    Ok(())
}

fn take_attribute(attributes: &mut Vec<(String, String)>, key: &str) -> Option<String> {
    let index = attributes.iter().rposition(|(other, _)| other == key)?;
    let value = attributes.remove(index).1;
    attributes.retain(|(other, _)| other != key);
    Some(value)
}

/// This machine's name, as `uname -n` says it (Linux: `/proc`).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(flags: &ExportFlags, env: &[(&str, &str)]) -> Result<Option<ExportSettings>, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        resolve(flags, &move |name| {
            env.iter()
                .find(|(other, _)| other == name)
                .map(|(_, value)| value.clone())
        })
    }

    fn settings(flags: &ExportFlags, env: &[(&str, &str)]) -> ExportSettings {
        check(flags, env).expect("valid").expect("export on")
    }

    fn endpoint(url: &str) -> ExportFlags {
        ExportFlags {
            endpoint: Some(url.to_owned()),
            ..ExportFlags::default()
        }
    }

    #[test]
    fn off_without_an_endpoint() {
        assert_eq!(check(&ExportFlags::default(), &[]), Ok(None));
        assert_eq!(
            check(
                &ExportFlags::default(),
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]
            ),
            Ok(None)
        );
    }

    #[test]
    fn endpoints_and_their_precedence() {
        let base = settings(&endpoint("http://127.0.0.1:4318"), &[]);
        assert_eq!(
            (base.path.as_str(), base.host.as_str()),
            ("/v1/logs", "127.0.0.1:4318")
        );
        assert_eq!(base.url, "http://127.0.0.1:4318/v1/logs");
        let slash = settings(&endpoint("http://127.0.0.1:4318/otlp/"), &[]);
        assert_eq!(slash.path, "/otlp/v1/logs");
        let env_base = settings(
            &ExportFlags::default(),
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")],
        );
        assert_eq!(env_base.path, "/v1/logs");
        // The logs variable is used as it is, and wins over the base.
        let env_logs = settings(
            &ExportFlags::default(),
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
                (
                    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                    "http://127.0.0.1:10/custom",
                ),
            ],
        );
        assert_eq!(
            (env_logs.path.as_str(), env_logs.addr.port()),
            ("/custom", 10)
        );
        // A flag wins over both.
        let flag = settings(
            &endpoint("http://[::1]:11"),
            &[(
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "http://127.0.0.1:10/custom",
            )],
        );
        assert_eq!(
            (flag.path.as_str(), flag.addr.to_string()),
            ("/v1/logs", "[::1]:11".to_owned())
        );
        assert_eq!(settings(&endpoint("http://127.0.0.1"), &[]).addr.port(), 80);
    }

    #[test]
    fn tls_grpc_and_bad_urls_are_refused() {
        let https = check(&endpoint("https://127.0.0.1:4318"), &[]).expect_err("https");
        assert!(https.contains("https is not supported"), "{https}");
        let grpc = ExportFlags {
            protocol: Some("grpc".into()),
            ..endpoint("http://127.0.0.1:4317")
        };
        let grpc = check(&grpc, &[]).expect_err("grpc");
        assert!(grpc.contains("4318") && grpc.contains("4317"), "{grpc}");
        let env_grpc = check(
            &endpoint("http://127.0.0.1:4317"),
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
        );
        assert!(env_grpc.is_err());
        for bad in [
            "ftp://x",
            "http://",
            "http://user@127.0.0.1",
            "http://127.0.0.1:99999",
            "http://127.0.0.1/a b",
        ] {
            assert!(check(&endpoint(bad), &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn protocol_precedence() {
        let json = settings(
            &endpoint("http://127.0.0.1:1"),
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
        );
        assert_eq!(json.encoding, Encoding::Json);
        let logs = settings(
            &endpoint("http://127.0.0.1:1"),
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
            ],
        );
        assert_eq!(logs.encoding, Encoding::Protobuf);
        let flag = ExportFlags {
            protocol: Some("http/json".into()),
            ..endpoint("http://127.0.0.1:1")
        };
        assert_eq!(
            settings(
                &flag,
                &[("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf")]
            )
            .encoding,
            Encoding::Json
        );
        assert_eq!(
            settings(&endpoint("http://127.0.0.1:1"), &[]).encoding,
            Encoding::Protobuf
        );
    }

    #[test]
    fn headers_merge_generic_then_logs_then_flags() {
        let flags = ExportFlags {
            headers: vec!["x-flag=on".into(), "API-Key=from flag".into()],
            ..endpoint("http://127.0.0.1:1")
        };
        let got = settings(
            &flags,
            &[
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "api-key=generic,x-team=build%20farm",
                ),
                ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-team=logs"),
            ],
        );
        let names: Vec<(&str, &str)> = got
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("x-team", "logs"),
                ("x-flag", "on"),
                ("API-Key", "from flag")
            ]
        );
        for bad in ["novalue", "bad name=1", "x=a\r\nInjected: 1", "Host=evil"] {
            let flags = ExportFlags {
                headers: vec![bad.into()],
                ..endpoint("http://127.0.0.1:1")
            };
            assert!(check(&flags, &[]).is_err(), "{bad:?}");
        }
        assert!(check(
            &endpoint("http://127.0.0.1:1"),
            &[("OTEL_EXPORTER_OTLP_HEADERS", "a=%zz")]
        )
        .is_err());
    }

    #[test]
    fn resource_attributes() {
        let got = settings(
            &endpoint("http://127.0.0.1:1"),
            &[("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,deployment.environment=ci,host.name=agent-7,service.instance.id=x")],
        );
        let pairs: Vec<(&str, &str)> = got
            .resource
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("service.name", "from-attrs"),
                ("host.name", "agent-7"),
                ("deployment.environment", "ci")
            ]
        );
        let named = settings(
            &endpoint("http://127.0.0.1:1"),
            &[
                ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
                ("OTEL_SERVICE_NAME", "cook"),
            ],
        );
        assert_eq!(
            named.resource[0],
            ("service.name".to_owned(), "cook".to_owned())
        );
        let default = settings(&endpoint("http://127.0.0.1:1"), &[]);
        assert_eq!(default.resource[0].1, "sessions-lite");
        assert!(!default.resource[1].1.is_empty());
    }

    #[test]
    fn timeouts() {
        assert_eq!(
            settings(&endpoint("http://127.0.0.1:1"), &[]).timeout_ms,
            OTLP_TIMEOUT_MS_DEFAULT
        );
        let env = [("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")];
        assert_eq!(
            settings(&endpoint("http://127.0.0.1:1"), &env).timeout_ms,
            2500
        );
        assert!(check(
            &endpoint("http://127.0.0.1:1"),
            &[("OTEL_EXPORTER_OTLP_TIMEOUT", "0")]
        )
        .is_err());
    }
}
