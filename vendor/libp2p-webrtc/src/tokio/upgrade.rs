// Copyright 2022 Parity Technologies (UK) Ltd.
//
// Permission is hereby granted, free of charge, to any person obtaining a
// copy of this software and associated documentation files (the "Software"),
// to deal in the Software without restriction, including without limitation
// the rights to use, copy, modify, merge, publish, distribute, sublicense,
// and/or sell copies of the Software, and to permit persons to whom the
// Software is furnished to do so, subject to the following conditions:
//
// The above copyright notice and this permission notice shall be included in
// all copies or substantial portions of the Software.
//
// THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
// OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
// FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
// AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
// LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
// FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
// DEALINGS IN THE SOFTWARE.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::{channel::oneshot, future::Either};
use futures_timer::Delay;
use libp2p_identity as identity;
use libp2p_identity::PeerId;
use libp2p_webrtc_utils::{Fingerprint, noise};
use webrtc::{
    api::{APIBuilder, setting_engine::SettingEngine},
    data::data_channel::DataChannel,
    data_channel::data_channel_init::RTCDataChannelInit,
    dtls_transport::dtls_role::DTLSRole,
    ice::{network_type::NetworkType, udp_mux::UDPMux, udp_network::UDPNetwork},
    peer_connection::{RTCPeerConnection, configuration::RTCConfiguration},
};

use crate::tokio::{Connection, error::Error, sdp, sdp::random_ufrag, stream::Stream};

/// Silence from the remote before ICE reports "disconnected" (WEFTDB-PATCH).
const ICE_DISCONNECTED_TIMEOUT: Duration = Duration::from_millis(2500);
/// Further silence before ICE reports "failed", which closes the connection (WEFTDB-PATCH).
const ICE_FAILED_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a listener sends an SCTP keepalive on an inbound connection, so that a live
/// remote answers well within the ICE timeouts above (WEFTDB-PATCH, see
/// [`Connection::watch_association`]): 3.5 s of silence is three answers missed.
const SCTP_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// How often the ICE agent checks (and, when it is not ICE-lite, sends keepalives).
const ICE_KEEPALIVE_INTERVAL: Duration = Duration::from_millis(500);

/// The data channel id that [`Connection`] keeps to watch the SCTP association (weftdb
/// patch): the last id of the server's DTLS role's parity (RFC 8832: the client's ids are
/// even), so that the client never opens it and the server's own channels come to it last.
/// Both sides use it: the listener's SCTP keepalive goes on it, and a patched dialer has the
/// channel to take it in (webrtc-rs ends its loop accepting channels on a first message that
/// is not a `DATA_CHANNEL_OPEN`, so a keepalive on an id the dialer lacks would stop it
/// taking the listener's streams). Browsers drop it.
const WATCH_ID: u16 = u16::MAX - 2;

/// Creates a new outbound WebRTC connection.
#[allow(clippy::result_large_err)]
pub(crate) async fn outbound(
    addr: SocketAddr,
    local_ip: IpAddr,
    config: RTCConfiguration,
    udp_mux: Arc<dyn UDPMux + Send + Sync>,
    client_fingerprint: Fingerprint,
    server_fingerprint: Fingerprint,
    id_keys: identity::Keypair,
) -> Result<(PeerId, Connection), Error> {
    tracing::debug!(address=%addr, "new outbound connection to address");

    let (peer_connection, ufrag) =
        new_outbound_connection(addr, local_ip, config, udp_mux).await?;
    // WEFTDB-PATCH: the handlers of the listener's channels before the handshake
    // (`Connection::prepare`).
    let setup = Connection::prepare(&peer_connection).await;
    let noise_channel_open_rx = create_noise_data_channel(&peer_connection).await?;

    let offer = peer_connection.create_offer(None).await?;
    tracing::debug!(offer=%offer.sdp, "created SDP offer for outbound connection");
    peer_connection.set_local_description(offer).await?;

    let answer = sdp::answer(addr, server_fingerprint, &ufrag);
    tracing::debug!(?answer, "calculated SDP answer for outbound connection");
    peer_connection.set_remote_description(answer).await?; // This will start the gathering of ICE candidates.

    let data_channel = await_noise_data_channel_open(noise_channel_open_rx).await?;
    // WEFTDB-PATCH: the watch channel once SCTP is up (its stream is open when this returns)
    // and before our first handshake message: the listener ends its handshake only on our
    // answer, then sends its first keepalive on that id at once
    // (`Connection::watch_association`). Made before SCTP started, it would be opened
    // beside the Noise channel and could let the listener's first message come before that.
    let association_closed =
        Connection::watch_association(&peer_connection, WATCH_ID, None).await;
    let peer_id = noise::outbound(
        id_keys,
        data_channel,
        server_fingerprint,
        client_fingerprint,
    )
    .await?;

    Ok((peer_id, Connection::new(peer_connection, setup, association_closed)))
}

/// Creates a new inbound WebRTC connection.
#[allow(clippy::result_large_err)]
pub(crate) async fn inbound(
    addr: SocketAddr,
    local_ip: IpAddr,
    config: RTCConfiguration,
    udp_mux: Arc<dyn UDPMux + Send + Sync>,
    server_fingerprint: Fingerprint,
    remote_ufrag: String,
    id_keys: identity::Keypair,
) -> Result<(PeerId, Connection), Error> {
    tracing::debug!(address=%addr, ufrag=%remote_ufrag, "new inbound connection from address");

    let peer_connection =
        new_inbound_connection(addr, local_ip, config, udp_mux, &remote_ufrag).await?;
    // WEFTDB-PATCH: the handlers before the handshake (`Connection::prepare`); the watch
    // channel after it, as its keepalive starts at once and the dialer must have its own
    // first (a patched dialer has: it made it before its first handshake message, which
    // this side needs to end its handshake).
    let setup = Connection::prepare(&peer_connection).await;
    let noise_channel_open_rx = create_noise_data_channel(&peer_connection).await?;

    let offer = sdp::offer(addr, &remote_ufrag);
    tracing::debug!(?offer, "calculated SDP offer for inbound connection");
    peer_connection.set_remote_description(offer).await?;

    let answer = peer_connection.create_answer(None).await?;
    tracing::debug!(?answer, "created SDP answer for inbound connection");
    peer_connection.set_local_description(answer).await?; // This will start the gathering of ICE candidates.

    let data_channel = await_noise_data_channel_open(noise_channel_open_rx).await?;
    let client_fingerprint = get_remote_fingerprint(&peer_connection).await;
    let peer_id = noise::inbound(
        id_keys,
        data_channel,
        client_fingerprint,
        server_fingerprint,
    )
    .await?;

    let association_closed =
        Connection::watch_association(&peer_connection, WATCH_ID, Some(SCTP_KEEPALIVE_INTERVAL))
            .await;
    Ok((
        peer_id,
        Connection::new(peer_connection, setup, association_closed),
    ))
}

#[allow(clippy::result_large_err)]
async fn new_outbound_connection(
    addr: SocketAddr,
    local_ip: IpAddr,
    config: RTCConfiguration,
    udp_mux: Arc<dyn UDPMux + Send + Sync>,
) -> Result<(RTCPeerConnection, String), Error> {
    let ufrag = random_ufrag();
    let se = setting_engine(udp_mux, &ufrag, addr, local_ip);

    let connection = APIBuilder::new()
        .with_setting_engine(se)
        .build()
        .new_peer_connection(config)
        .await?;

    Ok((connection, ufrag))
}

#[allow(clippy::result_large_err)]
async fn new_inbound_connection(
    addr: SocketAddr,
    local_ip: IpAddr,
    config: RTCConfiguration,
    udp_mux: Arc<dyn UDPMux + Send + Sync>,
    ufrag: &str,
) -> Result<RTCPeerConnection, Error> {
    let mut se = setting_engine(udp_mux, ufrag, addr, local_ip);
    {
        se.set_lite(true);
        se.disable_certificate_fingerprint_verification(true);
        // Act as a DTLS server (one which waits for a connection).
        //
        // NOTE: removing this seems to break DTLS setup (both sides send `ClientHello` messages,
        // but none end up responding).
        se.set_answering_dtls_role(DTLSRole::Server)?;
    }

    let connection = APIBuilder::new()
        .with_setting_engine(se)
        .build()
        .new_peer_connection(config)
        .await?;

    Ok(connection)
}

fn setting_engine(
    udp_mux: Arc<dyn UDPMux + Send + Sync>,
    ufrag: &str,
    addr: SocketAddr,
    local_ip: IpAddr,
) -> SettingEngine {
    let mut se = SettingEngine::default();

    // Set both ICE user and password to our fingerprint because that's what the client is
    // expecting..
    se.set_ice_credentials(ufrag.to_owned(), ufrag.to_owned());

    se.set_udp_network(UDPNetwork::Muxed(udp_mux.clone()));

    // Allow detaching data channels.
    se.detach_data_channels();

    // Set the desired network type.
    //
    // NOTE: if not set, a [`webrtc_ice::agent::Agent`] might pick a wrong local candidate
    // (e.g. IPv6 `[::1]` while dialing an IPv4 `10.11.12.13`).
    let network_type = match addr {
        SocketAddr::V4(_) => NetworkType::Udp4,
        SocketAddr::V6(_) => NetworkType::Udp6,
    };
    se.set_network_types(vec![network_type]);

    // WEFTDB-PATCH: loopback addresses are candidates too. webrtc-rs leaves them out by
    // default, so a host with only loopback had no candidate at all and refused every
    // connection (`ErrCandidateIpNotFound`).
    se.set_include_loopback_candidate(true);

    // Select only one address of the local candidates: the listener's own when it is bound
    // to one (WEFTDB-PATCH), else the first one.
    // See https://github.com/libp2p/rust-libp2p/pull/5448#discussion_r2017418520.
    // TODO: remove when https://github.com/webrtc-rs/webrtc/issues/662 gets addressed.
    se.set_ip_filter(Box::new({
        let once = AtomicBool::new(true);
        move |ip| {
            if !local_ip.is_unspecified() {
                return ip == local_ip;
            }
            if once.load(Ordering::Relaxed) {
                once.store(false, Ordering::Relaxed);
                return true;
            }
            false
        }
    }));

    // WEFTDB-PATCH: a remote that vanished without a word (a killed browser; a page that
    // closes its connection sends an SCTP ABORT, see `Connection`) is noticed only by its ICE
    // consent checks stopping. webrtc-rs's defaults (disconnected after 5 s of silence, failed
    // 25 s later) kept such a connection ~30 s. Idle browsers check only every ~2.6 s
    // (Chromium) or 4 to 6 s (RFC 7675, Firefox), but any packet counts: a listener's SCTP
    // keepalive draws an acknowledgement every second (`Connection::watch_association`), and
    // as a dialler the agent checks the remote itself. So this fails a connection after
    // 3.5 s of silence, checked every 0.5 s (the keepalive interval paces the agent's checks).
    se.set_ice_timeouts(
        Some(ICE_DISCONNECTED_TIMEOUT),
        Some(ICE_FAILED_TIMEOUT),
        Some(ICE_KEEPALIVE_INTERVAL),
    );

    se
}

/// Returns the SHA-256 fingerprint of the remote.
async fn get_remote_fingerprint(conn: &RTCPeerConnection) -> Fingerprint {
    let cert_bytes = conn.sctp().transport().get_remote_certificate().await;

    Fingerprint::from_certificate(&cert_bytes)
}

#[allow(clippy::result_large_err)]
async fn create_noise_data_channel(
    conn: &RTCPeerConnection,
) -> Result<oneshot::Receiver<Arc<DataChannel>>, Error> {
    // NOTE: the data channel w/ `negotiated` flag set to `true` MUST be created on both ends.
    let data_channel = conn
        .create_data_channel(
            "",
            Some(RTCDataChannelInit {
                negotiated: Some(0), // 0 is reserved for the Noise substream
                ..RTCDataChannelInit::default()
            }),
        )
        .await?;

    let (tx, rx) = oneshot::channel::<Arc<DataChannel>>();

    // Wait until the data channel is opened and detach it.
    crate::tokio::connection::register_data_channel_open_handler(data_channel, tx).await;

    Ok(rx)
}

#[allow(clippy::result_large_err)]
async fn await_noise_data_channel_open(
    rx: oneshot::Receiver<Arc<DataChannel>>,
) -> Result<Stream, Error> {
    let channel = match futures::future::select(rx, Delay::new(Duration::from_secs(10))).await {
        Either::Left((Ok(channel), _)) => channel,
        Either::Left((Err(_), _)) => {
            return Err(Error::Internal("failed to open data channel".to_owned()));
        }
        Either::Right(((), _)) => {
            return Err(Error::Internal(
                "data channel opening took longer than 10 seconds (see logs)".into(),
            ));
        }
    };

    let (substream, drop_listener) = Stream::new(channel, false); // WEFTDB-PATCH: the handshake
    drop(drop_listener); // Don't care about cancelled substreams during initial handshake.

    Ok(substream)
}
