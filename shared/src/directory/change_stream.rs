//! A change event as the table's stream carries it to the dispatch queue: the deployed pipe (and
//! `devstack stream` locally) sends each new outbox item's stream record, unchanged, as one
//! message. The record's `dynamodb.NewImage` is the outbox item in DynamoDB's JSON notation.

use serde_json::{Map, Value};

use super::change::ChangeEvent;

/// Whether a message body is a stream record rather than a bare change event.
pub fn is_stream_record(body: &Value) -> bool {
    body.get("dynamodb").is_some_and(Value::is_object)
}

/// The change event of a stream record (an `INSERT` of an outbox item).
pub fn from_stream_record(record: &Value) -> Result<ChangeEvent, String> {
    let image = record
        .pointer("/dynamodb/NewImage")
        .and_then(Value::as_object)
        .ok_or("a stream record without dynamodb.NewImage")?;
    let plain: Map<String, Value> = image
        .iter()
        .map(|(name, value)| Ok((name.clone(), plain_value(value)?)))
        .collect::<Result<_, String>>()?;
    serde_json::from_value(Value::Object(plain)).map_err(|e| format!("the stream record's image: {e}"))
}

/// One attribute from DynamoDB JSON (`{"S": "..."}`, `{"N": "3"}`, ...) to plain JSON. Change
/// events hold strings and numbers; the other scalar and document types are read for completeness.
fn plain_value(value: &Value) -> Result<Value, String> {
    let object = value
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or("an attribute value is not one typed member")?;
    let (kind, inner) = object.iter().next().ok_or("an empty attribute value")?;
    Ok(match (kind.as_str(), inner) {
        ("S", Value::String(s)) => Value::String(s.clone()),
        ("N", Value::String(n)) => serde_json::from_str::<serde_json::Number>(n)
            .map(Value::Number)
            .map_err(|_| format!("a number attribute that is not a number: {n}"))?,
        ("BOOL", Value::Bool(b)) => Value::Bool(*b),
        ("NULL", _) => Value::Null,
        ("SS", Value::Array(items)) => Value::Array(items.clone()),
        ("L", Value::Array(items)) => Value::Array(items.iter().map(plain_value).collect::<Result<_, _>>()?),
        ("M", Value::Object(members)) => Value::Object(
            members
                .iter()
                .map(|(k, v)| Ok((k.clone(), plain_value(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        (other, _) => return Err(format!("an attribute of type {other} in a change event")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::change::ChangeKind;
    use serde_json::json;

    #[test]
    fn an_outbox_insert_reads_back_as_its_event() {
        let record = json!({
            "eventID": "1", "eventName": "INSERT", "eventSource": "aws:dynamodb",
            "dynamodb": {
                "Keys": { "pk": { "S": "OUTBOX#03" }, "sk": { "S": "2026-11-30T00:00:00Z#e1" } },
                "NewImage": {
                    "pk": { "S": "OUTBOX#03" }, "sk": { "S": "2026-11-30T00:00:00Z#e1" },
                    "id": { "S": "e1" }, "kind": { "S": "member_added" }, "userId": { "S": "u1" },
                    "groupId": { "S": "g1" }, "userVersion": { "N": "7" },
                    "at": { "S": "2026-11-30T00:00:00Z" }, "ttl": { "N": "1796000000" }
                },
                "SequenceNumber": "100", "StreamViewType": "NEW_IMAGE"
            }
        });
        assert!(is_stream_record(&record));
        let event = from_stream_record(&record).expect("an event");
        assert_eq!(event.kind, ChangeKind::MemberAdded);
        assert_eq!(event.user_id.as_ref().map(|u| u.as_str()), Some("u1"));
        assert_eq!(event.group_id.as_ref().map(|g| g.as_str()), Some("g1"));
        assert_eq!(event.user_version, Some(7));
    }

    #[test]
    fn a_record_without_an_image_or_with_a_bad_number_is_refused() {
        assert!(from_stream_record(&json!({ "dynamodb": { "Keys": {} } })).is_err());
        let bad = json!({ "dynamodb": { "NewImage": {
            "id": { "S": "e" }, "kind": { "S": "user_created" }, "userId": { "S": "u" },
            "userVersion": { "N": "seven" }, "at": { "S": "t" } } } });
        assert!(from_stream_record(&bad).unwrap_err().contains("not a number"));
    }
}
