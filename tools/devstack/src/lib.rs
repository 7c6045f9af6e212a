//! Local development helpers. `feed` plays Lambda's SQS event source mapping against the local
//! queues and the functions that `cargo lambda watch` serves.

pub mod feed;
