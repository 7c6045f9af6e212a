//! Local development helpers. `bootstrap` creates the local table, queues and admin key secret;
//! `stream` plays the EventBridge Pipe from the table's stream to the dispatch queue; `feed` plays
//! Lambda's SQS event source mapping against the local queues and the functions that
//! `cargo lambda watch` serves; `sample_app` is an external app on 127.0.0.1; `demo` walks the
//! seeds' story against a running `make dev`.

pub mod bootstrap;
pub mod demo;
pub mod feed;
pub mod queues;
pub mod sample_app;
pub mod secrets_file;
pub mod stream;
