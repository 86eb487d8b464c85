//! TLS for `wss://`: the system's trusted roots plus any the caller adds (a self-hosted
//! server with a private CA, or a test's own certificate).

use std::sync::Arc;

use rustls::pki_types::CertificateDer;

use crate::SignalingError;

pub fn client_config(
    extra_roots: &[CertificateDer<'static>],
) -> Result<Arc<rustls::ClientConfig>, SignalingError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system certificate rustls cannot parse is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    for cert in extra_roots {
        roots
            .add(cert.clone())
            .map_err(|e| SignalingError::Tls(format!("extra root certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(SignalingError::Tls(
            "no trusted root certificates found; install ca-certificates".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SignalingError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Reads PEM certificates, for [`crate::ClientOptions::extra_roots`].
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, SignalingError> {
    rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SignalingError::Tls(format!("cannot read PEM certificates: {e}")))
}
