//! `devstack bootstrap [PREFIX]`: create the local table, queues and admin key; print them as
//! shell `export` lines.
//! `devstack feed QUEUE_URL FUNCTION INVOKE_BASE [VISIBILITY_SECS]`: feed a queue-driven function
//! from a local queue until interrupted.
//! `devstack stream TABLE QUEUE_URL`: carry the change events of the table's stream to the
//! dispatch queue until interrupted, as the deployed EventBridge Pipe does.
//! `devstack tick FUNCTION INVOKE_BASE EVERY_SECS`: invoke a function with an EventBridge
//! Scheduler event every so often, as the deployed schedules do.
//! `devstack demo`: the seeds' walkthrough against a running `make dev` (`PROVISIO_URL`,
//! `PROVISIO_ADMIN_KEY`).
//! `devstack secrets save PREFIX FILE` / `devstack secrets restore FILE`: keep `make dev`'s
//! secrets between runs (moto holds them in memory).

use devstack::bootstrap::bootstrap;
use devstack::feed::Feeder;
use provisio::aws::AwsClients;

#[tokio::main]
async fn main() {
    provisio::telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Only the commands that talk to the local AWS stack load an SDK config.
    let result = match args.first().map(String::as_str) {
        Some("bootstrap") => {
            let clients = AwsClients::from_env().await;
            run_bootstrap(&clients, args.get(1).map_or("provisio", String::as_str)).await
        }
        Some("feed") if args.len() >= 4 => {
            let clients = AwsClients::from_env().await;
            run_feed(&clients, &args[1], &args[2], &args[3], args.get(4)).await
        }
        Some("stream") if args.len() >= 3 => run_stream(&args[1], &args[2]).await,
        Some("tick") if args.len() >= 4 => run_tick(&args[1], &args[2], &args[3]).await,
        Some("demo") => run_demo().await,
        Some("secrets") if args.len() >= 3 => {
            let clients = AwsClients::from_env().await;
            match (args[1].as_str(), args.get(3)) {
                ("save", Some(path)) => devstack::secrets_file::save(&clients, &args[2], path)
                    .await
                    .map(|n| eprintln!("devstack: {n} secrets saved")),
                ("restore", _) => devstack::secrets_file::restore(&clients, &args[2])
                    .await
                    .map(|n| eprintln!("devstack: {n} secrets restored")),
                _ => Err("usage: devstack secrets save PREFIX FILE | devstack secrets restore FILE".into()),
            }
        }
        _ => Err("usage: devstack bootstrap [PREFIX] | devstack feed QUEUE_URL FUNCTION INVOKE_BASE [VISIBILITY_SECS] | devstack stream TABLE QUEUE_URL | devstack tick FUNCTION INVOKE_BASE EVERY_SECS | devstack demo | devstack secrets save PREFIX FILE | devstack secrets restore FILE".into()),
    };
    if let Err(e) = result {
        eprintln!("devstack: {e}");
        std::process::exit(1);
    }
}

async fn run_bootstrap(clients: &AwsClients, prefix: &str) -> Result<(), String> {
    let local = bootstrap(clients, prefix).await.map_err(|e| e.to_string())?;
    for (name, value) in local.config.env_vars() {
        println!("export {name}='{value}'");
    }
    println!("export PROVISIO_ADMIN_KEY='{}'", local.admin_key);
    Ok(())
}

async fn run_feed(
    clients: &AwsClients,
    queue_url: &str,
    function: &str,
    invoke_base: &str,
    visibility: Option<&String>,
) -> Result<(), String> {
    let mut feeder = Feeder::new(clients.sqs.clone(), queue_url, invoke_base, function);
    feeder.visibility_timeout = visibility
        .map(|v| v.parse().map_err(|_| format!("bad visibility timeout {v}")))
        .transpose()?;
    // Below the SDK attempt timeout (5 s) that every client here has.
    feeder.wait_seconds = 3;
    tracing::info!(queue_url, function, "feeding");
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            polled = feeder.poll_once() => match polled {
                Ok(p) if p.received > 0 => tracing::info!(function, received = p.received, deleted = p.deleted, failed = p.failed, "batch"),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "poll failed");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }
}

async fn run_stream(table: &str, queue_url: &str) -> Result<(), String> {
    let sdk = provisio::aws::load_sdk_config().await;
    let clients = AwsClients::new(&sdk, None);
    let streams = devstack::stream::StreamFeeder::streams_client(&sdk);
    let mut feeder = devstack::stream::StreamFeeder::new(&clients, streams, table, queue_url);
    tracing::info!(table, queue_url, "streaming change events");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = feeder.run() => Ok(()),
    }
}

async fn run_tick(function: &str, invoke_base: &str, every: &str) -> Result<(), String> {
    let every: u64 = every.parse().map_err(|_| format!("bad interval {every}"))?;
    let url = format!(
        "{}/2015-03-31/functions/{function}/invocations",
        invoke_base.trim_end_matches('/')
    );
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?;
    // The first tick after one interval, as a schedule would: the functions are still starting.
    let period = std::time::Duration::from_secs(every.max(1));
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = interval.tick() => {
                let event = serde_json::json!({
                    "version": "0", "id": uuid::Uuid::new_v4().to_string(), "detail-type": "Scheduled Event",
                    "source": "aws.scheduler", "account": "123456789012", "region": "us-east-1",
                    "time": provisio::timestamp::now(), "resources": [], "detail": {}
                });
                match http.post(&url).json(&event).send().await {
                    Ok(r) => tracing::debug!(function, status = r.status().as_u16(), "tick"),
                    Err(e) => tracing::warn!(function, error = %e, "tick failed"),
                }
            }
        }
    }
}

async fn run_demo() -> Result<(), String> {
    let base = std::env::var("PROVISIO_URL").unwrap_or_else(|_| "http://127.0.0.1:9000".into());
    let key = std::env::var("PROVISIO_ADMIN_KEY")
        .map_err(|_| "set PROVISIO_ADMIN_KEY (make dev prints it) and run `make demo` again".to_string())?;
    let started = std::time::Instant::now();
    devstack::demo::run(&base, &key, |line| println!("{line}"))
        .await
        .map_err(|e| e.to_string())?;
    println!("Done in {:.1} s.", started.elapsed().as_secs_f64());
    Ok(())
}
