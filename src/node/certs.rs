//! The node's TLS certificates for browser transports, kept in its store:
//! a browser dials an address that carries the certificates' hashes, so the
//! same certificates after a restart keep the addresses it knows valid.

use libp2p_webrtc::tokio::Certificate;

use super::handle::NodeError;
use crate::db::Db;
use crate::net::webtransport::{Certificates, StoredCert};
use crate::net::NodeCerts;
use crate::store::RedbStore;

use crate::records::{META_WEBRTC_CERT, META_WEBTRANSPORT_CERTS};

/// The node's certificates: as stored, or made (and stored) on first start.
pub(super) async fn load(db: &Db<RedbStore>) -> Result<NodeCerts, NodeError> {
    let net = |e: &dyn std::fmt::Display| NodeError::Network(e.to_string());
    let webrtc = db.meta(META_WEBRTC_CERT).await?;
    let webtransport = db.meta(META_WEBTRANSPORT_CERTS).await?;
    // libp2p-webrtc's certificates do not expire: WebRTC checks the hash.
    let webrtc = match webrtc.map(|pem| {
        std::str::from_utf8(&pem)
            .map_err(|e| e.to_string())
            .and_then(|s| Certificate::from_pem(s).map_err(|e| e.to_string()))
    }) {
        Some(Ok(cert)) => cert,
        found => {
            if let Some(Err(e)) = found {
                tracing::warn!("stored WebRTC certificate unreadable, making a new one: {e}");
            }
            let cert = Certificate::generate(&mut rand::rng()).map_err(|e| net(&e))?;
            put(db, META_WEBRTC_CERT, cert.serialize_pem().as_bytes()).await?;
            cert
        }
    };
    let webtransport = match webtransport.map(|bytes| {
        serde_ipld_dagcbor::from_slice::<Vec<StoredCert>>(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|stored| Certificates::from_der(&stored).map_err(|e| e.to_string()))
    }) {
        Some(Ok(certs)) => certs,
        found => {
            if let Some(Err(e)) = found {
                tracing::warn!("stored WebTransport certificates unusable, making new ones: {e}");
            }
            let certs = Certificates::generate().map_err(|e| net(&e))?;
            save_webtransport(db, &certs).await?;
            certs
        }
    };
    Ok(NodeCerts { webrtc, webtransport })
}

/// Stores the WebTransport certificates as they are now (after a rotation).
pub(super) async fn save_webtransport(db: &Db<RedbStore>, certs: &Certificates) -> Result<(), NodeError> {
    let bytes = serde_ipld_dagcbor::to_vec(&certs.to_der()).map_err(|e| NodeError::Network(e.to_string()))?;
    put(db, META_WEBTRANSPORT_CERTS, &bytes).await
}

async fn put(db: &Db<RedbStore>, key: &str, value: &[u8]) -> Result<(), NodeError> {
    Ok(db.set_meta(key, Some(value)).await?)
}
