//! The admin REST API behind API Gateway (`provisio::admin_api`).

use lambda_http::{Error, Request, run, service_fn};
use provisio::admin_api::AdminApi;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Cold start: configuration, clients and the API state are built once and reused.
    let (config, clients) = provisio::aws::cold_start().await;
    let api = AdminApi::new(&clients, &config);
    let api = &api;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(api.handle(req).await)
    }))
    .await
}
