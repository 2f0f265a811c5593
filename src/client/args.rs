//! Hand-written argument reading for the subcommands, in the manner of
//! `config.rs` (no clap: the binary stays small). `--flag value`,
//! `--flag=value` and short `-f`; `--` ends the flags. A usage error is a
//! `String` that the caller prints before exiting 2.

/// One piece of a command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Token {
    /// `--name` or `-n`, without an `=value` part.
    Flag(String),
    /// An argument that is not a flag.
    Word(String),
    /// `--`: everything after it is the caller's (`ArgReader::rest`).
    EndOfFlags,
}

pub struct ArgReader {
    args: std::vec::IntoIter<String>,
    /// The `value` of the last `--flag=value`, until the caller takes it.
    inline_value: Option<String>,
    last_flag: String,
}

impl ArgReader {
    pub fn new(args: Vec<String>) -> ArgReader {
        ArgReader {
            args: args.into_iter(),
            inline_value: None,
            last_flag: String::new(),
        }
    }

    /// The next token; an `=value` not taken by `value` is an error.
    pub fn next_token(&mut self) -> Result<Option<Token>, String> {
        if self.inline_value.take().is_some() {
            return Err(format!("{} takes no value", self.last_flag));
        }
        let Some(arg) = self.args.next() else {
            return Ok(None);
        };
        let token = if arg == "--" {
            Token::EndOfFlags
        } else if arg.starts_with("--") {
            let (flag, value) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            self.inline_value = value;
            self.last_flag = flag.clone();
            Token::Flag(flag)
        } else if arg.len() > 1 && arg.starts_with('-') {
            self.last_flag = arg.clone();
            Token::Flag(arg)
        } else {
            Token::Word(arg)
        };
        Ok(Some(token))
    }

    /// The value of the flag just read: its `=value` or the next argument.
    pub fn value(&mut self) -> Result<String, String> {
        match self.inline_value.take() {
            Some(value) => Ok(value),
            None => self
                .args
                .next()
                .ok_or_else(|| format!("{} needs a value", self.last_flag)),
        }
    }

    /// The value as a whole number from `min` to `max`.
    pub fn number(&mut self, min: u64, max: u64) -> Result<u64, String> {
        let value = self.value()?;
        let digits_only = !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit());
        match value.parse::<u64>() {
            Ok(number) if digits_only && (min..=max).contains(&number) => Ok(number),
            _ => Err(format!(
                "{}: {value:?} is not a whole number from {min} to {max}",
                self.last_flag
            )),
        }
    }

    /// What is left, unread (after `--`, or after the first word).
    pub fn rest(self) -> Vec<String> {
        self.args.collect()
    }
}

/// The error for a flag that the subcommand does not know.
pub fn unknown(flag: &str) -> String {
    format!("unknown flag {flag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(args: &[&str]) -> ArgReader {
        ArgReader::new(args.iter().map(|arg| arg.to_string()).collect())
    }

    #[test]
    fn flags_values_and_words() {
        let mut args = reader(&["--app=cook", "-n", "5", "id", "--", "sh", "-c"]);
        assert_eq!(args.next_token(), Ok(Some(Token::Flag("--app".into()))));
        assert_eq!(args.value().as_deref(), Ok("cook"));
        assert_eq!(args.next_token(), Ok(Some(Token::Flag("-n".into()))));
        assert_eq!(args.number(0, 10), Ok(5));
        assert_eq!(args.next_token(), Ok(Some(Token::Word("id".into()))));
        assert_eq!(args.next_token(), Ok(Some(Token::EndOfFlags)));
        assert_eq!(args.rest(), vec!["sh".to_string(), "-c".into()]);
    }

    #[test]
    fn usage_errors() {
        let mut args = reader(&["--quiet=yes"]);
        assert!(args.next_token().is_ok());
        assert_eq!(args.next_token(), Err("--quiet takes no value".into()));
        let mut args = reader(&["--app"]);
        assert!(args.next_token().is_ok());
        assert_eq!(args.value(), Err("--app needs a value".into()));
        for bad in ["-1", "x", "", "11"] {
            let mut args = reader(&["-n", bad]);
            assert!(args.next_token().is_ok());
            assert!(args.number(0, 10).is_err(), "{bad}");
        }
        // A lone "-" is a word (stdin, by custom), not a flag.
        assert_eq!(
            reader(&["-"]).next_token(),
            Ok(Some(Token::Word("-".into())))
        );
    }
}
