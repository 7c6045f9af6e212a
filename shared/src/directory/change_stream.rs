//! A change event as the table's stream carries it to the dispatch queue. The deployed pipe (and
//! `devstack stream` locally) passes the records of items written with a change event (attribute
//! [`EVENT_ATTR`]: a user that carries its own, or an outbox item) and sends, through its
//! input template, only that attribute in DynamoDB's JSON notation: `{"changeEvent": {"M":
//! {...}}}`. A whole stream record (a pipe without the template, or an outbox record from before
//! events rode on items, their fields at the top of the image) is read too.

use serde_json::Value;

use super::change::{ChangeEvent, EVENT_ATTR};

/// Whether a message body comes from the stream rather than being a bare change event.
pub fn is_stream_record(body: &Value) -> bool {
    body.get("dynamodb").is_some_and(Value::is_object) || body.get(EVENT_ATTR).is_some_and(Value::is_object)
}

/// The change event of a message the stream's pipe sent.
pub fn from_stream_record(record: &Value) -> Result<ChangeEvent, String> {
    let typed = match record.get(EVENT_ATTR) {
        Some(event) => event,
        None => {
            let image = record
                .pointer("/dynamodb/NewImage")
                .filter(|image| image.is_object())
                .ok_or("a stream record without dynamodb.NewImage")?;
            match image.get(EVENT_ATTR) {
                Some(event) => event,
                // An outbox item of the old layout: the event's fields are the image's.
                None => &serde_json::json!({ "M": image }),
            }
        }
    };
    let plain = plain_value(typed)?;
    if !plain.is_object() {
        return Err(format!("{EVENT_ATTR} is not a map"));
    }
    serde_json::from_value(plain).map_err(|e| format!("the stream record's change event: {e}"))
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
    fn the_pipes_message_and_a_record_of_an_item_carrying_its_event_read_back_as_the_event() {
        let event = json!({ "M": {
            "id": { "S": "e2" }, "kind": { "S": "user_updated" }, "userId": { "S": "u2" },
            "userVersion": { "N": "3" }, "origin": { "S": "a1" }, "at": { "S": "2026-12-01T00:00:00Z" }
        } });
        let templated = json!({ EVENT_ATTR: event.clone() });
        let record = json!({
            "eventName": "MODIFY",
            "dynamodb": { "NewImage": {
                "pk": { "S": "USER#u2" }, "sk": { "S": "PROFILE" }, "userName": { "S": "ann" },
                EVENT_ATTR: event
            } }
        });
        for body in [templated, record] {
            assert!(is_stream_record(&body));
            let read = from_stream_record(&body).expect("an event");
            assert_eq!(read.kind, ChangeKind::UserUpdated);
            assert_eq!(read.user_id.as_ref().map(|u| u.as_str()), Some("u2"));
            assert_eq!(read.user_version, Some(3));
            assert_eq!(read.origin.as_ref().map(|a| a.as_str()), Some("a1"));
        }
        assert!(from_stream_record(&json!({ EVENT_ATTR: { "S": "x" } })).is_err());
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
