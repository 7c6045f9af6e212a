//! The tests that go through the functions as `make dev` serves them (`cargo lambda watch`), in a
//! binary of their own: cargo runs test binaries one after another, so the watcher and the
//! functions it starts don't share the 2 cores with the rest of the suite (a watched function that
//! is slow to answer gets the watcher's own error, not the function's). One watcher at a time.

mod console;
mod make_dev;
mod scim_compliance;
mod walkthrough;
mod watch_smoke;
