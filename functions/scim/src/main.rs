//! SCIM 2.0 ingress behind API Gateway: `/scim/v2/{appId}/...`.

use lambda_http::{Error, Request, run, service_fn};
use shared::{scim, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    run(service_fn(|req: Request| async move {
        Ok::<_, Error>(scim::handle(req).await)
    }))
    .await
}
