//! Retry timing shared by the queue consumers: exponential backoff with jitter that never comes
//! sooner than the other side's `Retry-After`.

use std::time::Duration;

/// `base` doubled per attempt (1: `base`), capped, then jittered between half and all of it, so
/// retries of many messages spread out; at least `retry_after`, at most `cap`.
pub fn backoff(base: Duration, cap: Duration, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let exp = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(cap);
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    let jittered = exp / 2 + exp.mul_f64(f64::from(byte[0]) / 510.0);
    jittered.max(retry_after.unwrap_or_default()).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_and_honours_retry_after() {
        let (base, cap) = (Duration::from_secs(10), Duration::from_secs(900));
        for attempt in 1..=4 {
            let full = base * (1 << (attempt - 1));
            let d = backoff(base, cap, attempt, None);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
        let capped = backoff(base, cap, 30, None);
        assert!(capped >= cap / 2 && capped <= cap, "{capped:?}");
        assert_eq!(
            backoff(base, cap, 1, Some(Duration::from_secs(120))),
            Duration::from_secs(120)
        );
    }
}
