//! Field numbers of the OTLP messages the exporter writes, from
//! opentelemetry-proto (collector/logs/v1, logs/v1, common/v1, resource/v1).

pub const REQUEST_RESOURCE_LOGS: u32 = 1;
pub const RESOURCE_LOGS_RESOURCE: u32 = 1;
pub const RESOURCE_LOGS_SCOPE_LOGS: u32 = 2;
pub const RESOURCE_ATTRIBUTES: u32 = 1;
pub const SCOPE_LOGS_SCOPE: u32 = 1;
pub const SCOPE_LOGS_LOG_RECORDS: u32 = 2;
pub const SCOPE_NAME_FIELD: u32 = 1;
pub const SCOPE_VERSION_FIELD: u32 = 2;
pub const RECORD_TIME_UNIX_NANO: u32 = 1;
pub const RECORD_SEVERITY_NUMBER: u32 = 2;
pub const RECORD_SEVERITY_TEXT: u32 = 3;
pub const RECORD_BODY: u32 = 5;
pub const RECORD_ATTRIBUTES: u32 = 6;
pub const RECORD_OBSERVED_TIME_UNIX_NANO: u32 = 11;
pub const RECORD_EVENT_NAME: u32 = 12;
pub const KEY_VALUE_KEY: u32 = 1;
pub const KEY_VALUE_VALUE: u32 = 2;
pub const ANY_STRING: u32 = 1;
pub const ANY_BOOL: u32 = 2;
pub const ANY_INT: u32 = 3;
pub const ANY_DOUBLE: u32 = 4;
pub const ANY_ARRAY: u32 = 5;
pub const ANY_KVLIST: u32 = 6;
pub const LIST_VALUES: u32 = 1;
