//! The node's TLS certificates for browser transports, kept in its store:
//! a browser dials an address that carries the certificates' hashes, so the
//! same certificates after a restart keep the addresses it knows valid.

use libp2p_webrtc::tokio::Certificate;

use super::handle::NodeError;
use crate::db::Db;
use crate::net::webtransport::{Certificates, StoredCert};
use crate::net::NodeCerts;
use crate::store::{Mode, RedbStore, Store, Table, Tx};

const META_WEBRTC_CERT: &[u8] = b"net/webrtc-cert";
const META_WEBTRANSPORT_CERTS: &[u8] = b"net/webtransport-certs";

/// The node's certificates: as stored, or made (and stored) on first start.
pub(super) async fn load(db: &Db<RedbStore>) -> Result<NodeCerts, NodeError> {
    let net = |e: &dyn std::fmt::Display| NodeError::Network(e.to_string());
    let (webrtc, webtransport) = {
        let mut tx = db.store().begin_read(&[Table::Meta]).await.map_err(crate::Error::from)?;
        let webrtc = tx.get(Table::Meta, META_WEBRTC_CERT).await.map_err(crate::Error::from)?;
        let webtransport = tx.get(Table::Meta, META_WEBTRANSPORT_CERTS).await.map_err(crate::Error::from)?;
        (webrtc, webtransport)
    };
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

async fn put(db: &Db<RedbStore>, key: &[u8], value: &[u8]) -> Result<(), NodeError> {
    let mut tx = db.store().begin(Mode::Write).await.map_err(crate::Error::from)?;
    tx.put(Table::Meta, key, value).await.map_err(crate::Error::from)?;
    tx.commit().await.map_err(crate::Error::from)?;
    Ok(())
}
