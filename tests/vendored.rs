//! The vendored crates patched for the page's wasm (WEFTDB-PATCH.md in
//! each) hold to what they did as published, and vendor/libp2p-webrtc's
//! patch 6 to its purpose (`webrtc_direct`, at the end).
//!
//! - vendor/multibase and vendor/multiaddr write and read the RFC 4648 bases
//!   with a codec of their own instead of data-encoding: data-encoding with
//!   the same specifications is the oracle, on every base, for what is
//!   written and for what is accepted or refused.
//! - vendor/curve25519-dalek computes its basepoint tables on first use:
//!   RFC 8032's signatures come out byte for byte (the page's wasm tests also
//!   have the browser's own Ed25519 check our signatures, `tests/web.rs`).

// Native only: the oracles are native dev-dependencies. In the page, the
// computed tables meet the browser's own Ed25519 in `tests/web.rs`.
#![cfg(not(target_arch = "wasm32"))]

use data_encoding::{Encoding, Specification};
use multibase::Base;

// multibase's own tests, as published (its test vectors, leading zeroes,
// case insensitivity): they run against the patched crate.
#[path = "../vendor/multibase/tests/lib.rs"]
#[rustfmt::skip]
mod upstream;

/// data-encoding's specification of each base, as multibase 0.9.3's
/// `src/encoding.rs` wrote it.
fn oracle(base: Base) -> Encoding {
    let spec = |symbols: &str, translate: Option<(&str, &str)>, padding: bool| {
        let mut spec = Specification::new();
        spec.symbols.push_str(symbols);
        if let Some((from, to)) = translate {
            spec.translate.from.push_str(from);
            spec.translate.to.push_str(to);
        }
        if padding {
            spec.padding = Some('=');
        }
        spec.encoding().unwrap()
    };
    const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
    const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const B32L: &str = "abcdefghijklmnopqrstuvwxyz234567";
    const B32U: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const HEXL: &str = "0123456789abcdefghijklmnopqrstuv";
    const HEXU: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
    match base {
        Base::Base2 => spec("01", None, false),
        Base::Base8 => spec("01234567", None, false),
        Base::Base16Lower => data_encoding::HEXLOWER_PERMISSIVE,
        Base::Base16Upper => data_encoding::HEXUPPER_PERMISSIVE,
        Base::Base32Lower => spec(B32L, Some((UPPER, LOWER)), false),
        Base::Base32Upper => spec(B32U, Some((LOWER, UPPER)), false),
        Base::Base32PadLower => spec(B32L, Some((UPPER, LOWER)), true),
        Base::Base32PadUpper => spec(B32U, Some((LOWER, UPPER)), true),
        Base::Base32HexLower => spec(HEXL, Some((&UPPER[..22], &LOWER[..22])), false),
        Base::Base32HexUpper => spec(HEXU, Some((&LOWER[..22], &UPPER[..22])), false),
        Base::Base32HexPadLower => spec(HEXL, Some((&UPPER[..22], &LOWER[..22])), true),
        Base::Base32HexPadUpper => spec(HEXU, Some((&LOWER[..22], &UPPER[..22])), true),
        Base::Base32Z => spec("ybndrfg8ejkmcpqxot1uwisza345h769", None, false),
        Base::Base64 => data_encoding::BASE64_NOPAD,
        Base::Base64Pad => data_encoding::BASE64,
        Base::Base64Url => data_encoding::BASE64URL_NOPAD,
        Base::Base64UrlPad => data_encoding::BASE64URL,
        other => panic!("{other:?} is not an RFC 4648 base"),
    }
}

const RFC4648: [Base; 17] = [
    Base::Base2,
    Base::Base8,
    Base::Base16Lower,
    Base::Base16Upper,
    Base::Base32Lower,
    Base::Base32Upper,
    Base::Base32PadLower,
    Base::Base32PadUpper,
    Base::Base32HexLower,
    Base::Base32HexUpper,
    Base::Base32HexPadLower,
    Base::Base32HexPadUpper,
    Base::Base32Z,
    Base::Base64,
    Base::Base64Pad,
    Base::Base64Url,
    Base::Base64UrlPad,
];

#[path = "support/cases.rs"]
mod cases;
use cases::Cases;

#[test]
fn every_rfc4648_base_writes_what_data_encoding_wrote() {
    let mut cases = Cases(0x9e37_79b9_7f4a_7c15);
    for base in RFC4648 {
        let oracle = oracle(base);
        for len in 0..=41 {
            for _ in 0..20 {
                let bytes: Vec<u8> = (0..len).map(|_| cases.next() as u8).collect();
                let written = base.encode(&bytes);
                assert_eq!(written, oracle.encode(&bytes), "{base:?} {bytes:?}");
                assert_eq!(base.decode(&written).unwrap(), bytes, "{base:?} {written}");
                assert_eq!(multibase::decode(multibase::encode(base, &bytes)).unwrap(), (base, bytes));
            }
        }
    }
}

#[test]
fn every_rfc4648_base_accepts_and_refuses_what_data_encoding_did() {
    let mut cases = Cases(0x0123_4567_89ab_cdef);
    let mut refused = 0;
    let mut accepted = 0;
    for base in RFC4648 {
        let oracle = oracle(base);
        // The alphabet in both cases, padding, and what no alphabet holds.
        let symbols = oracle.specification().symbols;
        let mut pool: Vec<char> = symbols.chars().collect();
        pool.extend(symbols.to_lowercase().chars());
        pool.extend(symbols.to_uppercase().chars());
        pool.extend(['=', '=', '=', '!', ' ', 'é', '\u{1F680}']);
        for len in 0..=26 {
            for _ in 0..120 {
                let mut text: String = (0..len).map(|_| pool[cases.below(pool.len())]).collect();
                // Valid strings with one symbol changed reach the trailing
                // bits and the padding, which random strings rarely do.
                if cases.below(2) == 0 {
                    let bytes: Vec<u8> = (0..len).map(|_| cases.next() as u8).collect();
                    let mut chars: Vec<char> = oracle.encode(&bytes).chars().collect();
                    if !chars.is_empty() {
                        let at = cases.below(chars.len());
                        chars[at] = pool[cases.below(pool.len())];
                    }
                    text = chars.into_iter().collect();
                }
                let expected = oracle.decode(text.as_bytes()).ok();
                assert_eq!(base.decode(&text).ok(), expected, "{base:?} {text:?}");
                match expected {
                    Some(_) => accepted += 1,
                    None => refused += 1,
                }
            }
        }
    }
    // Both answers were exercised, often.
    assert!(accepted > 5_000 && refused > 5_000, "{accepted} accepted, {refused} refused");
}

#[test]
fn padded_strings_concatenated_are_read_as_data_encoding_read_them() {
    assert_eq!(Base::Base64Pad.decode("SGVsbA==byB3b3JsZA==").unwrap(), b"Hello world");
    assert!(Base::Base64Pad.decode("SGVsbA=").is_err());
    assert!(Base::Base64Pad.decode("====").is_err());
    assert!(Base::Base32PadLower.decode("me======").is_ok());
    assert!(Base::Base32PadLower.decode("mf======").is_err(), "non-zero trailing bits");
}

#[test]
fn base256emoji_writes_and_reads_what_its_crate_did() {
    use base256emoji::Base as _;
    let mut cases = Cases(0x5851_f42d_4c95_7f2d);
    let mut pool: Vec<char> = base256emoji::Emoji::ALPHABET.to_vec();
    pool.extend(['a', '=', '\u{1F9F8}', '\u{FE0F}']);
    for len in 0..=24 {
        for _ in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|_| cases.next() as u8).collect();
            let written = Base::Base256Emoji.encode(&bytes);
            assert_eq!(written, base256emoji::Emoji::encode(&bytes));
            assert_eq!(Base::Base256Emoji.decode(&written).unwrap(), bytes);
            let text: String = (0..len).map(|_| pool[cases.below(pool.len())]).collect();
            assert_eq!(Base::Base256Emoji.decode(&text).ok(), base256emoji::Emoji::decode(&text).ok(), "{text}");
        }
    }
}

#[cfg(feature = "net")]
mod onion {
    use libp2p::multiaddr::{Multiaddr, Protocol};

    /// multiaddr 0.19.1's `/onion/` and `/onion3/` through the patched
    /// base32: the bytes data-encoding's `BASE32` read, the text it wrote.
    #[test]
    fn onion_addresses_read_and_write_as_before() {
        for (text, hash) in [
            ("/onion/aaimaq4ygg2iegci:80", "AAIMAQ4YGG2IEGCI"),
            (
                "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234",
                "VWW6YBAL4BD7SZMGNCYRUUCPGFKQAHZDDI37KTCEO3AH7NGMCOPNPYYD",
            ),
        ] {
            let expected = data_encoding::BASE32.decode(hash.as_bytes()).unwrap();
            let addr: Multiaddr = text.parse().unwrap();
            let read = match addr.iter().next().unwrap() {
                Protocol::Onion(bytes, 80) => bytes.to_vec(),
                Protocol::Onion3(onion) if onion.port() == 1234 => onion.hash().to_vec(),
                other => panic!("{other:?}"),
            };
            assert_eq!(read, expected);
            assert_eq!(addr.to_string(), text);
            // Either case is read, as before (the address is upper-cased).
            let upper = text.to_uppercase().replace("/ONION", "/onion");
            assert_eq!(upper.parse::<Multiaddr>().unwrap(), addr);
            // Bytes and back.
            assert_eq!(Multiaddr::try_from(addr.to_vec()).unwrap(), addr);
        }
        // A padded address is read as data-encoding's `decode_mut` read it
        // into the address: the bytes it holds, then zeros.
        let addr: Multiaddr = "/onion/aaimaq4yga======:80".parse().unwrap();
        let mut expected = data_encoding::BASE32.decode(b"AAIMAQ4YGA======").unwrap();
        expected.resize(10, 0);
        match addr.iter().next().unwrap() {
            Protocol::Onion(bytes, 80) => assert_eq!(bytes.to_vec(), expected),
            other => panic!("{other:?}"),
        }
        for bad in [
            // Through the base32 decoder: a symbol out of the alphabet,
            // non-zero trailing bits, padding that leaves no symbol.
            "/onion/aaimaq4ygg2iegc1:80",
            "/onion/aaimaq4ygg======:80",
            "/onion/aaimaq4y========:80",
            "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyy1:1234",
            // Before it: the port, the length.
            "/onion/aaimaq4ygg2iegci:0",
            "/onion/aaimaq4ygg2iegc:80",
            "/onion/aaimaq4ygg2iegci=:80",
        ] {
            assert!(bad.parse::<Multiaddr>().is_err(), "{bad}");
        }
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// RFC 8032, section 7.1, tests 1 to 3: the key, the public key and the
/// signature of each message, through the basepoint tables computed on first
/// use (signing) and the odd multiples (verifying).
#[test]
fn ed25519_signs_rfc8032s_vectors_byte_for_byte() {
    use ed25519_dalek::{Signer, SigningKey, Verifier};
    for (secret, public, message, signature) in [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ] {
        let key = SigningKey::from_bytes(&hex(secret).try_into().unwrap());
        assert_eq!(key.verifying_key().to_bytes().to_vec(), hex(public));
        let message = hex(message);
        let signed = key.sign(&message);
        assert_eq!(signed.to_bytes().to_vec(), hex(signature));
        assert!(key.verifying_key().verify(&message, &signed).is_ok());
        let mut tampered = message.clone();
        tampered.push(0);
        assert!(key.verifying_key().verify(&tampered, &signed).is_err());
    }
}

#[path = "support/curve25519.rs"]
mod curve25519_tables;

#[test]
fn curve25519s_computed_tables_equal_its_constants() {
    // Which vector backend this CPU offers the check below (the one the
    // crate takes, built with rustc 1.89 or later and no backend named by
    // `--cfg`; `cargo test --test vendored -- --nocapture` shows it).
    #[cfg(target_arch = "x86_64")]
    eprintln!(
        "curve25519 vector backend this CPU offers: {}",
        if is_x86_feature_detected!("avx512ifma")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx2")
        {
            "AVX-512 IFMA"
        } else if is_x86_feature_detected!("avx2") {
            "AVX2"
        } else {
            "none (serial)"
        }
    );
    curve25519_tables::computed_tables_equal_constants();
}

/// vendor/libp2p-webrtc: a side of a WebRTC-direct connection that ends
/// its Noise handshake late still takes the other side's streams. The slow
/// side's upgrade is polled only every 200 ms here, as a node's can be when
/// its CPU is shared, while the other side opens a stream as soon as it has
/// the connection.
/// - A slow dialer: the listener ends the handshake first (it sends the
///   last message) and sends its first keepalive (patch 5) on the watch
///   channel's id at once. A dialer that made that channel only after its
///   handshake took the keepalive as a channel the listener opened, and
///   webrtc-rs, whose first message on it was not a `DATA_CHANNEL_OPEN`,
///   accepted no channel of the listener's again (`tests/p2p.rs`
///   `browser_transports_websocket_webrtc_direct_webtransport` failed so in
///   one loaded run in ten: the push never came).
///   Its handler of incoming channels came after the handshake as well, so
///   the listener's first streams were dropped (either fix alone still
///   failed this test).
/// - A slow listener: it sets up its connection in the same poll as its
///   last message, so this passed before too; it holds the listener to
///   taking the dialer's streams now that its handlers come before the
///   handshake.
#[cfg(feature = "net")]
mod webrtc_direct {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{ready, Context, Poll};
    use std::time::Duration;

    use futures::channel::oneshot;
    use futures::{future, AsyncReadExt, AsyncWriteExt, StreamExt};
    use libp2p::core::muxing::{StreamMuxerBox, StreamMuxerExt, SubstreamBox};
    use libp2p::core::transport::{Boxed, DialOpts, ListenerId, PortUse, TransportEvent};
    use libp2p::core::{Endpoint, Multiaddr, Transport};
    use libp2p::{identity, PeerId};
    use libp2p_webrtc::tokio as webrtc;

    /// How long the slow side's upgrade waits before it is polled again.
    const GAP: Duration = Duration::from_millis(200);

    type Upgrade = Pin<Box<dyn Future<Output = std::io::Result<(PeerId, StreamMuxerBox)>> + Send>>;

    /// `inner`, polled no sooner than [`GAP`] after it last returned `Pending`.
    struct Sluggish {
        inner: Upgrade,
        gap: Option<Pin<Box<tokio::time::Sleep>>>,
    }

    impl Future for Sluggish {
        type Output = <Upgrade as Future>::Output;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            if let Some(gap) = self.gap.as_mut() {
                ready!(gap.as_mut().poll(cx));
                self.gap = None;
            }
            let out = self.inner.as_mut().poll(cx);
            if out.is_pending() {
                self.gap = Some(Box::pin(tokio::time::sleep(GAP)));
            }
            out
        }
    }

    fn transport(seed: u8) -> Boxed<(PeerId, StreamMuxerBox)> {
        let key = identity::Keypair::ed25519_from_bytes([seed; 32]).unwrap();
        webrtc::Transport::new(key, webrtc::Certificate::generate(&mut rand::rng()).unwrap())
            .map(|(peer, conn), _| (peer, StreamMuxerBox::new(conn)))
            .boxed()
    }

    async fn listen(t: &mut Boxed<(PeerId, StreamMuxerBox)>) -> Multiaddr {
        t.listen_on(ListenerId::next(), "/ip4/127.0.0.1/udp/0/webrtc-direct".parse().unwrap()).unwrap();
        match t.next().await {
            Some(TransportEvent::NewAddress { listen_addr, .. }) => listen_addr,
            other => panic!("{other:?}"),
        }
    }

    /// Drives `conn` (its keepalive among it) until it yields a stream.
    async fn stream(conn: &mut StreamMuxerBox, outbound: bool) -> SubstreamBox {
        future::poll_fn(|cx| {
            let _ = conn.poll_unpin(cx);
            if outbound {
                conn.poll_outbound_unpin(cx)
            } else {
                conn.poll_inbound_unpin(cx)
            }
        })
        .await
        .unwrap()
    }

    /// What the slow side reads on the stream the other side opened first.
    async fn the_slow_side_reads(slow_listener: bool) -> Vec<u8> {
        // As the node does: QUIC's rustls and WebSocket's leave it no default.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        // RUST_LOG=libp2p_webrtc=debug shows both sides' channels.
        let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
        let mut listener = transport(1);
        let addr = listen(&mut listener).await;
        // Each transport reads its socket on its own; only the slow side's
        // upgrade (its handshake, then setting up the connection) waits.
        let (incoming, upgrade) = oneshot::channel();
        let listening = tokio::spawn(async move {
            let mut incoming = Some(incoming);
            while let Some(event) = listener.next().await {
                if let TransportEvent::Incoming { upgrade, .. } = event {
                    if let Some(tx) = incoming.take() {
                        let _ = tx.send(upgrade);
                    }
                }
            }
        });
        let mut dialer = transport(2);
        listen(&mut dialer).await;
        let dial: Upgrade = dialer.dial(addr, DialOpts { role: Endpoint::Dialer, port_use: PortUse::Reuse }).unwrap();
        let dialling = tokio::spawn(async move { while dialer.next().await.is_some() {} });
        let accept: Upgrade = Box::pin(async move { upgrade.await.unwrap().await });
        let (fast, slow) = if slow_listener { (dial, accept) } else { (accept, dial) };
        let writing = tokio::spawn(async move {
            let (_, mut conn) = fast.await.unwrap();
            let mut s = stream(&mut conn, true).await;
            s.write_all(b"from the side done first").await.unwrap();
            s.close().await.unwrap();
            future::poll_fn(|cx| conn.poll_unpin(cx).map(drop)).await
        });
        let slow = tokio::time::timeout(Duration::from_secs(20), Sluggish { inner: slow, gap: None }).await;
        if writing.is_finished() {
            // It drives its connection for good unless it failed: say how.
            writing.await.expect("the side done first failed");
            panic!("the side done first lost its connection before the slow side had one");
        }
        let (_, mut conn) = slow.expect("the slow side's upgrade never ended").unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            let mut s = stream(&mut conn, false).await;
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            got
        })
        .await
        .expect("the other side's stream never reached the slow side");
        for task in [listening, dialling, writing] {
            task.abort();
        }
        got
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dialer_slow_to_finish_its_handshake_still_takes_the_listeners_streams() {
        assert_eq!(the_slow_side_reads(false).await, b"from the side done first");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_listener_slow_to_finish_its_handshake_still_takes_the_dialers_streams() {
        assert_eq!(the_slow_side_reads(true).await, b"from the side done first");
    }
}
