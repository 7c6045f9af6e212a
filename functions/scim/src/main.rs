//! SCIM 2.0 ingress behind API Gateway, one base URL per SCIM client app (`provisio::scim`).

use lambda_http::{Error, Request, run, service_fn};
use provisio::scim::ScimApi;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Cold start: configuration, clients, token and settings caches are built once and reused.
    let (config, clients) = provisio::aws::cold_start().await;
    let api = ScimApi::configured(&clients, &config);
    let api = &api;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(api.handle(req).await)
    }))
    .await
}
