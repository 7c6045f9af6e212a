//! Logging set up once per cold start: JSON lines to CloudWatch, level from `RUST_LOG`.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// `RUST_LOG` as a list of `target=level` directives (`info`, `warn,provisio=debug`); `info` when
/// it is unset, and when it is unreadable (said in the log). `Targets` rather than `EnvFilter`:
/// its span and field filters would link a regular-expression engine into every function, a sixth
/// of a megabyte for nothing.
fn filter(rust_log: Option<&str>) -> Result<Targets, String> {
    let Some(value) = rust_log else {
        return Ok(info());
    };
    // `Targets` reads an empty directive as `error`: `info,` would mean errors only.
    let directives: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if directives.is_empty() {
        return Ok(info());
    }
    if value.contains('[') {
        return Err(format!(
            "RUST_LOG={value:?}: span filters are not read here; logging at info"
        ));
    }
    directives.join(",").parse().map_err(|e| {
        format!("RUST_LOG={value:?} is not a list of target=level directives ({e}); logging at info")
    })
}

fn info() -> Targets {
    Targets::new().with_default(LevelFilter::INFO)
}

pub fn init() {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (targets, problem) = match filter(rust_log.as_deref()) {
        Ok(targets) => (targets, None),
        Err(problem) => (info(), Some(problem)),
    };
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .without_time(),
        )
        .with(targets)
        .try_init();
    if let Some(problem) = problem {
        tracing::warn!("{problem}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn directives_set_levels_per_target() {
        let targets = filter(Some("warn,provisio=debug")).expect("directives");
        assert!(targets.would_enable("provisio::scim", &Level::DEBUG));
        assert!(!targets.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(targets.would_enable("aws_smithy_runtime", &Level::WARN));
    }

    #[test]
    fn unset_empty_and_unreadable_settings_log_at_info() {
        for value in [None, Some(""), Some(" , "), Some("info,")] {
            let targets = filter(value).expect("a filter");
            assert!(targets.would_enable("provisio", &Level::INFO), "{value:?}");
            assert!(!targets.would_enable("provisio", &Level::DEBUG), "{value:?}");
        }
        assert!(filter(Some("provisio[request]=debug")).is_err());
        assert!(filter(Some("provisio=loud")).is_err());
    }
}
