//! `infra/template.yaml` declares what the code expects: the table's keys and indexes, the queues
//! with their redrive policies, the environment of every function, the routes `cargo lambda watch`
//! serves locally.

use provisio::resources::{self, INDEXES, PK, Queue, SK};
use serde_yaml::Value;

fn template() -> Value {
    let path = provisio_tests::repo_path("infra/template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).expect("read template")).expect("parse template")
}

fn resource<'a>(template: &'a Value, id: &str) -> &'a Value {
    let resource = &template["Resources"][id];
    assert!(!resource.is_null(), "template has no resource {id}");
    resource
}

/// `!GetAtt X.Arn` / `!Ref X` as written in the template.
fn tagged(value: &Value) -> Option<(String, String)> {
    match value {
        Value::Tagged(t) => Some((t.tag.to_string(), t.value.as_str()?.to_string())),
        _ => None,
    }
}

fn key_schema(value: &Value) -> Vec<(String, String)> {
    value
        .as_sequence()
        .expect("KeySchema")
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().to_string(),
                k["KeyType"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(hash: &str, range: &str) -> Vec<(String, String)> {
    vec![
        (hash.to_string(), "HASH".to_string()),
        (range.to_string(), "RANGE".to_string()),
    ]
}

#[test]
fn table_matches_the_code() {
    let template = template();
    let table = &resource(&template, "Table")["Properties"];
    assert_eq!(table["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(key_schema(&table["KeySchema"]), pair(PK, SK));
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(resources::TTL)
    );
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"].as_bool(), Some(true));

    let mut declared: Vec<(String, String)> = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap().to_string(),
                a["AttributeType"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    declared.sort();
    let mut expected: Vec<(String, String)> = resources::key_attributes()
        .into_iter()
        .map(|a| (a.to_string(), "S".to_string()))
        .collect();
    expected.sort();
    assert_eq!(declared, expected);

    let indexes = table["GlobalSecondaryIndexes"].as_sequence().unwrap();
    assert_eq!(indexes.len(), INDEXES.len());
    for index in INDEXES {
        let declared = indexes
            .iter()
            .find(|i| i["IndexName"].as_str() == Some(index.name))
            .unwrap_or_else(|| panic!("index {} missing from the template", index.name));
        assert_eq!(
            key_schema(&declared["KeySchema"]),
            pair(index.pk, index.sk),
            "{}",
            index.name
        );
        assert_eq!(declared["Projection"]["ProjectionType"].as_str(), Some("ALL"));
    }
}

#[test]
fn queues_match_the_code() {
    let template = template();
    for queue in Queue::ALL {
        let props = &resource(&template, queue.logical_id())["Properties"];
        assert_eq!(
            props["VisibilityTimeout"].as_u64(),
            Some(u64::from(queue.visibility_timeout_secs())),
            "{queue:?}"
        );
        let redrive = &props["RedrivePolicy"];
        assert_eq!(
            redrive["maxReceiveCount"].as_u64(),
            Some(u64::from(queue.max_receive_count()))
        );
        assert_eq!(
            tagged(&redrive["deadLetterTargetArn"]),
            Some(("!GetAtt".to_string(), format!("{}.Arn", queue.dlq_logical_id())))
        );
        resource(&template, queue.dlq_logical_id());
    }
}

#[test]
fn queue_functions_report_partial_batch_failures_within_the_visibility_timeout() {
    let template = template();
    for (function, event, queue) in [
        ("DispatcherFunction", "Dispatch", Queue::Dispatch),
        ("ImporterFunction", "Pages", Queue::Import),
    ] {
        let props = &resource(&template, function)["Properties"];
        let source = &props["Events"][event]["Properties"];
        assert_eq!(
            tagged(&source["Queue"]),
            Some(("!GetAtt".to_string(), format!("{}.Arn", queue.logical_id())))
        );
        assert_eq!(source["BatchSize"].as_u64(), Some(u64::from(queue.batch_size())));
        assert_eq!(
            source["FunctionResponseTypes"][0].as_str(),
            Some("ReportBatchItemFailures")
        );
        let timeout = props["Timeout"].as_u64().expect("an explicit timeout");
        assert!(
            timeout < u64::from(queue.visibility_timeout_secs()),
            "{function} outlives its messages' visibility"
        );
    }
    assert!(!resource(&template, "ImporterFunction")["Properties"]["Events"]["Tick"].is_null());
    // Change events leave through the table's stream and the pipe, not a schedule.
    assert!(resource(&template, "DispatcherFunction")["Properties"]["Events"]["Sweep"].is_null());
    let table = &resource(&template, "Table")["Properties"];
    assert_eq!(
        table["StreamSpecification"]["StreamViewType"].as_str(),
        Some("NEW_IMAGE")
    );
    let pipe = &resource(&template, "OutboxPipe")["Properties"];
    let filters = pipe["SourceParameters"]["FilterCriteria"]["Filters"]
        .as_sequence()
        .expect("filters");
    assert_eq!(filters.len(), 1);
    let filter: serde_json::Value =
        serde_json::from_str(filters[0]["Pattern"].as_str().expect("a filter")).expect("the filter is JSON");
    let input = pipe["TargetParameters"]["InputTemplate"]
        .as_str()
        .expect("an input template");
    // The deployed pipe passes and shapes what `devstack stream` (the pipe in make dev and the
    // tests) passes and shapes, record by record.
    let event = serde_json::json!({ "M": { "id": { "S": "e1" }, "kind": { "S": "user_created" },
                                           "userId": { "S": "u1" }, "at": { "S": "2026-12-01T00:00:00Z" } } });
    let image = |extra: serde_json::Value| {
        let mut image = serde_json::json!({ "pk": { "S": "USER#u1" }, "sk": { "S": "PROFILE" } });
        image
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        image
    };
    let records = [
        ("INSERT", Some(image(serde_json::json!({ "changeEvent": event })))),
        ("MODIFY", Some(image(serde_json::json!({ "changeEvent": event })))),
        ("MODIFY", Some(image(serde_json::json!({})))),
        (
            "INSERT",
            Some(image(serde_json::json!({ "changeEvent": { "S": "not a map" } }))),
        ),
        (
            "INSERT",
            Some(image(
                serde_json::json!({ "changeEvent": { "M": { "kind": { "S": "x" } } } }),
            )),
        ),
        ("REMOVE", None),
    ];
    let mut passed = 0;
    for (name, new_image) in records {
        let mut record = serde_json::json!({ "eventName": name, "eventSource": "aws:dynamodb",
            "dynamodb": { "Keys": { "pk": { "S": "USER#u1" }, "sk": { "S": "PROFILE" } } } });
        if let Some(new_image) = new_image {
            record["dynamodb"]["NewImage"] = new_image;
        }
        let deployed = pattern_matches(&filter, &record).then(|| render(input, &record));
        let local = devstack::stream::pipe_message(&record)
            .map(|m| serde_json::from_str::<serde_json::Value>(&m).expect("a JSON message"));
        assert_eq!(deployed, local, "{record}");
        passed += usize::from(local.is_some());
    }
    assert_eq!(passed, 2, "an insert and a modify carrying an event pass");
}

/// Whether an EventBridge pattern (the subset the template uses: lists of values, `exists` and
/// `prefix`, nested objects) matches `event`.
fn pattern_matches(pattern: &serde_json::Value, event: &serde_json::Value) -> bool {
    let Some(fields) = pattern.as_object() else {
        return false;
    };
    fields.iter().all(|(name, want)| {
        let got = event.get(name);
        match want {
            serde_json::Value::Object(_) => got.is_some_and(|g| pattern_matches(want, g)),
            serde_json::Value::Array(options) => options.iter().any(|option| match option {
                serde_json::Value::Object(rule) if rule.contains_key("exists") => {
                    rule["exists"].as_bool() == Some(got.is_some_and(|g| !g.is_object() && !g.is_array()))
                }
                serde_json::Value::Object(rule) if rule.contains_key("prefix") => got
                    .and_then(|g| g.as_str())
                    .is_some_and(|g| g.starts_with(rule["prefix"].as_str().unwrap_or("\u{0}"))),
                literal => got == Some(literal),
            }),
            _ => false,
        }
    })
}

/// An input template with its `<$.path>` placeholders replaced by the JSON at each path.
fn render(template: &str, event: &serde_json::Value) -> serde_json::Value {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find("<$.") {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('>').expect("a closed placeholder") + open;
        let path = rest[open + 3..close].replace('.', "/");
        out.push_str(
            &event
                .pointer(&format!("/{path}"))
                .cloned()
                .unwrap_or_default()
                .to_string(),
        );
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    serde_json::from_str(&out).expect("the template renders JSON")
}

/// Every action a function's policy allows, whatever the resource.
fn allowed_actions(template: &Value, function: &str) -> Vec<String> {
    let mut actions = Vec::new();
    for policy in resource(template, function)["Properties"]["Policies"]
        .as_sequence()
        .expect("policies")
    {
        for statement in policy["Statement"].as_sequence().into_iter().flatten() {
            match &statement["Action"] {
                Value::String(a) => actions.push(a.clone()),
                Value::Sequence(list) => {
                    actions.extend(list.iter().filter_map(|a| a.as_str().map(str::to_string)))
                }
                _ => {}
            }
        }
    }
    actions
}

#[test]
fn functions_may_make_the_calls_their_code_makes() {
    let template = template();
    let needs: [(&str, &[&str]); 4] = [
        (
            "AdminApiFunction",
            &[
                "dynamodb:BatchWriteItem",
                "sqs:SendMessage",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "secretsmanager:CreateSecret",
                "secretsmanager:PutSecretValue",
                "secretsmanager:DeleteSecret",
                "secretsmanager:GetSecretValue",
            ],
        ),
        (
            "ScimFunction",
            &["dynamodb:BatchWriteItem", "dynamodb:BatchGetItem"],
        ),
        (
            "ImporterFunction",
            &[
                "dynamodb:BatchGetItem",
                "dynamodb:BatchWriteItem",
                "sqs:SendMessage",
                "sqs:ChangeMessageVisibility",
                "secretsmanager:GetSecretValue",
            ],
        ),
        (
            "DispatcherFunction",
            &[
                "dynamodb:Query",
                "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem",
                "sqs:SendMessage",
                "sqs:ChangeMessageVisibility",
                "secretsmanager:GetSecretValue",
            ],
        ),
    ];
    for (function, actions) in needs {
        let allowed = allowed_actions(&template, function);
        for action in actions {
            assert!(allowed.iter().any(|a| a == action), "{function} may not {action}");
        }
    }
    // SCIM writes reach the queue through the table's stream: the function itself sends nothing.
    let scim = allowed_actions(&template, "ScimFunction");
    assert!(!scim.iter().any(|a| a.starts_with("sqs:")), "{scim:?}");
}

#[test]
fn every_function_gets_the_configuration_it_reads() {
    let template = template();
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    for name in resources::env::ALL {
        assert!(!variables[name].is_null(), "{name} is not set on the functions");
    }
    for (function, binary) in [
        ("AdminApiFunction", "admin-api"),
        ("ScimFunction", "scim"),
        ("DispatcherFunction", "dispatcher"),
        ("ImporterFunction", "importer"),
    ] {
        let function = resource(&template, function);
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda")
        );
        assert_eq!(
            function["Metadata"]["BuildProperties"]["Binary"].as_str(),
            Some(binary)
        );
        let manifest = provisio_tests::repo_path(&format!("functions/{binary}/Cargo.toml"));
        assert!(manifest.exists(), "{}", manifest.display());
    }
}

#[test]
fn api_routes_match_the_local_router() {
    let template = template();
    let admin =
        resource(&template, "AdminApiFunction")["Properties"]["Events"]["Admin"]["Properties"]["Path"]
            .as_str();
    let scim =
        resource(&template, "ScimFunction")["Properties"]["Events"]["Scim"]["Properties"]["Path"].as_str();
    assert_eq!(admin, Some("/admin/{proxy+}"));
    assert_eq!(scim, Some("/scim/v2/{proxy+}"));
    let cargo = std::fs::read_to_string(provisio_tests::repo_path("Cargo.toml")).unwrap();
    assert!(cargo.contains("\"/admin/{*path}\" = \"admin-api\""));
    assert!(cargo.contains("\"/scim/v2/{*path}\" = \"scim\""));
}

const FUNCTIONS: [&str; 4] = [
    "AdminApiFunction",
    "ScimFunction",
    "DispatcherFunction",
    "ImporterFunction",
];

/// Issue 11: a flood is throttled at the edge and can't starve the queue functions; logs are
/// kept for a bounded time; the table can't be deleted by accident; dead letters and a stuck
/// import queue raise alarms.
#[test]
fn the_deployment_limits_floods_keeps_its_data_and_raises_alarms() {
    let template = template();
    let api = &resource(&template, "HttpApi")["Properties"]["DefaultRouteSettings"];
    for limit in ["ThrottlingRateLimit", "ThrottlingBurstLimit"] {
        assert!(
            tagged(&api[limit]).is_some_and(|(tag, _)| tag == "!Ref"),
            "HttpApi {limit}: {api:?}"
        );
    }
    for function in FUNCTIONS {
        let properties = &resource(&template, function)["Properties"];
        assert!(
            !properties["ReservedConcurrentExecutions"].is_null(),
            "{function} has no reserved concurrency"
        );
        let logs = template["Resources"]
            .as_mapping()
            .expect("resources")
            .values()
            .filter(|r| r["Type"].as_str() == Some("AWS::Logs::LogGroup"))
            .find(|r| {
                tagged(&r["Properties"]["LogGroupName"])
                    .is_some_and(|(_, name)| name == format!("/aws/lambda/${{{function}}}"))
            });
        let logs = logs.unwrap_or_else(|| panic!("{function} has no log group"));
        assert!(
            !logs["Properties"]["RetentionInDays"].is_null(),
            "{function}: logs kept forever"
        );
    }
    for (function, event) in [("DispatcherFunction", "Dispatch"), ("ImporterFunction", "Pages")] {
        let scaling =
            &resource(&template, function)["Properties"]["Events"][event]["Properties"]["ScalingConfig"];
        assert!(
            !scaling["MaximumConcurrency"].is_null(),
            "{function}: {scaling:?}"
        );
    }
    assert_eq!(
        resource(&template, "Table")["Properties"]["DeletionProtectionEnabled"].as_bool(),
        Some(true)
    );
    let watched: Vec<String> = template["Resources"]
        .as_mapping()
        .expect("resources")
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .filter_map(|r| tagged(&r["Properties"]["Dimensions"][0]["Value"]).map(|(_, v)| v))
        .collect();
    for queue in [
        "DispatchDeadLetterQueue.QueueName",
        "ImportDeadLetterQueue.QueueName",
        "ImportQueue.QueueName",
    ] {
        assert!(
            watched.iter().any(|w| w == queue),
            "no alarm on {queue}: {watched:?}"
        );
    }
}

/// Issue 16: the functions' metrics have alarms and a dashboard, and both name only metrics the
/// code emits (a renamed metric would leave an alarm that never fires).
#[test]
fn alarms_and_the_dashboard_watch_the_metrics_the_functions_emit() {
    let template = template();
    let resources = template["Resources"].as_mapping().expect("resources");
    let ours: Vec<&str> = resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .filter(|r| r["Properties"]["Namespace"].as_str() == Some(provisio::metrics::NAMESPACE))
        .filter_map(|r| r["Properties"]["MetricName"].as_str())
        .collect();
    for metric in [
        provisio::metrics::HELD_DEPROVISIONS,
        provisio::metrics::FAILED_CALLS,
        provisio::metrics::QUARANTINES,
    ] {
        assert!(ours.contains(&metric), "no alarm on {metric}: {ours:?}");
    }
    for metric in &ours {
        assert!(
            provisio::metrics::ALL.contains(metric),
            "an alarm on {metric}, which nothing emits"
        );
    }
    let body = resource(&template, "Dashboard")["Properties"]["DashboardBody"].clone();
    let (_, body) = tagged(&body).expect("a !Sub body");
    let named: Vec<String> = body
        .split("[\"Provisio\", \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_string))
        .collect();
    assert!(named.len() >= 8, "{named:?}");
    for metric in &named {
        assert!(
            provisio::metrics::ALL.contains(&metric.as_str()),
            "the dashboard shows {metric}, which nothing emits"
        );
    }
    for metric in provisio::metrics::ALL {
        assert!(
            named.iter().any(|n| n == metric),
            "the dashboard leaves out {metric}"
        );
    }
}
