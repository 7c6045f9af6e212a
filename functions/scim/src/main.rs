//! SCIM 2.0 ingress behind API Gateway: `/scim/v2/{appId}/...`; `shared::scim` does the work.

use lambda_http::{Error, Request, run, service_fn};
use shared::directory::relay::Relay;
use shared::{aws::AwsClients, config::Config, scim::ScimApi, store::Store, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = Config::from_env();
    let clients = AwsClients::from_env().await;
    let relay = config
        .dispatch_queue_url
        .as_ref()
        .map(|url| Relay::new(clients.sqs.clone(), url));
    let api = ScimApi::with_relay(Store::new(clients.dynamodb.clone(), &config.table), relay);
    let api = &api;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(api.handle(req).await)
    }))
    .await
}
