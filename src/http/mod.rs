//! HTTP/1.1 over httparse: request heads and framing, chunked bodies, query
//! strings, and the response writer. Pure: no sockets here.

pub mod chunked;
pub mod head;
pub mod query;
pub mod response;
