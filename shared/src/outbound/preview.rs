//! Preview: the request an event config would send for a user, rendered but not sent, with the
//! authorization shown by type only.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::link::{LINK_PREFIX, Link};
use crate::connector::auth_config::AuthSettings;
use crate::connector::configs::{ConfigError, Configs};
use crate::connector::request::{Rendered, RenderedBody};
use crate::connector::template::Context;
use crate::directory::change::ChangeKind;
use crate::directory::{Directory, DirectoryError};
use crate::ids::{AppId, GroupId, UserId};
use crate::store::keys;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PreviewInput {
    pub user_id: UserId,
    #[serde(default)]
    pub group_id: Option<GroupId>,
}

const MASK: &str = "****";

pub async fn preview(
    configs: &Configs,
    directory: &Directory,
    app: &AppId,
    kind: ChangeKind,
    input: &PreviewInput,
) -> Result<Value, ConfigError> {
    let setup = configs
        .setup(app)
        .await?
        .ok_or_else(|| DirectoryError::not_found("app", app))?;
    let config = setup
        .events
        .get(&kind)
        .ok_or_else(|| DirectoryError::not_found("event config", super::event_config::kind_name(kind)))?;
    let user = directory.get_user(&input.user_id).await?;
    let link: Option<Link> = configs
        .store
        .get(&keys::user(&user.id), &format!("{LINK_PREFIX}{app}"))
        .await?;
    let group = match &input.group_id {
        Some(id) => {
            let g = directory.get_group(id).await?;
            Some(json!({ "id": g.id, "name": g.name, "externalId": g.external_id }))
        }
        None => None,
    };
    let ctx = Context {
        user: serde_json::to_value(&user).unwrap_or(Value::Null),
        // Before the account exists the id is unknown; the preview shows where it goes.
        external_user_id: Some(
            link.and_then(|l| l.external_id)
                .unwrap_or_else(|| "{ExternalUserId}".into()),
        ),
        group,
    };
    let rendered = config.request.render(&ctx);
    let auth = config.auth_id.as_ref().and_then(|id| setup.auths.get(id));
    Ok(shown(&rendered, auth.map(|a| &a.settings)))
}

/// A request as an administrator may see it: the authorization by its type only.
pub fn shown(rendered: &Rendered, auth: Option<&AuthSettings>) -> Value {
    let mut headers: Map<String, Value> = rendered
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if let Some(auth) = auth {
        let (name, value) = match auth {
            AuthSettings::Basic { .. } => ("Authorization".to_string(), format!("Basic {MASK}")),
            AuthSettings::Bearer {} | AuthSettings::Oauth2 { .. } => {
                ("Authorization".to_string(), format!("Bearer {MASK}"))
            }
            AuthSettings::Custom { header_name, .. } => (header_name.clone(), MASK.to_string()),
        };
        headers.insert(name, Value::String(value));
    }
    let mut body = json!({ "method": rendered.method, "url": rendered.url, "headers": headers });
    match &rendered.body {
        Some(RenderedBody::Json(value)) => body["body"] = value.clone(),
        Some(form @ RenderedBody::Form(_)) => {
            body["body"] = Value::String(String::from_utf8_lossy(&form.bytes()).into_owned());
            headers_content_type(&mut body, form.content_type());
        }
        None => {}
    }
    body
}

fn headers_content_type(body: &mut Value, content_type: &str) {
    body["headers"]["Content-Type"] = Value::String(content_type.into());
}
