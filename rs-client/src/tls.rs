//! https: which certificate authorities the client trusts ([`TlsRoots`]),
//! the rustls settings made from them, and how a failed handshake is told
//! apart from a failed connection (see the README, "https").

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

use crate::error::Error;

/// The certificate authorities an `https://` endpoint's certificate must
/// chain to. The endpoint's host name (or IP address) must also be in the
/// certificate: rustls checks both, and a failure is [`Error::Tls`].
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum TlsRoots {
    /// Mozilla's root program, compiled in (webpki-roots). The default: an
    /// authorization server with a publicly trusted certificate.
    #[default]
    Mozilla,
    /// Only the CA certificates in this PEM text (one or more `BEGIN
    /// CERTIFICATE` blocks; other blocks are ignored): a private CA, and
    /// nothing else is trusted. To trust the operating system's store,
    /// pass its bundle (e.g. `/etc/ssl/certs/ca-certificates.crt`).
    Pem(String),
    /// Mozilla's roots and the CA certificates in this PEM text.
    MozillaAndPem(String),
}

impl fmt::Debug for TlsRoots {
    /// The variant and the PEM's size: a bundle is long and says nothing
    /// useful in a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mozilla => f.write_str("Mozilla"),
            Self::Pem(pem) => write!(f, "Pem({} bytes)", pem.len()),
            Self::MozillaAndPem(pem) => write!(f, "MozillaAndPem({} bytes)", pem.len()),
        }
    }
}

impl TlsRoots {
    /// The trust anchors.
    ///
    /// # Errors
    /// [`Error::Config`]: the PEM is malformed, holds no certificate, or a
    /// certificate is not a usable CA certificate.
    fn store(&self) -> Result<RootCertStore, Error> {
        let mut store = RootCertStore::empty();
        let pem = match self {
            Self::Mozilla => None,
            Self::Pem(pem) => Some(pem),
            Self::MozillaAndPem(pem) => Some(pem),
        };
        if matches!(self, Self::Mozilla | Self::MozillaAndPem(_)) {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if let Some(pem) = pem {
            let mut added = 0usize;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| Error::Config(format!("the root CA PEM is malformed: {e}")))?;
                store
                    .add(cert)
                    .map_err(|e| Error::Config(format!("a root CA certificate is unusable: {e}")))?;
                added += 1;
            }
            // An empty private root set would fail every handshake later,
            // far from the mistake; say it now.
            if added == 0 {
                return Err(Error::Config("the root CA PEM holds no certificate".into()));
            }
        }
        Ok(store)
    }
}

/// rustls settings for the client: the ring provider chosen here rather
/// than the process-wide default (which panics when two providers are
/// built in), its safe protocol versions (TLS 1.3 and 1.2), `roots`, no
/// client certificate.
///
/// # Errors
/// [`Error::Config`] as [`TlsRoots`]'s PEM checks.
pub(crate) fn client_config(roots: &TlsRoots) -> Result<rustls::ClientConfig, Error> {
    let store = roots.store()?;
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS settings: {e}")))?
            .with_root_certificates(store)
            .with_no_client_auth();
    Ok(config)
}

/// Whether a failed request failed in TLS (the handshake, the certificate,
/// its name, a TLS alert, bytes that are not TLS) rather than in TCP or
/// HTTP. The connector wraps rustls's error in `io::Error`s, whose
/// `source()` skips the error they wrap, so each one is opened by hand.
pub(crate) fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.is::<rustls::Error>() {
            return true;
        }
        next = match e.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(roots: TlsRoots) -> String {
        match client_config(&roots) {
            Err(Error::Config(m)) => m,
            Err(e) => panic!("{e:?}"),
            Ok(_) => panic!("accepted {roots:?}"),
        }
    }

    #[test]
    fn mozilla_roots_are_built_in() {
        let store = TlsRoots::Mozilla.store().unwrap();
        assert_eq!(store.len(), webpki_roots::TLS_SERVER_ROOTS.len());
        assert!(store.len() > 50, "{}", store.len());
        client_config(&TlsRoots::default()).unwrap();
    }

    #[test]
    fn pem_without_a_usable_certificate_is_refused() {
        assert!(refused(TlsRoots::Pem(String::new())).contains("no certificate"));
        assert!(refused(TlsRoots::MozillaAndPem("not pem".into())).contains("no certificate"));
        let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(refused(TlsRoots::Pem(broken.into())).contains("malformed"));
        // Well-formed PEM and base64, but not a certificate.
        let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(refused(TlsRoots::Pem(junk.into())).contains("unusable"));
    }

    #[test]
    fn debug_shows_the_size_not_the_pem() {
        let d = format!("{:?}", TlsRoots::Pem("-----BEGIN CERTIFICATE-----".into()));
        assert_eq!(d, "Pem(27 bytes)");
    }

    #[test]
    fn tls_failures_are_found_inside_io_errors() {
        let rustls_error = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        // As tokio-rustls and then hyper-rustls wrap it.
        let wrapped =
            std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, rustls_error));
        assert!(is_tls_failure(&wrapped));
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(!is_tls_failure(&refused));
    }
}
