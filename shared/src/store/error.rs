use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};

/// A failure talking to DynamoDB that the caller can't fix by changing its input.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttled or the service is unavailable after the SDK's retries: worth retrying later.
    #[error("the directory store is busy: {0}")]
    Unavailable(String),
    #[error("directory store error: {0}")]
    Other(String),
    /// An item that does not have the shape this code writes.
    #[error("corrupt item {key}: {detail}")]
    Corrupt { key: String, detail: String },
}

impl StoreError {
    pub fn from_sdk<E, R>(operation: &str, err: SdkError<E, R>) -> Self
    where
        E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
        R: std::fmt::Debug,
    {
        let throttled = matches!(
            err.as_service_error().and_then(|e| e.code()),
            Some(
                "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
            )
        ) || matches!(err, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_));
        let text = format!("{operation}: {}", DisplayErrorContext(&err));
        if throttled {
            StoreError::Unavailable(text)
        } else {
            StoreError::Other(text)
        }
    }
}
