//! The certificate this call's connections use for DTLS, made once per call so that what we
//! commit to (the [`Commitment`] sent before any offer or answer) holds for every connection
//! we set up with a peer, including the ones set up again after a network change.
//! docs/calls.md, "The security code".

use rtc::crypto::{default_provider, SignatureScheme};
use rtc::peer_connection::certificate::{CertificateParams, RTCCertificate};
use tincan_protocol::{Commitment, Side};

use crate::error::{webrtc, CallError};

/// Our DTLS certificate and what we tell peers about it.
#[derive(Clone)]
pub struct Identity {
    pub(crate) certificate: RTCCertificate,
    fingerprints: Vec<String>,
    commitment: Commitment,
}

impl Identity {
    /// A fresh ECDSA P-256 certificate (what browsers make), with a random name.
    pub fn generate() -> Result<Self, CallError> {
        let provider = default_provider().map_err(webrtc)?;
        let params =
            CertificateParams::new(vec![format!("tincan-{:08x}", crate::send::random_u32())])
                .map_err(webrtc)?;
        let certificate =
            RTCCertificate::generate(provider.crypto(), SignatureScheme::EcdsaP256Sha256, params)
                .map_err(webrtc)?;
        let mut fingerprints: Vec<String> = certificate
            .get_fingerprints(provider.crypto())
            .map_err(webrtc)?
            .into_iter()
            .map(|f| format!("{} {}", f.algorithm, f.value).to_ascii_lowercase())
            .collect();
        fingerprints.sort();
        fingerprints.dedup();
        let commitment = Commitment::to(&fingerprints);
        Ok(Self {
            certificate,
            fingerprints,
            commitment,
        })
    }

    /// The certificate, for a peer connection's configuration.
    pub fn certificate(&self) -> RTCCertificate {
        self.certificate.clone()
    }

    /// What we send before showing our fingerprints.
    pub fn commitment(&self) -> &Commitment {
        &self.commitment
    }

    /// Our side of a connection, for the security code.
    pub fn side<'a>(&'a self, me: &'a str) -> Side<'a> {
        Side {
            peer: me,
            fingerprints: &self.fingerprints,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use webrtc::peer_connection::{
        PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    };

    use super::*;
    use crate::engine;

    struct Quiet;
    impl PeerConnectionEventHandler for Quiet {}

    #[tokio::test]
    async fn our_offers_show_the_fingerprint_we_committed_to() {
        let id = Identity::generate().unwrap();
        let (media_engine, registry, _) = engine::media_engine_and_interceptors(1e6, 2e6).unwrap();
        let pc = PeerConnectionBuilder::new()
            .with_configuration(engine::configuration(&[], false, Some(id.certificate())))
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(Quiet))
            .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
            .build()
            .await
            .unwrap();
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        pc.create_data_channel("chat", None).await.unwrap();
        let offer = pc.create_offer(None).await.unwrap();
        assert!(id.commitment().matches(&offer.sdp), "{}", offer.sdp);
        let other = Identity::generate().unwrap();
        assert!(!other.commitment().matches(&offer.sdp));
        pc.close().await.unwrap();
    }
}
