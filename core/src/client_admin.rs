//! The client lifecycle for operators: list, read, enable or disable,
//! remove, and rotate a secret with an overlap. Thin drivers over the
//! [`ClientRegistry`], easy to call from an admin command; the one decision
//! (what a rotation keeps) is [`Client::with_rotated_secret`].
//!
//! Each change is a read followed by a [`ClientRegistry::put_client`],
//! which replaces the registration: two operators changing the same client
//! at the same instant may lose one change (the last write wins). Run one
//! change per client at a time.

use crate::audit::ClientChange;
use crate::crypto::RandomSecret;
use crate::error::Error;
use crate::limiter::FishingLimiter;
use crate::model::{Client, ClientId, SecretDigest};
use crate::store::{ClientPage, ClientRegistry, TokenStore};
use crate::time::UnixTime;
use crate::AuthServer;

/// The outcome of [`AuthServer::rotate_client_secret`].
#[derive(Debug)]
#[non_exhaustive]
pub enum SecretRotation {
    /// The new secret is stored (as its digest) and works at once. Hand
    /// `secret` to the client: it is not stored, and cannot be shown again.
    Rotated {
        /// The new secret: 256 bits from the OS random source.
        secret: RandomSecret,
        /// Until when the old secret is still accepted; `None` when it
        /// stopped at once.
        previous_until: Option<UnixTime>,
    },
    /// No client has this id; nothing changed.
    UnknownClient,
    /// The client is public: it has no secret; nothing changed.
    PublicClient,
}

impl<S: TokenStore + ClientRegistry, L: FishingLimiter> AuthServer<S, L> {
    /// One page of the registered clients, in ascending order of id (see
    /// [`ClientRegistry::list_clients`]; page with [`ClientPage::next`]).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn list_clients(&self, after: Option<&ClientId>, limit: usize) -> Result<ClientPage, Error> {
        Ok(self.store().list_clients(after, limit).await?)
    }

    /// The client registered as `id`, if any.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn client(&self, id: &ClientId) -> Result<Option<Client>, Error> {
        Ok(self.store().client(id).await?)
    }

    /// Enables or disables a client; returns whether it exists. A disabled
    /// client cannot authenticate, and its tokens introspect inactive,
    /// from the next request on; enabling it again brings back those that
    /// have not expired or been revoked.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn set_client_enabled(&self, id: &ClientId, enabled: bool) -> Result<bool, Error> {
        let Some(mut client) = self.store().client(id).await? else {
            return Ok(false);
        };
        if client.enabled != enabled {
            client.enabled = enabled;
            self.store().put_client(client).await?;
        }
        // Also when nothing changed: a resource server that missed the
        // first event loses nothing by hearing it again.
        self.client_changed(id, if enabled { ClientChange::Enabled } else { ClientChange::Disabled });
        Ok(true)
    }

    /// Removes a client; returns whether it existed. Its tokens stay stored
    /// but introspect inactive.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn remove_client(&self, id: &ClientId) -> Result<bool, Error> {
        let removed = self.store().remove_client(id).await?;
        if removed {
            self.client_changed(id, ClientChange::Removed);
        }
        Ok(removed)
    }

    /// Gives a confidential client a new secret, drawn from the OS random
    /// source and stored only as its digest. The new secret works at once;
    /// the current one keeps working until `previous_until` (exclusive, on
    /// the server's clock), then never. A `previous_until` not after now
    /// ends the current secret at once, as after a leak. A rotation during
    /// an earlier one's overlap ends the older secret at once: only one
    /// previous secret is kept.
    ///
    /// # Errors
    /// [`Error::Store`], or [`Error::Random`] when the OS random source
    /// fails (nothing changes then).
    pub async fn rotate_client_secret(
        &self,
        id: &ClientId,
        previous_until: UnixTime,
    ) -> Result<SecretRotation, Error> {
        let Some(client) = self.store().client(id).await? else {
            return Ok(SecretRotation::UnknownClient);
        };
        let secret = RandomSecret::generate()?;
        let digest = SecretDigest::of_presented(secret.as_str());
        let now = self.now();
        let Some(rotated) = client.with_rotated_secret(digest, previous_until, now) else {
            return Ok(SecretRotation::PublicClient);
        };
        self.store().put_client(rotated).await?;
        self.client_changed(id, ClientChange::SecretRotated);
        let previous_until = (now < previous_until).then_some(previous_until);
        Ok(SecretRotation::Rotated { secret, previous_until })
    }
}
