//! Log levels: the four the contract stores and the aliases it accepts.

/// Severity of one log entry. Stored as one byte in the log ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

impl Level {
    /// The lowercase name written to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// Parses a level name in any case, with the contract's aliases
    /// (`trace`→debug, `warning`→warn, `err`/`fatal`/`critical`→error).
    pub fn parse(name: &str) -> Option<Level> {
        const ALIASES: [(&str, Level); 9] = [
            ("debug", Level::Debug),
            ("trace", Level::Debug),
            ("info", Level::Info),
            ("warn", Level::Warn),
            ("warning", Level::Warn),
            ("error", Level::Error),
            ("err", Level::Error),
            ("fatal", Level::Error),
            ("critical", Level::Error),
        ];
        ALIASES
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
            .map(|&(_, level)| level)
    }

    /// The level stored as byte `code` (the inverse of `level as u8`).
    pub fn from_code(code: u8) -> Option<Level> {
        match code {
            0 => Some(Level::Debug),
            1 => Some(Level::Info),
            2 => Some(Level::Warn),
            3 => Some(Level::Error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Level;

    #[test]
    fn aliases_in_any_case() {
        assert_eq!(Level::parse("WARNING"), Some(Level::Warn));
        assert_eq!(Level::parse("Trace"), Some(Level::Debug));
        assert_eq!(Level::parse("critical"), Some(Level::Error));
        assert_eq!(Level::parse("notice"), None);
        assert_eq!(Level::parse(""), None);
    }

    #[test]
    fn codes_round_trip() {
        for level in [Level::Debug, Level::Info, Level::Warn, Level::Error] {
            assert_eq!(Level::from_code(level as u8), Some(level));
        }
        assert_eq!(Level::from_code(4), None);
    }
}
