//! The SCIM schemas Provisio serves (RFC 7643 section 4 and 8.7), as data: discovery documents,
//! case-insensitive attribute names and case-exactness all come from this one table.

use serde_json::{Value, json};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Boolean,
    Reference,
    Complex,
    DateTime,
}

#[derive(Debug, Clone, Copy)]
pub struct Attr {
    pub name: &'static str,
    pub kind: Kind,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: &'static str,
    pub returned: &'static str,
    pub uniqueness: &'static str,
    pub sub: &'static [Attr],
}

const fn attr(name: &'static str, kind: Kind) -> Attr {
    Attr {
        name,
        kind,
        multi: false,
        required: false,
        case_exact: false,
        mutability: "readWrite",
        returned: "default",
        uniqueness: "none",
        sub: &[],
    }
}

const fn multi(name: &'static str, sub: &'static [Attr]) -> Attr {
    Attr {
        multi: true,
        sub,
        ..attr(name, Kind::Complex)
    }
}

const VALUE_TYPE_PRIMARY: &[Attr] = &[
    attr("value", Kind::String),
    attr("display", Kind::String),
    attr("type", Kind::String),
    Attr {
        kind: Kind::Boolean,
        ..attr("primary", Kind::Boolean)
    },
];

const ADDRESS: &[Attr] = &[
    attr("formatted", Kind::String),
    attr("streetAddress", Kind::String),
    attr("locality", Kind::String),
    attr("region", Kind::String),
    attr("postalCode", Kind::String),
    attr("country", Kind::String),
    attr("type", Kind::String),
    attr("primary", Kind::Boolean),
];

const NAME: &[Attr] = &[
    attr("formatted", Kind::String),
    attr("familyName", Kind::String),
    attr("givenName", Kind::String),
    attr("middleName", Kind::String),
    attr("honorificPrefix", Kind::String),
    attr("honorificSuffix", Kind::String),
];

pub const USER_ATTRIBUTES: &[Attr] = &[
    Attr {
        required: true,
        uniqueness: "server",
        ..attr("userName", Kind::String)
    },
    Attr {
        sub: NAME,
        ..attr("name", Kind::Complex)
    },
    attr("displayName", Kind::String),
    attr("nickName", Kind::String),
    attr("profileUrl", Kind::Reference),
    attr("title", Kind::String),
    attr("userType", Kind::String),
    attr("preferredLanguage", Kind::String),
    attr("locale", Kind::String),
    attr("timezone", Kind::String),
    attr("active", Kind::Boolean),
    multi("emails", VALUE_TYPE_PRIMARY),
    multi("phoneNumbers", VALUE_TYPE_PRIMARY),
    multi("ims", VALUE_TYPE_PRIMARY),
    multi("photos", VALUE_TYPE_PRIMARY),
    multi("addresses", ADDRESS),
    multi("entitlements", VALUE_TYPE_PRIMARY),
    multi("roles", VALUE_TYPE_PRIMARY),
    multi("x509Certificates", VALUE_TYPE_PRIMARY),
];

const MANAGER: &[Attr] = &[
    attr("value", Kind::String),
    attr("$ref", Kind::Reference),
    Attr {
        mutability: "readOnly",
        ..attr("displayName", Kind::String)
    },
];

pub const ENTERPRISE_ATTRIBUTES: &[Attr] = &[
    attr("employeeNumber", Kind::String),
    attr("costCenter", Kind::String),
    attr("organization", Kind::String),
    attr("division", Kind::String),
    attr("department", Kind::String),
    Attr {
        sub: MANAGER,
        ..attr("manager", Kind::Complex)
    },
];

const GROUP_MEMBER: &[Attr] = &[
    Attr {
        mutability: "immutable",
        ..attr("value", Kind::String)
    },
    Attr {
        mutability: "immutable",
        ..attr("$ref", Kind::Reference)
    },
    Attr {
        mutability: "immutable",
        ..attr("type", Kind::String)
    },
];

pub const GROUP_ATTRIBUTES: &[Attr] = &[
    Attr {
        required: true,
        uniqueness: "server",
        ..attr("displayName", Kind::String)
    },
    multi("members", GROUP_MEMBER),
];

/// Attributes every resource has (RFC 7643 3.1).
pub const COMMON_ATTRIBUTES: &[Attr] = &[
    Attr {
        case_exact: true,
        mutability: "readOnly",
        returned: "always",
        uniqueness: "server",
        ..attr("id", Kind::String)
    },
    Attr {
        case_exact: true,
        ..attr("externalId", Kind::String)
    },
];

/// Finds an attribute definition by name, case-insensitively.
pub fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// Whether comparisons on `name.sub` of a User are case-exact.
pub fn user_case_exact(uri: Option<&str>, name: &str, sub: Option<&str>) -> bool {
    if uri.is_none_or(|u| u.eq_ignore_ascii_case(USER))
        && let Some(common) = find(COMMON_ATTRIBUTES, name)
    {
        return common.case_exact;
    }
    let table = match uri {
        Some(u) if u.eq_ignore_ascii_case(ENTERPRISE_USER) => ENTERPRISE_ATTRIBUTES,
        _ => USER_ATTRIBUTES,
    };
    let Some(attr) = find(table, name) else {
        return false;
    };
    match sub {
        Some(sub) => find(attr.sub, sub).is_some_and(|s| s.case_exact),
        None => attr.case_exact,
    }
}

fn describe(attr: &Attr) -> Value {
    let kind = match attr.kind {
        Kind::String => "string",
        Kind::Boolean => "boolean",
        Kind::Reference => "reference",
        Kind::Complex => "complex",
        Kind::DateTime => "dateTime",
    };
    let mut doc = json!({
        "name": attr.name,
        "type": kind,
        "multiValued": attr.multi,
        "description": attr.name,
        "required": attr.required,
        "caseExact": attr.case_exact,
        "mutability": attr.mutability,
        "returned": attr.returned,
        "uniqueness": attr.uniqueness,
    });
    if attr.kind == Kind::Reference {
        doc["referenceTypes"] = json!(["external"]);
    }
    if !attr.sub.is_empty() {
        doc["subAttributes"] = Value::Array(attr.sub.iter().map(describe).collect());
    }
    doc
}

fn schema_document(id: &str, name: &str, attrs: &[Attr], base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id,
        "name": name,
        "description": format!("{name} as Provisio stores it"),
        "attributes": attrs.iter().map(describe).collect::<Vec<_>>(),
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") },
    })
}

pub fn schemas(base: &str) -> Vec<Value> {
    vec![
        schema_document(USER, "User", USER_ATTRIBUTES, base),
        schema_document(ENTERPRISE_USER, "EnterpriseUser", ENTERPRISE_ATTRIBUTES, base),
        schema_document(GROUP, "Group", GROUP_ATTRIBUTES, base),
    ]
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "Directory users",
            "schema": USER,
            "schemaExtensions": [{ "schema": ENTERPRISE_USER, "required": false }],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Directory groups; members are directory memberships",
            "schema": GROUP,
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") },
        }),
    ]
}

/// What this server supports, truthfully.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/provisio/provisio#scim",
        "patch": { "supported": true },
        "bulk": {
            "supported": true,
            "maxOperations": super::bulk::MAX_OPERATIONS,
            "maxPayloadSize": super::bulk::MAX_PAYLOAD_BYTES,
        },
        "filter": { "supported": true, "maxResults": super::list::MAX_COUNT },
        "changePassword": { "supported": false },
        "sort": { "supported": true },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "The per-app token issued when the SCIM client app is created or its token rotated",
            "primary": true,
        }],
        "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") },
    })
}
