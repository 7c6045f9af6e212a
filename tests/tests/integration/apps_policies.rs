//! Apps and app login policies through the admin API.

use provisio_tests::TestEnv;
use serde_json::json;

#[tokio::test]
async fn app_crud_and_immutable_kind() {
    let env = TestEnv::new().await;
    let created = env
        .post(
            "/admin/apps",
            json!({ "name": "Payroll", "kind": "custom_provisioning" }),
        )
        .await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap().to_string();
    let scim = env
        .post(
            "/admin/apps",
            json!({ "name": "Entra ID", "kind": "scim_client" }),
        )
        .await;
    assert_eq!(scim.status, 201);

    let bad_kind = env
        .post("/admin/apps", json!({ "name": "X", "kind": "ldap" }))
        .await;
    assert_eq!((bad_kind.status, bad_kind.field()), (400, Some("kind")));

    let kind_change = env
        .patch(&format!("/admin/apps/{id}"), json!({ "kind": "scim_client" }))
        .await;
    assert_eq!((kind_change.status, kind_change.field()), (400, Some("kind")));
    let renamed = env
        .patch(
            &format!("/admin/apps/{id}"),
            json!({ "name": "Payroll EU", "kind": "custom_provisioning" }),
        )
        .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.body["name"], "Payroll EU");

    let list = env.get("/admin/apps").await;
    let names: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Entra ID", "Payroll EU"]);

    assert_eq!(env.delete(&format!("/admin/apps/{id}")).await.status, 204);
    assert_eq!(env.get(&format!("/admin/apps/{id}")).await.status, 404);
}

#[tokio::test]
async fn policies_link_existing_apps_and_groups() {
    let env = TestEnv::new().await;
    let (app, other_app) = (env.app("CRM").await, env.app("Wiki").await);
    let group = env.group("sales").await;

    let created = env
        .post(
            "/admin/policies",
            json!({ "name": "CRM for sales", "appId": app, "groupId": group, "firstFactor": "password" }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        env.post(
            "/admin/policies",
            json!({ "name": "Wiki", "appId": other_app, "groupId": group, "firstFactor": "passwordless" })
        )
        .await
        .status,
        201
    );

    let before = env.item_count().await;
    let ghost = "0196a7c4-7f59-7a8e-9d1e-3b7c2f0a1b2c";
    let no_app = env
        .post(
            "/admin/policies",
            json!({ "name": "x", "appId": ghost, "groupId": group, "firstFactor": "password" }),
        )
        .await;
    assert_eq!((no_app.status, no_app.field()), (400, Some("appId")));
    let no_group = env
        .post(
            "/admin/policies",
            json!({ "name": "x", "appId": app, "groupId": ghost, "firstFactor": "password" }),
        )
        .await;
    assert_eq!((no_group.status, no_group.field()), (400, Some("groupId")));
    let bad_factor = env
        .post(
            "/admin/policies",
            json!({ "name": "x", "appId": app, "groupId": group, "firstFactor": "sms" }),
        )
        .await;
    assert_eq!(
        (bad_factor.status, bad_factor.field()),
        (400, Some("firstFactor"))
    );
    let moved_to_nothing = env
        .patch(&format!("/admin/policies/{id}"), json!({ "groupId": ghost }))
        .await;
    assert_eq!(
        (moved_to_nothing.status, moved_to_nothing.field()),
        (400, Some("groupId"))
    );
    assert_eq!(env.item_count().await, before);

    let of_app = env.get(&format!("/admin/policies?appId={app}")).await;
    assert_eq!(of_app.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(of_app.body["items"][0]["id"], id.as_str());
    assert_eq!(
        env.get("/admin/policies").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let switched = env
        .patch(
            &format!("/admin/policies/{id}"),
            json!({ "firstFactor": "passwordless" }),
        )
        .await;
    assert_eq!(switched.status, 200);
    assert_eq!(switched.body["firstFactor"], "passwordless");

    // A group or app in use by a policy can't be deleted out from under it.
    let in_use = env.delete(&format!("/admin/groups/{group}")).await;
    assert_eq!(in_use.status, 409, "{:?}", in_use.body);
    let in_use = env.delete(&format!("/admin/apps/{app}")).await;
    assert_eq!(in_use.status, 409);
    assert_eq!(env.delete(&format!("/admin/policies/{id}")).await.status, 204);
    assert_eq!(env.delete(&format!("/admin/apps/{app}")).await.status, 204);
    assert_eq!(env.get(&format!("/admin/policies/{id}")).await.status, 404);
}
