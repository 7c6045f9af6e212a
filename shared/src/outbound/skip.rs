//! Why the dispatcher did not call an app about a user it is concerned with (in its scope, or
//! linked to it). Each such decision is logged as a `skipped` entry, so an account that is missing
//! at an app is always explained in the user's provisioning log.

use crate::directory::change::ChangeKind;

use super::event_config::kind_name;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The app has no enabled event config of this kind.
    NotConfigured(ChangeKind),
    /// The user is deactivated: an account is created when the user is activated.
    Inactive,
    /// A call failed for good at this user version; the app is left alone until the user changes
    /// or the failure is redriven.
    Parked(u64),
    /// The user left the app's scope (or was deleted) before the app had an account.
    NoAccount,
    /// Out of the app's scope; the account there is already deactivated.
    AlreadyDeactivated,
    /// The app already has this version of the user and its groups.
    UpToDate,
    /// The change came from this app (an import of its users): not sent back.
    FromThisApp,
    /// The user came from this app (an import): linked to that account instead of creating it.
    ImportedFromThisApp,
    /// The app is quarantined (its calls kept failing): the message waits for the probe.
    Quarantined,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::NotConfigured(kind) => {
                write!(f, "the app has no enabled {} event config", kind_name(*kind))
            }
            Skip::Inactive => {
                f.write_str("the user is deactivated; the account is created when the user is activated")
            }
            Skip::Parked(version) => write!(
                f,
                "parked after a permanent failure at user version {version}; a change of the user or a redrive tries again"
            ),
            Skip::NoAccount => f.write_str("out of scope before the app had an account; nothing to remove"),
            Skip::AlreadyDeactivated => f.write_str("out of scope; the account is already deactivated"),
            Skip::UpToDate => f.write_str("nothing changed: the app already has this version of the user"),
            Skip::FromThisApp => f.write_str("the change came from this app (an import): not sent back to it"),
            Skip::Quarantined => f.write_str(
                "the app is quarantined (its calls kept failing): this waits, and goes on once a probe call succeeds",
            ),
            Skip::ImportedFromThisApp => f.write_str(
                "the user was imported from this app: linked to the account there instead of creating another",
            ),
        }
    }
}
