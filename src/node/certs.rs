//! The node's TLS certificates for browser transports, kept in its store:
//! a browser dials an address that carries the certificate's hash, so the
//! same certificate after a restart keeps the addresses it knows valid.

use libp2p_webrtc::tokio::Certificate;

use super::handle::NodeError;
use crate::db::Db;
use crate::store::{Mode, RedbStore, Store, Table, Tx};

const META_WEBRTC_CERT: &[u8] = b"net/webrtc-cert";

/// The WebRTC-direct certificate, made on first start. libp2p-webrtc's
/// certificates do not expire (WebRTC checks the hash, not the dates).
pub(super) async fn webrtc_certificate(db: &Db<RedbStore>) -> Result<Certificate, NodeError> {
    let stored = {
        let mut tx = db.store().begin_read(&[Table::Meta]).await.map_err(crate::Error::from)?;
        tx.get(Table::Meta, META_WEBRTC_CERT).await.map_err(crate::Error::from)?
    };
    if let Some(pem) = stored {
        match std::str::from_utf8(&pem)
            .map_err(|e| e.to_string())
            .and_then(|s| Certificate::from_pem(s).map_err(|e| e.to_string()))
        {
            Ok(cert) => return Ok(cert),
            Err(e) => tracing::warn!("stored WebRTC certificate unreadable, making a new one: {e}"),
        }
    }
    let cert = Certificate::generate(&mut rand::rng()).map_err(|e| NodeError::Network(e.to_string()))?;
    let mut tx = db.store().begin(Mode::Write).await.map_err(crate::Error::from)?;
    tx.put(Table::Meta, META_WEBRTC_CERT, cert.serialize_pem().as_bytes()).await.map_err(crate::Error::from)?;
    tx.commit().await.map_err(crate::Error::from)?;
    Ok(cert)
}
