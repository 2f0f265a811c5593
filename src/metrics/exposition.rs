//! The Prometheus text exposition format, version 0.0.4: one `# HELP` and
//! one `# TYPE` line per metric family, then its samples, `\n` line ends
//! (the last line too). In HELP text `\` and a line feed are escaped; in a
//! label value `\`, `"` and a line feed.

use std::io::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// Writes families into a buffer the caller sized.
pub struct Exposition<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Exposition<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Exposition<'a> {
        Exposition { out }
    }

    /// Starts a family: its HELP and TYPE lines. Names are ours and valid
    /// (a test checks every one); `help` is escaped.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        debug_assert!(name_valid(name), "{name}");
        debug_assert_eq!(kind == Kind::Counter, name.ends_with("_total"), "{name}");
        self.out.extend_from_slice(b"# HELP ");
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b' ');
        write_escaped(self.out, help, false);
        self.out.extend_from_slice(b"\n# TYPE ");
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(kind.as_str().as_bytes());
        self.out.push(b'\n');
    }

    /// One sample of an integer value.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.sample_head(name, labels);
        let _ = writeln!(self.out, "{value}");
    }

    /// One sample of a real value (seconds). Rust prints finite floats
    /// without an exponent, which the format accepts; a non-finite one is
    /// written as the format spells it.
    pub fn sample_real(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.sample_head(name, labels);
        if value.is_nan() {
            self.out.extend_from_slice(b"NaN\n");
        } else if value.is_infinite() {
            let text: &[u8] = if value > 0.0 { b"+Inf\n" } else { b"-Inf\n" };
            self.out.extend_from_slice(text);
        } else {
            let _ = writeln!(self.out, "{value}");
        }
    }

    fn sample_head(&mut self, name: &str, labels: &[(&str, &str)]) {
        self.out.extend_from_slice(name.as_bytes());
        for (index, (label, value)) in labels.iter().enumerate() {
            debug_assert!(name_valid(label) && !label.contains(':'), "{label}");
            self.out.push(if index == 0 { b'{' } else { b',' });
            self.out.extend_from_slice(label.as_bytes());
            self.out.extend_from_slice(b"=\"");
            write_escaped(self.out, value, true);
            self.out.push(b'"');
        }
        if !labels.is_empty() {
            self.out.push(b'}');
        }
        self.out.push(b' ');
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`: the format's metric names.
pub fn name_valid(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|byte| byte.is_ascii_alphabetic() || byte == b'_' || byte == b':');
    first_ok && bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b':')
}

/// Writes `text` with `\` and line feeds escaped, and `"` too in a label
/// value.
fn write_escaped(out: &mut Vec<u8>, text: &str, label_value: bool) {
    for &byte in text.as_bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if label_value => out.extend_from_slice(b"\\\""),
            _ => out.push(byte),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(write: impl FnOnce(&mut Exposition)) -> String {
        let mut out = Vec::new();
        write(&mut Exposition::new(&mut out));
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn a_family_is_help_type_then_samples() {
        let text = written(|exposition| {
            exposition.family("demo_requests_total", Kind::Counter, "Requests.");
            exposition.sample("demo_requests_total", &[("code", "2xx")], 7);
            exposition.sample("demo_requests_total", &[("a", "x"), ("b", "y")], 0);
        });
        assert_eq!(
            text,
            "# HELP demo_requests_total Requests.\n# TYPE demo_requests_total counter\n\
             demo_requests_total{code=\"2xx\"} 7\ndemo_requests_total{a=\"x\",b=\"y\"} 0\n"
        );
    }

    #[test]
    fn label_values_escape_backslash_quote_and_line_feed() {
        let text = written(|exposition| {
            exposition.sample("demo", &[("path", "a\\b\"c\nd")], 1);
        });
        assert_eq!(text, "demo{path=\"a\\\\b\\\"c\\nd\"} 1\n");
    }

    #[test]
    fn help_escapes_backslash_and_line_feed_but_not_quotes() {
        let text = written(|exposition| {
            exposition.family("demo", Kind::Gauge, "a \"quoted\" \\ and\nmore");
        });
        assert_eq!(
            text,
            "# HELP demo a \"quoted\" \\\\ and\\nmore\n# TYPE demo gauge\n"
        );
    }

    #[test]
    fn reals_and_their_edges() {
        let text = written(|exposition| {
            exposition.sample_real("demo", &[], 1.5);
            exposition.sample_real("demo", &[], 1e21);
            exposition.sample_real("demo", &[], f64::INFINITY);
            exposition.sample_real("demo", &[], f64::NAN);
        });
        assert_eq!(
            text,
            "demo 1.5\ndemo 1000000000000000000000\ndemo +Inf\ndemo NaN\n"
        );
    }

    #[test]
    fn metric_names() {
        assert!(name_valid("process_cpu_seconds_total"));
        assert!(name_valid("_x:y9"));
        assert!(!name_valid(""));
        assert!(!name_valid("9lives"));
        assert!(!name_valid("a-b"));
    }
}
