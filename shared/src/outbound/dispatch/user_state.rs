//! The user as the dispatcher reads it for an event: profile, links, groups.

use super::*;

/// The user as the dispatcher sees it: profile (absent once deleted), links, groups.
pub(super) struct UserState {
    pub user: Option<User>,
    pub links: HashMap<AppId, Link>,
    pub groups: BTreeSet<GroupId>,
}

impl Dispatcher {
    /// Profile and links (one Query), groups (one Query on GSI2), and the event's own group read
    /// strongly.
    pub(super) async fn user_state(
        &self,
        user_id: &UserId,
        event: &ChangeEvent,
    ) -> Result<UserState, StoreError> {
        let pk = keys::user(user_id);
        let profile_and_links = Listing {
            index: None,
            partition: &pk,
            sk_prefix: None,
        };
        let memberships = Listing {
            index: Some(GSI2),
            partition: &pk,
            sk_prefix: Some(GROUP_PREFIX),
        };
        // The event's own group is read from the table: the index may lag behind a membership
        // written a moment ago (a join, or a join just before a policy re-scoped the group).
        let event_group = match (&event.group_id, event.kind) {
            (Some(group), ChangeKind::MemberAdded | ChangeKind::MemberRemoved | ChangeKind::ScopeChanged) => {
                Some(group)
            }
            _ => None,
        };
        // Independent reads, in parallel: the dispatch's latency is one round trip, not three.
        let (items, memberships, current) = futures::try_join!(
            self.store.query_items(&profile_and_links),
            async {
                self.store
                    .query_all::<Membership>(&memberships, 10_000, 1000)
                    .await
                    .map_err(|e| StoreError::Other(e.to_string()))
            },
            async {
                match event_group {
                    Some(group) => {
                        self.store
                            .get::<Membership>(&keys::group(group), &keys::member(user_id))
                            .await
                    }
                    None => Ok(None),
                }
            },
        )?;
        let mut user = None;
        let mut links = HashMap::new();
        for item in items {
            let sk = string_attr(&item, SK).unwrap_or_default();
            if sk == PROFILE {
                user = Some(from_item::<User>(item)?);
            } else if sk.starts_with(LINK_PREFIX) {
                let link: Link = from_item(item)?;
                links.insert(link.app_id.clone(), link);
            }
        }
        let mut groups: BTreeSet<GroupId> = BTreeSet::new();
        if user.is_some() {
            groups.extend(memberships.unwrap_or_default().into_iter().map(|m| m.group_id));
            // The index may not show a membership written a moment ago; the table does.
            if let Some(group) = event_group {
                if current.is_some() {
                    groups.insert(group.clone());
                } else {
                    groups.remove(group);
                }
            }
        }
        Ok(UserState { user, links, groups })
    }

    pub(super) async fn group_value(&self, group: &GroupId) -> Result<Value, StoreError> {
        let stored: Option<Group> = self.store.get(&keys::group(group), PROFILE).await?;
        Ok(match stored {
            Some(g) => json!({ "id": g.id, "name": g.name, "externalId": g.external_id }),
            None => json!({ "id": group }),
        })
    }
}
