//! The client registry's table: a lookup costs the same whether the id is
//! registered or not (the contract of [`ClientRegistry::client`]), so
//! response times do not tell which client ids exist.
//!
//! A hit hashes the id, compares it with the stored key and clones the
//! record (a handful of reference-count increments; the caller drops it
//! later). A miss hashes the id, compares it with itself (as long a
//! comparison as a hit's) and clones a stand-in record, which it drops:
//! each miss the next registered client in turn, so that its memory is no
//! more often in cache than a hit's. Records are stored decoded, so no hit
//! does more than that.
//!
//! [`ClientRegistry::client`]: gatehouse_core::ClientRegistry::client

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use gatehouse_core::model::{Client, ClientId, IdHashing};
use gatehouse_core::ClientPage;

/// Registered clients by id, and the stand-ins a miss clones.
#[derive(Default)]
pub(crate) struct Clients {
    by_id: HashMap<ClientId, Client, IdHashing>,
    /// Every registered client once, in no particular order. Only ever
    /// cloned and dropped, never answered. A miss clones the next one in
    /// turn rather than always the same: a hit's clone touches the memory
    /// of whichever client was asked for, and one fixed stand-in would
    /// stay in the fastest cache where a hit's client often is not.
    stand_ins: Vec<Client>,
    /// Which stand-in is next. Moved by every lookup, hit or miss, so both
    /// do this work; lookups racing on it may pick the same one.
    next: AtomicUsize,
    /// Records cloned, for the tests that prove hits and misses alike.
    #[cfg(test)]
    cloned: AtomicUsize,
}

impl Clients {
    /// The client registered as `id`, with the same work when there is
    /// none.
    pub(crate) fn lookup(&self, id: &ClientId) -> Option<Client> {
        let turn = self.next.load(Ordering::Relaxed);
        let stand_in = self.stand_ins.get(turn);
        let wrapped = turn + 1 >= self.stand_ins.len();
        self.next.store(if wrapped { 0 } else { turn + 1 }, Ordering::Relaxed);
        let found = self.by_id.get(id);
        if found.is_none() {
            // What the hit's key comparison costs: equal lengths, every
            // byte compared.
            black_box(black_box(id.as_str()) == black_box(id.as_str()));
        }
        let record = self.clone_of(found.or(stand_in));
        match found {
            Some(_) => record,
            None => {
                drop(black_box(record));
                None
            }
        }
    }

    /// The client registered as `id`, without the equal work for a miss:
    /// for ids that come from stored records, not from callers.
    pub(crate) fn get(&self, id: &ClientId) -> Option<Client> {
        self.by_id.get(id).cloned()
    }

    fn clone_of(&self, record: Option<&Client>) -> Option<Client> {
        #[cfg(test)]
        if record.is_some() {
            self.cloned.fetch_add(1, Ordering::Relaxed);
        }
        record.cloned()
    }

    /// Registers `client`, replacing a registration with the same id.
    pub(crate) fn put(&mut self, client: Client) {
        // A scan only to replace a registration, not to add one.
        let old = match self.by_id.contains_key(&client.id) {
            true => self.stand_ins.iter_mut().find(|c| c.id == client.id),
            false => None,
        };
        match old {
            Some(old) => *old = client.clone(),
            None => self.stand_ins.push(client.clone()),
        }
        self.by_id.insert(client.id.clone(), client);
    }

    /// Removes the registration of `id`; whether there was one.
    pub(crate) fn remove(&mut self, id: &ClientId) -> bool {
        if let Some(i) = self.stand_ins.iter().position(|c| c.id == *id) {
            self.stand_ins.swap_remove(i);
        }
        self.by_id.remove(id).is_some()
    }

    /// Up to `limit` clients with ids after `after`, ascending, and the
    /// next page's start. Sorts on every call: listing is an operator's
    /// occasional call, and an ordered index would cost every write.
    pub(crate) fn page(&self, after: Option<&ClientId>, limit: usize) -> ClientPage {
        let mut ids: Vec<&ClientId> = self.by_id.keys().filter(|id| after.is_none_or(|a| *id > a)).collect();
        ids.sort_unstable();
        let limit = limit.max(1);
        let clients = ids.iter().take(limit.saturating_add(1)).filter_map(|id| self.by_id.get(*id)).cloned();
        ClientPage::from_ascending(clients.collect(), limit)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use gatehouse_core::model::SecretDigest;

    use super::*;

    fn id(s: &str) -> ClientId {
        ClientId::new(s).unwrap()
    }

    fn clones_of(clients: &Clients, lookup: &str) -> (bool, usize) {
        clients.cloned.store(0, Ordering::Relaxed);
        let found = clients.lookup(&id(lookup)).is_some();
        (found, clients.cloned.load(Ordering::Relaxed))
    }

    /// A registered id, an unregistered one and a removed one each cost one
    /// record clone: a miss is not cheaper than a hit.
    #[test]
    fn a_miss_clones_a_record_as_a_hit_does() {
        let mut clients = Clients::default();
        for name in ["app", "api", "old"] {
            clients.put(Client::new_confidential(id(name), SecretDigest::generate().unwrap().1));
        }
        assert!(clients.remove(&id("old")));
        // Re-registering replaces its stand-in; removing drops it.
        clients.put(Client::new_public(id("app")));
        assert_eq!(clients.stand_ins.len(), 2);
        assert!(clients.stand_ins.iter().all(|c| clients.by_id.contains_key(&c.id)));
        assert_eq!(clones_of(&clients, "app"), (true, 1));
        assert_eq!(clones_of(&clients, "nobody"), (false, 1));
        assert_eq!(clones_of(&clients, "old"), (false, 1));
        assert!(!clients.remove(&id("old")));
    }

    /// Before any registration there is nothing to clone, and no id to
    /// tell apart.
    #[test]
    fn an_empty_table_answers_none() {
        assert_eq!(clones_of(&Clients::default(), "app"), (false, 0));
    }
}
