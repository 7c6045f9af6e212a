//! The SCIM schemas Provisio serves (RFC 7643 section 4 and 8.7), as data: discovery documents,
//! case-insensitive attribute names and case-exactness all come from this one table.

use super::protocol;
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
    /// What the attribute is (RFC 7643 section 8.7's words, shortened where long).
    pub description: &'static str,
}

const fn attr(name: &'static str, kind: Kind, description: &'static str) -> Attr {
    Attr {
        name,
        kind,
        description,
        multi: false,
        required: false,
        case_exact: false,
        mutability: "readWrite",
        returned: "default",
        uniqueness: "none",
        sub: &[],
    }
}

const fn multi(name: &'static str, sub: &'static [Attr], description: &'static str) -> Attr {
    Attr {
        multi: true,
        sub,
        ..attr(name, Kind::Complex, description)
    }
}

const VALUE_TYPE_PRIMARY: &[Attr] = &[
    attr(
        "value",
        Kind::String,
        "The entry itself: an address, a number, a handle, a URL or a certificate, as the attribute holds.",
    ),
    attr(
        "display",
        Kind::String,
        "A human-readable name, primarily used for display purposes.",
    ),
    attr(
        "type",
        Kind::String,
        "A label indicating the entry's function, e.g. 'work' or 'home'.",
    ),
    Attr {
        kind: Kind::Boolean,
        ..attr(
            "primary",
            Kind::Boolean,
            "Whether this entry is the primary or preferred one among its attribute's entries.",
        )
    },
];

const ADDRESS: &[Attr] = &[
    attr(
        "formatted",
        Kind::String,
        "The full mailing address, formatted for display or use with a mailing label.",
    ),
    attr(
        "streetAddress",
        Kind::String,
        "The full street address component, which may include house number, street name, P.O. box and extended street address information.",
    ),
    attr("locality", Kind::String, "The city or locality component."),
    attr("region", Kind::String, "The state or region component."),
    attr(
        "postalCode",
        Kind::String,
        "The zip code or postal code component.",
    ),
    attr("country", Kind::String, "The country name component."),
    attr(
        "type",
        Kind::String,
        "A label indicating the address's function, e.g. 'work' or 'home'.",
    ),
    attr(
        "primary",
        Kind::Boolean,
        "Whether this is the primary or preferred mailing address.",
    ),
];

const NAME: &[Attr] = &[
    attr(
        "formatted",
        Kind::String,
        "The full name, including all middle names, titles and suffixes as appropriate, formatted for display.",
    ),
    attr(
        "familyName",
        Kind::String,
        "The family name of the User, or last name in most Western languages.",
    ),
    attr(
        "givenName",
        Kind::String,
        "The given name of the User, or first name in most Western languages.",
    ),
    attr("middleName", Kind::String, "The middle name(s) of the User."),
    attr(
        "honorificPrefix",
        Kind::String,
        "The honorific prefix(es) of the User, or title in most Western languages.",
    ),
    attr(
        "honorificSuffix",
        Kind::String,
        "The honorific suffix(es) of the User, or suffix in most Western languages.",
    ),
];

pub const USER_ATTRIBUTES: &[Attr] = &[
    Attr {
        required: true,
        uniqueness: "server",
        ..attr(
            "userName",
            Kind::String,
            "Unique identifier for the User, typically used by the user to directly authenticate to the service provider; unique across the service provider's entire set of Users.",
        )
    },
    Attr {
        sub: NAME,
        ..attr("name", Kind::Complex, "The components of the user's real name.")
    },
    attr(
        "displayName",
        Kind::String,
        "The name of the User, suitable for display to end-users.",
    ),
    attr(
        "nickName",
        Kind::String,
        "The casual way to address the user in real life.",
    ),
    attr(
        "profileUrl",
        Kind::Reference,
        "A fully qualified URL pointing to a page representing the User's online profile.",
    ),
    attr(
        "title",
        Kind::String,
        "The user's title, such as 'Vice President'.",
    ),
    attr(
        "userType",
        Kind::String,
        "The relationship between the organization and the user, e.g. 'Contractor' or 'Employee'.",
    ),
    attr(
        "preferredLanguage",
        Kind::String,
        "The User's preferred written or spoken language, as in an HTTP Accept-Language header.",
    ),
    attr(
        "locale",
        Kind::String,
        "The User's default location for localizing items such as currency, date and time formats or numbers.",
    ),
    attr(
        "timezone",
        Kind::String,
        "The User's time zone in the IANA ('Olson') database format, e.g. 'America/Los_Angeles'.",
    ),
    attr(
        "active",
        Kind::Boolean,
        "The User's administrative status: false when the account is deactivated.",
    ),
    multi("emails", VALUE_TYPE_PRIMARY, "Email addresses for the User."),
    multi("phoneNumbers", VALUE_TYPE_PRIMARY, "Phone numbers for the User."),
    multi(
        "ims",
        VALUE_TYPE_PRIMARY,
        "Instant messaging addresses for the User.",
    ),
    multi("photos", VALUE_TYPE_PRIMARY, "URLs of photos of the User."),
    multi("addresses", ADDRESS, "Physical mailing addresses for the User."),
    multi(
        "entitlements",
        VALUE_TYPE_PRIMARY,
        "Entitlements of the User: things the User has.",
    ),
    multi(
        "roles",
        VALUE_TYPE_PRIMARY,
        "Roles of the User that collectively represent who the User is, e.g. 'Student' or 'Faculty'.",
    ),
    multi(
        "x509Certificates",
        VALUE_TYPE_PRIMARY,
        "Certificates issued to the User.",
    ),
];

const MANAGER: &[Attr] = &[
    attr(
        "value",
        Kind::String,
        "The id of the SCIM resource representing the User's manager.",
    ),
    attr(
        "$ref",
        Kind::Reference,
        "The URI of the SCIM resource representing the User's manager.",
    ),
    Attr {
        mutability: "readOnly",
        ..attr(
            "displayName",
            Kind::String,
            "The displayName of the User's manager.",
        )
    },
];

pub const ENTERPRISE_ATTRIBUTES: &[Attr] = &[
    attr(
        "employeeNumber",
        Kind::String,
        "Identifier assigned to a person, typically based on order of hire or association with an organization.",
    ),
    attr("costCenter", Kind::String, "The name of a cost center."),
    attr("organization", Kind::String, "The name of an organization."),
    attr("division", Kind::String, "The name of a division."),
    attr("department", Kind::String, "The name of a department."),
    Attr {
        sub: MANAGER,
        ..attr("manager", Kind::Complex, "The User's manager.")
    },
];

const GROUP_MEMBER: &[Attr] = &[
    Attr {
        mutability: "immutable",
        ..attr("value", Kind::String, "Identifier of the member of this Group.")
    },
    Attr {
        mutability: "immutable",
        ..attr(
            "$ref",
            Kind::Reference,
            "The URI of the SCIM resource that is a member of this Group.",
        )
    },
    Attr {
        mutability: "immutable",
        ..attr(
            "type",
            Kind::String,
            "The type of resource that is a member, e.g. 'User' or 'Group'.",
        )
    },
];

pub const GROUP_ATTRIBUTES: &[Attr] = &[
    Attr {
        required: true,
        uniqueness: "server",
        ..attr(
            "displayName",
            Kind::String,
            "A human-readable name for the Group.",
        )
    },
    multi("members", GROUP_MEMBER, "A list of members of the Group."),
];

/// Attributes every resource has (RFC 7643 3.1).
pub const COMMON_ATTRIBUTES: &[Attr] = &[
    Attr {
        case_exact: true,
        mutability: "readOnly",
        returned: "always",
        uniqueness: "server",
        ..attr(
            "id",
            Kind::String,
            "A unique identifier for a SCIM resource as defined by the service provider.",
        )
    },
    Attr {
        case_exact: true,
        ..attr(
            "externalId",
            Kind::String,
            "An identifier for the resource as defined by the provisioning client.",
        )
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
        "description": attr.description,
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

fn schema_document(id: &str, name: &str, description: &str, attrs: &[Attr], base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attrs.iter().map(describe).collect::<Vec<_>>(),
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") },
    })
}

pub fn schemas(base: &str) -> Vec<Value> {
    vec![
        // Names and descriptions as RFC 7643 section 8.7 writes them.
        schema_document(USER, "User", "User Account", USER_ATTRIBUTES, base),
        schema_document(
            ENTERPRISE_USER,
            "EnterpriseUser",
            "Enterprise User",
            ENTERPRISE_ATTRIBUTES,
            base,
        ),
        schema_document(GROUP, "Group", "Group", GROUP_ATTRIBUTES, base),
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
            "maxOperations": protocol::MAX_BULK_OPERATIONS,
            "maxPayloadSize": protocol::MAX_BULK_PAYLOAD_BYTES,
        },
        "filter": { "supported": true, "maxResults": protocol::MAX_COUNT },
        // RFC 9865: cursors (one Query a page, no expiry: a cursor is the listing's last key)
        // beside startIndex, which stays the default for clients that know only RFC 7644.
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": protocol::DEFAULT_COUNT,
            "maxPageSize": protocol::MAX_COUNT,
        },
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
