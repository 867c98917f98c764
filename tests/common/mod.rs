//! Shared harness of the end-to-end tests: runs the real `hotline` binary on free ports and
//! drives it with real peers (sipp, baresip) or raw SIP over UDP/TCP.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use hotline_sip::message::{Message, Response, parse};

pub mod baresip;

/// The directory of sipp scenarios.
pub fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

/// A port free for UDP and TCP on 127.0.0.1, with the next three UDP ports free too (sipp's
/// media port uses four). Tests run in parallel threads, so ports come from a per-process
/// rotating range and are checked by binding. The range (10000-29999) stays below the
/// kernel's ephemeral ports (32768 and up), which clients bound to port 0 take at random, and
/// clear of the test engines' RTP range (30000-32767).
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = (std::process::id() % 20) as u16 * 1000;
    loop {
        let offset = NEXT.fetch_add(4, Ordering::Relaxed) % 20_000;
        let port = 10000 + (start + offset) % 20_000;
        let tcp = TcpListener::bind(("127.0.0.1", port));
        let udp: Vec<_> = (0..4)
            .map(|i| UdpSocket::bind(("127.0.0.1", port + i)))
            .collect();
        if tcp.is_ok() && udp.iter().all(Result::is_ok) {
            return port;
        }
    }
}

/// Whether a tool is installed; end-to-end tests need it (CI installs it).
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is needed by this test: apt-get install sip-tester baresip sox espeak-ng"
    );
}

/// A running engine; killed (SIGTERM, then SIGKILL) when dropped.
pub struct Engine {
    pub child: Option<Child>,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    pub dir: tempdir::TempDir,
    pub log: PathBuf,
}

/// Minimal temporary directory (removed on drop) so the tests need no extra crate.
pub mod tempdir {
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(prefix: &str) -> TempDir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "{prefix}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("create temp dir");
            TempDir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A test configuration: the embedded default's numbers plus `slow`, which rings before
/// answering (for CANCEL and retransmission tests).
pub const TEST_CONFIG: &str = "\
media:
  address: 127.0.0.1
  rtp_ports: 30000-32767
  rtp_timeout_secs: 10
numbers:
  echo:
    action: echo
  welcome:
    action: play
    prompt: welcome
  slow:
    action: echo
    ring_secs: 2
";

impl Engine {
    /// Start the engine with [`TEST_CONFIG`].
    pub fn start() -> Engine {
        Engine::start_with(TEST_CONFIG)
    }

    /// Start the engine with a configuration text.
    pub fn start_with(config: &str) -> Engine {
        let dir = tempdir::TempDir::new("hotline-e2e");
        let cfg = dir.path().join("hotline.yaml");
        std::fs::write(&cfg, config).expect("write config");
        let sip: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let log = dir.path().join("engine.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .args(["serve", "--config"])
            .arg(&cfg)
            .args(["--sip", &sip.to_string(), "--http", &http.to_string()])
            .arg("--data")
            .arg(dir.path().join("data"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn hotline");
        let engine = Engine {
            child: Some(child),
            sip,
            http,
            dir,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if engine.http_get("/healthz").is_some_and(|(s, _)| s == 200) {
                return engine;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("engine did not become healthy:\n{}", engine.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A plain HTTP/1.1 GET; returns status and body.
    pub fn http_get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect_timeout(&self.http, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.http
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let status = text.split(' ').nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
        Some((status, body))
    }

    /// One metric's value from `/metrics` (the first sample whose name and labels start with
    /// `series`).
    pub fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.http_get("/metrics").expect("metrics");
        body.lines()
            .find(|l| l.starts_with(series) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    /// Wait until `cond` holds on the metrics (or fail after 10 s).
    pub fn wait_metric(&self, series: &str, cond: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.metric(series);
            if cond(v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "metric {series} stuck at {v}\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the log contains `needle` (or fail after `secs`).
    pub fn wait_log(&self, needle: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.log_text();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "log never contained {needle:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Send SIGTERM and wait for the process to exit; returns its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("engine running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("engine did not exit after SIGTERM:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().map(|s| s.is_none()).unwrap_or(false),
            None => false,
        }
    }

    /// Run sipp against the engine. `args` come before the remote address. Returns the
    /// process output; sipp exits 0 only when every call succeeded.
    pub fn sipp(&self, args: &[&str]) -> Output {
        require("sipp");
        let port = free_port();
        let media = free_port();
        let trace_dir = tempdir::TempDir::new("hotline-sipp");
        let out = Command::new("sipp")
            .args(args)
            .args(["-p", &port.to_string(), "-mp", &media.to_string()])
            .args(["-i", "127.0.0.1", "-nostdin", "-timeout", "60s"])
            .args(["-trace_err", "-trace_screen"])
            .arg(self.sip.to_string())
            .current_dir(trace_dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run sipp");
        if !out.status.success() {
            // Show what sipp saw: the error log and final screen.
            for entry in std::fs::read_dir(trace_dir.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                eprintln!("--- {}\n{}", entry.path().display(), text);
            }
        }
        out
    }

    /// Run a sipp scenario file from tests/scenarios.
    pub fn sipp_scenario(&self, file: &str, service: &str, extra: &[&str]) -> Output {
        let path = scenarios().join(file);
        let path = path.to_string_lossy().into_owned();
        let mut args = vec!["-sf", path.as_str(), "-s", service];
        args.extend_from_slice(extra);
        self.sipp(&args)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A raw SIP client over UDP, for requests sipp cannot express.
pub struct RawUdp {
    pub socket: UdpSocket,
    pub target: SocketAddr,
}

impl RawUdp {
    pub fn new(target: SocketAddr) -> RawUdp {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        RawUdp { socket, target }
    }

    pub fn local(&self) -> SocketAddr {
        self.socket.local_addr().expect("local addr")
    }

    pub fn send(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.target).expect("send");
    }

    /// The next response, skipping provisional ones when `final_only`.
    pub fn recv_response(&self, final_only: bool) -> Option<Response> {
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, _) = self.socket.recv_from(&mut buf).ok()?;
            if let Ok(Message::Response(r)) = parse(&buf[..n]) {
                if final_only && r.status < 200 {
                    continue;
                }
                return Some(r);
            }
        }
    }

    /// Send an OPTIONS and return the final response.
    pub fn options(&self, tag: &str) -> Option<Response> {
        let local = self.local();
        let msg = format!(
            "OPTIONS sip:{target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-opt-{tag};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:probe@{local}>;tag=p{tag}\r\n\
             To: <sip:{target}>\r\n\
             Call-ID: options-{tag}@test\r\n\
             CSeq: 1 OPTIONS\r\n\
             Content-Length: 0\r\n\r\n",
            target = self.target
        );
        self.send(msg.as_bytes());
        self.recv_response(true)
    }
}

/// A minimal SDP offer with PCMU and telephone-event at `port`.
pub fn sdp_offer(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
    )
}

/// An INVITE to `user` from a RawUdp client.
pub fn invite(client: &RawUdp, user: &str, call_id: &str, branch: &str, sdp: &str) -> String {
    let local = client.local();
    format!(
        "INVITE sip:{user}@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@{local}>;tag=c-{call_id}\r\n\
         To: <sip:{user}@{target}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{local}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{sdp}",
        target = client.target,
        len = sdp.len()
    )
}
