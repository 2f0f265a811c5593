//! `export::otlp_request::RequestWriter`: records built from the input
//! (texts cut from it, any Unicode; `data` as a generated JSON object or
//! as raw text; metadata objects; any times, cursors and counts), encoded
//! as protobuf and as OTLP/JSON.
//!
//! Asserts:
//! - the protobuf body is a well-formed message tree all the way down,
//!   read with our own reader (`export::protobuf`) by the schema: every
//!   length-delimited field known to be a message is descended into, wire
//!   types are the schema's, strings are UTF-8, no field is unknown;
//! - the JSON body parses with serde_json, and the protobuf body decoded
//!   to the same JSON tree (camelCase, int64 as strings) equals it: both
//!   encodings describe the same message;
//! - the record count is the number pushed, attribute keys are unique per
//!   record, `encoded_size` is exact before `finish`, and `clear` then the
//!   same records gives the same bytes.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Number, Value};
use sessions_lite::export::otlp_request::{
    Encoding, Event, Record, RequestWriter, Resource, SessionAttrs,
};
use sessions_lite::export::protobuf::{fields, WireValue};
use sessions_lite::level::Level;
use sessions_lite_fuzz::reads::{seed_of, Rng};

/// Nesting of generated JSON values (serde_json stops at 128).
const DEPTH_MAX: usize = 12;
const RECORDS_MAX: usize = 8;

/// Texts cut from the input.
struct Source<'a> {
    data: &'a [u8],
    rng: Rng,
}

impl Source<'_> {
    fn text(&mut self) -> String {
        if self.data.is_empty() {
            return String::new();
        }
        let start = self.rng.below(self.data.len());
        let size = self.rng.below((self.data.len() - start).min(64) + 1);
        String::from_utf8_lossy(&self.data[start..start + size]).into_owned()
    }

    fn value(&mut self, depth: usize) -> Value {
        let choice = if depth >= DEPTH_MAX {
            self.rng.below(5)
        } else {
            self.rng.below(7)
        };
        match choice {
            0 => Value::Null,
            1 => Value::Bool(self.rng.below(2) == 1),
            2 => match self.rng.below(3) {
                0 => json!(self.rng.next_u64()),
                1 => json!(self.rng.next_u64() as i64),
                _ => Number::from_f64(f64::from_bits(self.rng.next_u64()))
                    .map_or(Value::Null, Value::Number),
            },
            3 | 4 => Value::String(self.text()),
            5 => Value::Array(
                (0..self.rng.below(4))
                    .map(|_| self.value(depth + 1))
                    .collect(),
            ),
            _ => Value::Object(self.object(depth + 1)),
        }
    }

    fn object(&mut self, depth: usize) -> Map<String, Value> {
        let mut object = Map::new();
        for _ in 0..self.rng.below(5) {
            let key = match self.rng.below(4) {
                0 => format!("sessions_lite.{}", self.text()),
                1 => format!("data.{}", self.text()),
                _ => self.text(),
            };
            let value = self.value(depth);
            object.insert(key, value);
        }
        object
    }
}

/// What one record is made of, owned.
struct Parts {
    body: String,
    id: String,
    appname: String,
    mode: String,
    jobid: Option<String>,
    data: Option<String>,
    metadata: Map<String, Value>,
    end_reason: String,
    kind: usize,
    numbers: [u64; 4],
    level: Level,
    truncated: bool,
}

fuzz_target!(|data: &[u8]| {
    let mut source = Source {
        data,
        rng: Rng::new(seed_of(data)),
    };
    let resource = Resource {
        attributes: (0..source.rng.below(4))
            .map(|index| (format!("r{index}.{}", source.text()), source.text()))
            .collect(),
    };
    let scope_version = source.text();
    let parts: Vec<Parts> = (0..source.rng.below(RECORDS_MAX + 1))
        .map(|_| Parts {
            body: source.text(),
            id: source.text(),
            appname: source.text(),
            mode: source.text(),
            jobid: (source.rng.below(2) == 1).then(|| source.text()),
            data: match source.rng.below(4) {
                0 => None,
                1 => Some(source.text()),
                _ => Some(Value::Object(source.object(0)).to_string()),
            },
            metadata: source.object(0),
            end_reason: source.text(),
            kind: source.rng.below(3),
            numbers: [0; 4].map(|_| match source.rng.below(3) {
                0 => 0,
                1 => source.rng.next_u64() % 1000,
                _ => source.rng.next_u64(),
            }),
            level: Level::from_code(source.rng.below(4) as u8).unwrap_or(Level::Info),
            truncated: source.rng.below(2) == 1,
        })
        .collect();
    let records: Vec<Record> = parts.iter().map(record_of).collect();

    let mut bodies = Vec::new();
    for encoding in [Encoding::Protobuf, Encoding::Json] {
        let mut writer = RequestWriter::new(encoding, &resource, &scope_version);
        for record in &records {
            writer.push(record);
        }
        assert_eq!(writer.record_count(), records.len());
        let size = writer.encoded_size();
        let body = writer.finish().to_vec();
        assert_eq!(body.len(), size, "{encoding:?} encoded_size");
        writer.clear();
        for record in &records {
            writer.push(record);
        }
        assert_eq!(writer.finish(), body, "{encoding:?} after clear");
        bodies.push(body);
    }
    let from_protobuf = decode_request(&bodies[0]);
    let from_json: Value = serde_json::from_slice(&bodies[1]).expect("the JSON body parses");
    assert_eq!(from_protobuf, from_json, "protobuf and JSON differ");
    let logs = &from_json["resourceLogs"][0]["scopeLogs"][0]["logRecords"];
    let logs = logs.as_array().expect("logRecords");
    assert_eq!(logs.len(), records.len());
    for record in logs {
        let mut keys = HashSet::new();
        for pair in record["attributes"].as_array().expect("attributes") {
            let key = pair["key"].as_str().expect("key");
            assert!(keys.insert(key.to_owned()), "attribute {key:?} repeats");
        }
    }
});

fn record_of(parts: &Parts) -> Record<'_> {
    let [time, observed, cursor, dropped_before] = parts.numbers;
    let event = match parts.kind {
        0 => Event::Entry {
            cursor,
            data: parts.data.as_deref().map(str::as_bytes),
            truncated: parts.truncated,
        },
        1 => Event::SessionStart {
            metadata: &parts.metadata,
        },
        _ => Event::SessionEnd {
            metadata: &parts.metadata,
            end_reason: &parts.end_reason,
        },
    };
    Record {
        time_unix_nano: time,
        observed_time_unix_nano: observed,
        level: parts.level,
        body: parts.body.as_bytes(),
        session: SessionAttrs {
            id: &parts.id,
            appname: &parts.appname,
            mode: &parts.mode,
            jobid: parts.jobid.as_deref(),
        },
        event,
        dropped_before,
    }
}

// The schema walk: each function reads one message type and returns its
// OTLP/JSON form. Any unknown field or wrong wire type fails.

fn each_field(message: &[u8], mut on_field: impl FnMut(u32, WireValue)) {
    for field in fields(message) {
        let field = field.unwrap_or_else(|error| panic!("malformed message: {}", error.message()));
        on_field(field.number, field.value);
    }
}

fn len(value: WireValue<'_>) -> &[u8] {
    match value {
        WireValue::Len(bytes) => bytes,
        other => panic!("{other:?} where a length-delimited field belongs"),
    }
}

fn text(value: WireValue) -> Value {
    Value::String(
        std::str::from_utf8(len(value))
            .expect("strings are UTF-8")
            .to_owned(),
    )
}

fn push(object: &mut Value, name: &str, item: Value) {
    object[name].as_array_mut().expect("array").push(item);
}

fn decode_request(body: &[u8]) -> Value {
    let mut request = json!({ "resourceLogs": [] });
    each_field(body, |number, value| match number {
        1 => push(
            &mut request,
            "resourceLogs",
            decode_resource_logs(len(value)),
        ),
        other => panic!("request field {other}"),
    });
    request
}

fn decode_resource_logs(message: &[u8]) -> Value {
    let mut out = json!({ "scopeLogs": [] });
    each_field(message, |number, value| match number {
        1 => {
            let mut resource = json!({ "attributes": [] });
            each_field(len(value), |number, value| match number {
                1 => push(&mut resource, "attributes", decode_key_value(len(value))),
                other => panic!("resource field {other}"),
            });
            out["resource"] = resource;
        }
        2 => push(&mut out, "scopeLogs", decode_scope_logs(len(value))),
        other => panic!("resource logs field {other}"),
    });
    out
}

fn decode_scope_logs(message: &[u8]) -> Value {
    let mut out = json!({ "logRecords": [] });
    each_field(message, |number, value| match number {
        1 => {
            let mut scope = json!({});
            each_field(len(value), |number, value| match number {
                1 => scope["name"] = text(value),
                2 => scope["version"] = text(value),
                other => panic!("scope field {other}"),
            });
            out["scope"] = scope;
        }
        2 => push(&mut out, "logRecords", decode_record(len(value))),
        other => panic!("scope logs field {other}"),
    });
    out
}

fn decode_record(message: &[u8]) -> Value {
    let mut out = json!({ "attributes": [] });
    each_field(message, |number, value| match (number, value) {
        (1, WireValue::Fixed64(nanos)) => out["timeUnixNano"] = json!(nanos.to_string()),
        (11, WireValue::Fixed64(nanos)) => out["observedTimeUnixNano"] = json!(nanos.to_string()),
        (2, WireValue::Varint(severity)) => out["severityNumber"] = json!(severity),
        (3, _) => out["severityText"] = text(value),
        (5, _) => out["body"] = decode_any_value(len(value)),
        (6, _) => push(&mut out, "attributes", decode_key_value(len(value))),
        (12, _) => out["eventName"] = text(value),
        other => panic!("log record field {other:?}"),
    });
    out
}

fn decode_key_value(message: &[u8]) -> Value {
    let mut out = json!({});
    each_field(message, |number, value| match number {
        1 => out["key"] = text(value),
        2 => out["value"] = decode_any_value(len(value)),
        other => panic!("key value field {other}"),
    });
    out
}

fn decode_any_value(message: &[u8]) -> Value {
    let mut out = json!({});
    let mut set = 0;
    each_field(message, |number, value| {
        set += 1;
        match (number, value) {
            (1, _) => out["stringValue"] = text(value),
            (2, WireValue::Varint(flag)) => out["boolValue"] = json!(flag != 0),
            (3, WireValue::Varint(int)) => out["intValue"] = json!((int as i64).to_string()),
            (4, WireValue::Fixed64(bits)) => {
                out["doubleValue"] = Number::from_f64(f64::from_bits(bits))
                    .map(Value::Number)
                    .expect("a finite double")
            }
            (5, _) => {
                let mut values = Vec::new();
                each_field(len(value), |number, value| match number {
                    1 => values.push(decode_any_value(len(value))),
                    other => panic!("array value field {other}"),
                });
                out["arrayValue"] = json!({ "values": values });
            }
            (6, _) => {
                let mut values = Vec::new();
                each_field(len(value), |number, value| match number {
                    1 => values.push(decode_key_value(len(value))),
                    other => panic!("kvlist value field {other}"),
                });
                out["kvlistValue"] = json!({ "values": values });
            }
            other => panic!("any value field {other:?}"),
        }
    });
    assert!(set <= 1, "more than one field of AnyValue's oneof");
    out
}
