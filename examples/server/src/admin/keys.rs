//! `admin keys generate`: a new token key for the config file. Nothing is
//! written: the operator puts it in `keys.signing` and moves the old
//! signing key to `keys.verify_only`, so tokens it signed stay valid until
//! they expire.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use gatehouse_core::{KeyId, RandomSecret};
use serde_json::json;

use super::{AdminError, Output};

/// A key with this id: 32 bytes from the OS random source (the core's
/// [`RandomSecret`], re-encoded as the config's standard base64).
///
/// # Errors
/// [`AdminError::Usage`] for an id a key cannot have;
/// [`AdminError::Random`].
pub(crate) fn generate(id: &str) -> Result<Output, AdminError> {
    let id = KeyId::new(id).map_err(|e| AdminError::Usage(format!("--id: {e}")))?;
    let secret = RandomSecret::generate().map_err(|e| AdminError::Random(e.to_string()))?;
    let bytes = URL_SAFE_NO_PAD.decode(secret.as_str()).map_err(|e| AdminError::Random(e.to_string()))?;
    let key = json!({ "id": id.as_str(), "secret_b64": STANDARD.encode(bytes) });
    let human = format!("{key}");
    Ok(Output::new(human, key).with_note(
        "put this key in the config's `keys.signing` and move the old signing key to \
         `keys.verify_only` (tokens it signed stay valid until they expire); it is not shown again",
    ))
}
