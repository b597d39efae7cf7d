//! The certificates a WebTransport listener presents.
//!
//! A browser accepts a self-signed certificate only by its hash
//! (`serverCertificateHashes`), and only if it is ECDSA and valid for at
//! most 14 days. So certificates are short-lived and rolled: an address
//! carries the hashes of the current and the next certificate, and the
//! next one is what the listener serves after the rotation. A browser that
//! read the address before a rotation still finds the served certificate
//! among the hashes it was given, and Noise still lists all of them.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use libp2p::multiaddr::Protocol;
use multihash::Multihash;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use wtransport::tls::rustls;
use wtransport::tls::{Certificate, CertificateChain, PrivateKey, Sha256Digest};
use wtransport::Identity;
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The longest validity W3C WebTransport allows for a hash-pinned certificate.
pub const VALIDITY: Duration = Duration::days(14);
/// How far clocks may disagree: a certificate is served only once it has
/// been valid this long, and retired this long before it expires.
const SKEW: Duration = Duration::hours(1);
const SHA2_256: u64 = 0x12;

/// Where the ring reads the time: the system clock in a node, a hand-set
/// one in tests of rotation.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The system's UTC clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// One certificate as the node stores it: DER certificate, PKCS#8 DER key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCert {
    #[serde(with = "serde_bytes")]
    pub cert: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    #[error("generating a certificate: {0}")]
    Generate(String),
    #[error("a stored ring holds 2 or 3 certificates, not {0}")]
    RingSize(usize),
    #[error("stored certificate {index}: {reason}")]
    Invalid { index: usize, reason: String },
}

struct Cert {
    identity: Identity,
    hash: Multihash<64>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl Cert {
    fn generate(not_before: OffsetDateTime) -> Result<Self, CertError> {
        // Browsers ignore the name of a hash-pinned certificate; one SAN
        // keeps it a well-formed X.509v3 server certificate.
        let identity = Identity::self_signed_builder()
            .subject_alt_names(["localhost"])
            .not_before(not_before)
            .not_after(not_before + VALIDITY)
            .build()
            .map_err(|e| CertError::Generate(e.to_string()))?;
        let cert = identity.certificate_chain().as_slice()[0].der().to_vec();
        let key = identity.private_key().secret_der().to_vec();
        Self::from_der(cert, key).map_err(CertError::Generate)
    }

    /// The certificate that takes over from `self`: valid from two skews
    /// before `self` expires, so it has been valid for one skew when served.
    fn successor(&self) -> Result<Self, CertError> {
        Self::generate(self.not_after - SKEW * 2)
    }

    /// Checks what a browser will check, so a bad stored certificate fails
    /// here rather than in every handshake (or in wtransport's `expect`).
    fn from_der(cert: Vec<u8>, key: Vec<u8>) -> Result<Self, String> {
        let (_, x509) = X509Certificate::from_der(&cert).map_err(|e| e.to_string())?;
        let validity = x509.validity();
        let (not_before, not_after) = (validity.not_before.to_datetime(), validity.not_after.to_datetime());
        if not_after - not_before > VALIDITY {
            return Err(format!("valid for {}, more than {VALIDITY}", not_after - not_before));
        }
        let spki = x509.public_key();
        let p256 = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
        if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY || p256 != Some(OID_EC_P256) {
            return Err("not an ECDSA P-256 certificate".into());
        }
        let provider = rustls::crypto::ring::default_provider();
        rustls::sign::CertifiedKey::from_der(
            vec![cert.clone().into()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.clone().into()),
            &provider,
        )
        .map_err(|e| format!("key does not fit the certificate: {e}"))?;
        let hash = Multihash::wrap(SHA2_256, &Sha256::digest(&cert)).expect("a 32-byte digest fits");
        let certificate = Certificate::from_der(cert).map_err(|e| e.to_string())?;
        let identity = Identity::new(CertificateChain::single(certificate), PrivateKey::from_der_pkcs8(key));
        Ok(Cert { identity, hash, not_before, not_after })
    }

    fn to_der(&self) -> StoredCert {
        StoredCert {
            cert: self.identity.certificate_chain().as_slice()[0].der().to_vec(),
            key: self.identity.private_key().secret_der().to_vec(),
        }
    }

    /// Served until one skew before it expires.
    fn retire_at(&self) -> OffsetDateTime {
        self.not_after - SKEW
    }
}

struct Ring {
    previous: Option<Cert>,
    current: Cert,
    next: Cert,
    generation: u64,
    wakers: Vec<Waker>,
}

impl Ring {
    fn fresh(now: OffsetDateTime) -> Result<Self, CertError> {
        let current = Cert::generate(now - SKEW)?;
        let next = current.successor()?;
        Ok(Ring { previous: None, current, next, generation: 0, wakers: Vec::new() })
    }
}

/// The ring of WebTransport certificates: previous (for a while after a
/// rotation), current (served) and next (advertised, served after the
/// rotation). Clones share one ring, so the node can keep a handle to
/// persist it after the transport rotates it.
#[derive(Clone)]
pub struct Certificates {
    ring: Arc<Mutex<Ring>>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ring = self.lock();
        f.debug_struct("Certificates")
            .field("current", &ring.current.hash)
            .field("next", &ring.next.hash)
            .field("generation", &ring.generation)
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// A new ring on the system clock.
    pub fn generate() -> Result<Self, CertError> {
        Self::generate_with_clock(Arc::new(SystemClock))
    }

    pub fn generate_with_clock(clock: Arc<dyn Clock>) -> Result<Self, CertError> {
        let ring = Ring::fresh(clock.now())?;
        Ok(Self::with_ring(ring, clock))
    }

    /// Restores a ring saved by [`Certificates::to_der`], on the system
    /// clock. A ring that expired while the node was down is replaced at
    /// the next [`Certificates::rotate_if_due`] (a listener calls it first).
    pub fn from_der(stored: &[StoredCert]) -> Result<Self, CertError> {
        Self::from_der_with_clock(stored, Arc::new(SystemClock))
    }

    pub fn from_der_with_clock(stored: &[StoredCert], clock: Arc<dyn Clock>) -> Result<Self, CertError> {
        let mut certs = stored
            .iter()
            .enumerate()
            .map(|(index, s)| {
                Cert::from_der(s.cert.clone(), s.key.clone()).map_err(|reason| CertError::Invalid { index, reason })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (next, current) = match (certs.pop(), certs.pop()) {
            (Some(next), Some(current)) if certs.len() <= 1 => (next, current),
            _ => return Err(CertError::RingSize(stored.len())),
        };
        let ring = Ring { previous: certs.pop(), current, next, generation: 0, wakers: Vec::new() };
        Ok(Self::with_ring(ring, clock))
    }

    fn with_ring(ring: Ring, clock: Arc<dyn Clock>) -> Self {
        Certificates { ring: Arc::new(Mutex::new(ring)), clock }
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // The ring is replaced whole under the lock, so a panic elsewhere
        // cannot leave it half-rotated.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ring, oldest first: `[previous,] current, next`.
    pub fn to_der(&self) -> Vec<StoredCert> {
        let ring = self.lock();
        ring.previous.iter().chain([&ring.current, &ring.next]).map(Cert::to_der).collect()
    }

    /// The hashes an address carries: current, then next.
    pub fn advertised(&self) -> [Multihash<64>; 2] {
        let ring = self.lock();
        [ring.current.hash, ring.next.hash]
    }

    /// The hashes the Noise handshake lists: every certificate a client may
    /// have been told about, the previous one included.
    pub fn noise_hashes(&self) -> HashSet<Multihash<64>> {
        let ring = self.lock();
        ring.previous.iter().chain([&ring.current, &ring.next]).map(|c| c.hash).collect()
    }

    /// When the current certificate is due to be retired.
    pub fn next_rotation(&self) -> OffsetDateTime {
        self.lock().current.retire_at()
    }

    /// Counts rotations of this handle's ring (0 when generated or restored):
    /// a change means it should be persisted again.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Rotates if the clock says the current certificate is due: the next
    /// one is served, a new next one is made, the current one is kept as
    /// previous. A ring whose next certificate is itself out of date (the
    /// node was down for weeks) is replaced by a fresh one.
    pub fn rotate_if_due(&self) -> Result<bool, CertError> {
        let now = self.clock.now();
        let mut ring = self.lock();
        if now < ring.current.retire_at() && now >= ring.current.not_before {
            return Ok(false);
        }
        let usable = ring.next.not_before <= now && now < ring.next.retire_at();
        let generation = ring.generation + 1;
        if usable {
            let next = ring.next.successor()?;
            let current = std::mem::replace(&mut ring.next, next);
            ring.previous = Some(std::mem::replace(&mut ring.current, current));
            ring.generation = generation;
        } else {
            let fresh = Ring::fresh(now)?;
            let wakers = std::mem::take(&mut ring.wakers);
            *ring = Ring { generation, wakers, ..fresh };
        }
        tracing::info!(
            current = %Protocol::Certhash(ring.current.hash),
            next = %Protocol::Certhash(ring.next.hash),
            generation,
            fresh = !usable,
            "rotated the WebTransport certificates"
        );
        let wakers = std::mem::take(&mut ring.wakers);
        drop(ring);
        wakers.into_iter().for_each(Waker::wake);
        Ok(true)
    }

    /// The certificate to serve now.
    pub(super) fn serving(&self) -> Identity {
        self.lock().current.identity.clone_identity()
    }

    /// Ready with the generation once it differs from `seen`.
    pub(super) fn poll_rotated(&self, seen: u64, cx: &mut Context<'_>) -> Poll<u64> {
        let mut ring = self.lock();
        if ring.generation != seen {
            return Poll::Ready(ring.generation);
        }
        if !ring.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            ring.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The sha-256 digest of a `/certhash`, if it is one: browsers (and
/// wtransport) pin certificates by sha-256 only.
pub(super) fn sha256_digest(hash: &Multihash<64>) -> Option<Sha256Digest> {
    let bytes: [u8; 32] = hash.digest().try_into().ok()?;
    (hash.code() == SHA2_256).then(|| Sha256Digest::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock the test sets by hand.
    struct Manual(Mutex<OffsetDateTime>);

    impl Manual {
        fn at(t: OffsetDateTime) -> Arc<Self> {
            Arc::new(Manual(Mutex::new(t)))
        }
        fn set(&self, t: OffsetDateTime) {
            *self.0.lock().unwrap() = t;
        }
    }

    impl Clock for Manual {
        fn now(&self) -> OffsetDateTime {
            *self.0.lock().unwrap()
        }
    }

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn validity(stored: &StoredCert) -> (OffsetDateTime, OffsetDateTime) {
        let (_, x509) = X509Certificate::from_der(&stored.cert).unwrap();
        (x509.validity().not_before.to_datetime(), x509.validity().not_after.to_datetime())
    }

    #[test]
    fn a_new_ring_serves_a_valid_certificate_and_announces_the_next() {
        let certs = Certificates::generate_with_clock(Manual::at(t0())).unwrap();
        let stored = certs.to_der();
        assert_eq!(stored.len(), 2);
        let (current, next) = (validity(&stored[0]), validity(&stored[1]));
        assert!(current.0 < t0() && t0() < current.1);
        assert_eq!(current.1 - current.0, VALIDITY);
        assert_eq!(next.1 - next.0, VALIDITY);
        // The next one is valid before the current one is retired.
        assert!(next.0 < certs.next_rotation());
        assert_eq!(certs.noise_hashes().len(), 2);
        let [a, b] = certs.advertised();
        assert_ne!(a, b);
        assert!(sha256_digest(&a).is_some());
    }

    #[test]
    fn rotation_serves_the_announced_next_and_keeps_the_previous_in_noise() {
        let clock = Manual::at(t0());
        let certs = Certificates::generate_with_clock(clock.clone()).unwrap();
        let [current, next] = certs.advertised();
        assert!(!certs.rotate_if_due().unwrap());
        clock.set(certs.next_rotation());
        assert!(certs.rotate_if_due().unwrap());
        assert_eq!(certs.generation(), 1);
        let [now_current, new_next] = certs.advertised();
        assert_eq!(now_current, next);
        assert!(![current, next].contains(&new_next));
        assert_eq!(certs.noise_hashes(), HashSet::from([current, next, new_next]));
        // The served certificate is valid at the moment it is served.
        let stored = certs.to_der();
        let served = validity(&stored[1]);
        assert!(served.0 <= clock.now() && clock.now() < served.1);
        // A second rotation drops the oldest.
        clock.set(certs.next_rotation());
        assert!(certs.rotate_if_due().unwrap());
        assert!(!certs.noise_hashes().contains(&current));
    }

    #[test]
    fn a_ring_left_to_expire_starts_afresh() {
        let clock = Manual::at(t0());
        let certs = Certificates::generate_with_clock(clock.clone()).unwrap();
        let old = certs.noise_hashes();
        clock.set(t0() + Duration::days(60));
        assert!(certs.rotate_if_due().unwrap());
        assert!(certs.noise_hashes().is_disjoint(&old));
        assert_eq!(certs.to_der().len(), 2);
        let (from, to) = validity(&certs.to_der()[0]);
        assert!(from < clock.now() && clock.now() < to);
    }

    #[test]
    fn der_round_trip_keeps_the_ring() {
        let clock = Manual::at(t0());
        let certs = Certificates::generate_with_clock(clock.clone()).unwrap();
        clock.set(certs.next_rotation());
        certs.rotate_if_due().unwrap();
        let stored = certs.to_der();
        assert_eq!(stored.len(), 3);
        let restored = Certificates::from_der_with_clock(&stored, clock).unwrap();
        assert_eq!(restored.advertised(), certs.advertised());
        assert_eq!(restored.noise_hashes(), certs.noise_hashes());
        assert_eq!(restored.to_der(), stored);
        assert!(!restored.rotate_if_due().unwrap());
    }

    #[test]
    fn bad_stored_rings_are_refused() {
        let clock = Manual::at(t0());
        let a = Certificates::generate_with_clock(clock.clone()).unwrap().to_der();
        let b = Certificates::generate_with_clock(clock.clone()).unwrap().to_der();
        let refused = |stored: &[StoredCert]| Certificates::from_der_with_clock(stored, clock.clone()).is_err();
        assert!(refused(&a[..1]));
        assert!(refused(&[a[0].clone(), a[1].clone(), b[0].clone(), b[1].clone()]));
        assert!(refused(&[StoredCert { cert: vec![1, 2, 3], key: a[0].key.clone() }, a[1].clone()]));
        // Someone else's key.
        assert!(refused(&[StoredCert { cert: a[0].cert.clone(), key: b[0].key.clone() }, a[1].clone()]));
        // Longer than browsers allow.
        let long = Identity::self_signed_builder()
            .subject_alt_names(["localhost"])
            .not_before(t0())
            .not_after(t0() + Duration::days(15))
            .build()
            .unwrap();
        let long = StoredCert {
            cert: long.certificate_chain().as_slice()[0].der().to_vec(),
            key: long.private_key().secret_der().to_vec(),
        };
        assert!(refused(&[long, a[1].clone()]));
    }
}
