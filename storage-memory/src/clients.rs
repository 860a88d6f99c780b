//! The client registry's table: a lookup costs the same whether the id is
//! registered or not (the contract of [`ClientRegistry::client`]), so
//! response times do not tell which client ids exist.
//!
//! A hit hashes the id, compares it with the stored key and clones the
//! record (a handful of reference-count increments; the caller drops it
//! later). A miss hashes the id, compares it with itself (as long a
//! comparison as a hit's) and clones a stand-in record, which it drops.
//! Records are stored decoded, so no hit does more than that.
//!
//! [`ClientRegistry::client`]: gatehouse_core::ClientRegistry::client

use std::collections::HashMap;
use std::hint::black_box;

use gatehouse_core::model::{Client, ClientId, IdHashing};

/// Registered clients by id, and the stand-in a miss clones.
#[derive(Default)]
pub(crate) struct Clients {
    by_id: HashMap<ClientId, Client, IdHashing>,
    /// The last client registered. Only ever cloned and dropped, never
    /// answered; it may outlive its removal (it is never read as a
    /// registration). `None` only before the first registration, when
    /// there is no id to tell apart.
    stand_in: Option<Client>,
    /// Records cloned, for the tests that prove hits and misses alike.
    #[cfg(test)]
    cloned: std::sync::atomic::AtomicUsize,
}

impl Clients {
    /// The client registered as `id`, with the same work when there is
    /// none.
    pub(crate) fn lookup(&self, id: &ClientId) -> Option<Client> {
        let found = self.by_id.get(id);
        if found.is_none() {
            // What the hit's key comparison costs: equal lengths, every
            // byte compared.
            black_box(black_box(id.as_str()) == black_box(id.as_str()));
        }
        let record = self.clone_of(found.or(self.stand_in.as_ref()));
        match found {
            Some(_) => record,
            None => {
                drop(black_box(record));
                None
            }
        }
    }

    fn clone_of(&self, record: Option<&Client>) -> Option<Client> {
        #[cfg(test)]
        if record.is_some() {
            self.cloned.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        record.cloned()
    }

    /// Registers `client`, replacing a registration with the same id.
    pub(crate) fn put(&mut self, client: Client) {
        self.stand_in = Some(client.clone());
        self.by_id.insert(client.id.clone(), client);
    }

    /// Removes the registration of `id`; whether there was one.
    pub(crate) fn remove(&mut self, id: &ClientId) -> bool {
        self.by_id.remove(id).is_some()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::Ordering;

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
        assert_eq!(clones_of(&clients, "app"), (true, 1));
        assert_eq!(clones_of(&clients, "nobody"), (false, 1));
        // The stand-in was the removed client: still never answered.
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
