//! HTTP/1.1 over httparse: request heads and framing, chunked bodies, query
//! strings, HTTP dates, and the response writer. Pure: no sockets here.

pub mod answer;
pub mod checksum;
pub mod chunked;
pub mod content_coding;
pub mod date;
pub mod head;
pub mod query;
pub mod response;
