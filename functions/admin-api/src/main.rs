//! Admin REST API behind API Gateway: Lambda events in, `shared::admin_api` does the work.

use lambda_http::{Error, Request, run, service_fn};
use shared::{admin_api::AdminApi, aws::AwsClients, config::Config, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // Cold start: configuration, clients and the API state are built once and reused.
    let config = Config::from_env();
    let clients = AwsClients::from_env().await;
    let api = AdminApi::new(&clients, &config);
    let api = &api;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(api.handle(req).await)
    }))
    .await
}
