//! The OpenAPI document: served by the binary as it is in the repo, valid
//! OpenAPI 3.1 (PyPI `openapi-spec-validator` in the project venv), and
//! the regression tests for what Schemathesis (`tests/schemathesis.sh`)
//! found wrong in it. Each of those asks the server and the document the
//! same question (a JSON Schema check through the venv's `jsonschema`).
//!
//! Skips, saying so, when `.venv/bin/python` lacks the validator, unless
//! `SESSIONS_LITE_REQUIRE_OPENAPI` is set (`make test` sets it, after
//! `make deps` installed it).

use crate::support::{has_curl, TestServer};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

fn document_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    std::fs::read_to_string(path).expect("docs/openapi.json")
}

fn document() -> Value {
    serde_json::from_str(&document_text()).expect("JSON")
}

fn venv_python() -> Option<PathBuf> {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let has_validator = Command::new(&python)
        .args(["-c", "import openapi_spec_validator, jsonschema"])
        .status()
        .is_ok_and(|status| status.success());
    if has_validator {
        return Some(python);
    }
    let why = ".venv lacks openapi-spec-validator (run make deps)";
    if std::env::var_os("SESSIONS_LITE_REQUIRE_OPENAPI").is_some() {
        panic!("{why}; SESSIONS_LITE_REQUIRE_OPENAPI is set");
    }
    eprintln!("skipped: {why}");
    None
}

/// Whether `instance` is valid against the document's
/// `components/schemas/NAME`, by JSON Schema 2020-12 with formats checked.
fn schema_accepts(python: &PathBuf, name: &str, instance: &Value) -> bool {
    let script = r##"
import json, sys, jsonschema
document = json.loads(open(sys.argv[1]).read())
schema = dict(document, **{"$ref": "#/components/schemas/" + sys.argv[2]})
validator = jsonschema.Draft202012Validator(
    schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
print("valid" if validator.is_valid(json.loads(sys.argv[3])) else "invalid")
"##;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    let output = Command::new(python)
        .args(["-c", script, path, name, &instance.to_string()])
        .output()
        .expect("python");
    let verdict = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    verdict.trim() == "valid"
}

#[test]
fn openapi_json_is_the_document_in_the_repo() {
    let server = TestServer::start(&[]);
    let reply = server.get("/openapi.json");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert_eq!(reply.text(), document_text());
    let etag = reply.header("ETag").expect("ETag").to_owned();
    let cached = server.request("GET", "/openapi.json", &[("If-None-Match", &etag)], b"");
    assert_eq!(cached.status, 304);
    // Served from memory even with --www: it describes this binary.
    let empty_www = std::env::temp_dir().join("sessions-lite-openapi-empty-www");
    std::fs::create_dir_all(&empty_www).expect("temp dir");
    let with_www = TestServer::start(&["--www", empty_www.to_str().expect("utf-8")]);
    assert_eq!(with_www.get("/openapi.json").text(), document_text());
    assert_eq!(with_www.get("/app.js").status, 404);
}

#[test]
fn curl_gets_the_document_gzipped() {
    if !has_curl() {
        eprintln!("skipped: no curl");
        return;
    }
    let server = TestServer::start(&[]);
    let output = Command::new("curl")
        .args([
            "-sS",
            "--compressed",
            "-D",
            "-",
            &server.url("/openapi.json"),
        ])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&output.stdout);
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    assert!(head.contains("Content-Encoding: gzip"), "{head}");
    assert_eq!(body, document_text());
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let Some(python) = venv_python() else { return };
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    let output = Command::new(python)
        .args(["-m", "openapi_spec_validator", path])
        .output()
        .expect("openapi-spec-validator");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // A document the validator takes is not proof it describes anything:
    // it must name 3.1 and have every route (see also api::routes tests).
    assert_eq!(document()["openapi"], "3.1.0");
}

/// Schemathesis (`positive_data_acceptance`): `POST /sessions/` with no
/// body was "schema-valid" because the document called the body optional,
/// but no body is `{}`, which lacks `appname` and `mode`: 400.
#[test]
fn create_without_a_body_is_400_and_the_document_requires_one() {
    let server = TestServer::start(&[]);
    let reply = server.request("POST", "/sessions/", &[], b"");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error(), "appname is required to create a session");
    for path in ["/sessions/", "/sessions"] {
        let body = &document()["paths"][path]["post"]["requestBody"];
        assert_eq!(body["required"], true, "{path}");
    }
}

/// Schemathesis (`negative_data_rejection`): an empty log append was
/// "schema-violating" because the document required a body, but an empty
/// body is no lines: 200, nothing appended.
#[test]
fn an_empty_log_append_is_200_and_the_document_does_not_require_a_body() {
    let server = TestServer::start(&[]);
    let id = server.create_session("openapi");
    for method in ["POST", "PUT"] {
        let reply = server.request(method, &format!("/sessions/{id}/log"), &[], b"");
        assert_eq!(reply.status, 200, "{method}");
        assert_eq!(reply.json(), json!({"appended": 0, "cursor": 0}));
        let operation = &document()["paths"]["/sessions/{id}/log"][method.to_lowercase()];
        assert_eq!(operation["requestBody"]["required"], false, "{method}");
    }
}

/// Schemathesis (`positive_data_acceptance`): NDJSON entries with
/// timestamps like `1223-12-25T00:40:51Z` were valid `date-time`s to the
/// document, but the server keeps times from 1970 to 9999 (400).
#[test]
fn entry_timestamps_before_1970_are_400_and_the_document_refuses_them() {
    let server = TestServer::start(&[]);
    let id = server.create_session("openapi");
    let Some(python) = venv_python() else { return };
    for (timestamp, kept) in [
        ("1223-12-25T00:40:51.37738Z", false),
        ("1969-12-31T23:59:59Z", false),
        ("1970-01-01T00:00:00Z", true),
        ("2026-12-03T10:00:00.5+01:00", true),
        ("9999-12-31T22:00:00Z", true),
    ] {
        let entry = json!({"message": "m", "timestamp": timestamp});
        let reply = server.post_json(&format!("/sessions/{id}/log"), &entry.to_string());
        assert_eq!(reply.status == 200, kept, "{timestamp}: {}", reply.text());
        assert_eq!(
            schema_accepts(&python, "EntryIn", &entry),
            kept,
            "the document on {timestamp}"
        );
    }
}
