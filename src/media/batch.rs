//! Batched datagram receive for media workers: `recvmmsg(2)` on Linux, a `recv_from` loop
//! elsewhere.
//!
//! Hand-written because no maintained crate offers a small, allocation-free `recvmmsg` over
//! a plain `std::net::UdpSocket` (quinn-udp is tied to QUIC's segmentation offloads; nix's
//! multi-message API allocates per call). The unsafe block is the whole FFI surface and is
//! checked by the tests below.

use std::net::{SocketAddr, UdpSocket};

/// How many datagrams one receive call can take.
pub const BATCH: usize = 16;
/// The largest RTP datagram kept (larger ones are truncated and then refused by the parser).
pub const MAX_DATAGRAM: usize = 1500;

/// Reusable buffers for one batch: allocated once per worker.
pub struct RecvBatch {
    bufs: Vec<[u8; MAX_DATAGRAM]>,
    lens: [usize; BATCH],
    addrs: [Option<SocketAddr>; BATCH],
    /// Kernel receive times (since the Unix epoch), for sockets with
    /// [`enable_kernel_timestamps`]; `None` otherwise.
    stamps: [Option<std::time::Duration>; BATCH],
    count: usize,
}

/// Ask the kernel to stamp every datagram with its arrival time (`SO_TIMESTAMPNS`), so a
/// measurement does not include how late the reading thread got to it. Linux only; elsewhere
/// a no-op that returns `Ok(false)`.
pub fn enable_kernel_timestamps(socket: &UdpSocket) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let on: libc::c_int = 1;
        // SAFETY: a valid fd, a pointer to a live c_int and its exact size.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(true)
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
        Ok(false)
    }
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch::new()
    }
}

impl RecvBatch {
    pub fn new() -> RecvBatch {
        RecvBatch {
            bufs: vec![[0u8; MAX_DATAGRAM]; BATCH],
            lens: [0; BATCH],
            addrs: [None; BATCH],
            stamps: [None; BATCH],
            count: 0,
        }
    }

    /// The datagrams of the last receive: (source, bytes).
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        (0..self.count).filter_map(|i| Some((self.addrs[i]?, &self.bufs[i][..self.lens[i]])))
    }

    /// The datagrams of the last receive with their kernel arrival times (since the Unix
    /// epoch), where the socket has [`enable_kernel_timestamps`].
    pub fn iter_stamped(
        &self,
    ) -> impl Iterator<Item = (SocketAddr, &[u8], Option<std::time::Duration>)> {
        (0..self.count).filter_map(|i| {
            Some((
                self.addrs[i]?,
                &self.bufs[i][..self.lens[i]],
                self.stamps[i],
            ))
        })
    }

    /// Receive up to [`BATCH`] datagrams without blocking (the socket must be non-blocking).
    /// Returns how many arrived; 0 when none were waiting.
    pub fn recv(&mut self, socket: &UdpSocket) -> usize {
        self.count = recv_batch(self, socket);
        self.count
    }
}

#[cfg(target_os = "linux")]
fn recv_batch(batch: &mut RecvBatch, socket: &UdpSocket) -> usize {
    use std::os::fd::AsRawFd;

    // SAFETY: every pointer handed to the kernel points into `batch` or into the arrays on this
    // stack frame, all of which outlive the call; lengths match the buffers they describe; the
    // kernel writes at most `msg_len` bytes into each buffer and at most `msg_namelen` bytes
    // into each address; MSG_DONTWAIT makes the call non-blocking.
    unsafe {
        let mut iov: [libc::iovec; BATCH] = std::mem::zeroed();
        let mut names: [libc::sockaddr_storage; BATCH] = std::mem::zeroed();
        let mut msgs: [libc::mmsghdr; BATCH] = std::mem::zeroed();
        // Room for one SCM_TIMESTAMPNS control message per datagram (u64 words keep the
        // buffer aligned for cmsghdr).
        let mut control: [[u64; 8]; BATCH] = [[0; 8]; BATCH];
        for i in 0..BATCH {
            iov[i].iov_base = batch.bufs[i].as_mut_ptr().cast();
            iov[i].iov_len = MAX_DATAGRAM;
            msgs[i].msg_hdr.msg_iov = &mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
            msgs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as _;
            msgs[i].msg_hdr.msg_control = control[i].as_mut_ptr().cast();
            msgs[i].msg_hdr.msg_controllen = std::mem::size_of::<[u64; 8]>() as _;
        }
        let n = libc::recvmmsg(
            socket.as_raw_fd(),
            msgs.as_mut_ptr(),
            BATCH as _,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        );
        if n <= 0 {
            return 0;
        }
        let n = n as usize;
        for i in 0..n {
            batch.lens[i] = (msgs[i].msg_len as usize).min(MAX_DATAGRAM);
            batch.addrs[i] = sockaddr_to_std(&names[i]);
            batch.stamps[i] = None;
            let hdr = &msgs[i].msg_hdr;
            let mut cmsg = libc::CMSG_FIRSTHDR(hdr);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET
                    && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
                {
                    let ts =
                        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::timespec>());
                    batch.stamps[i] = Some(std::time::Duration::new(
                        ts.tv_sec.max(0) as u64,
                        ts.tv_nsec.clamp(0, 999_999_999) as u32,
                    ));
                }
                cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
            }
        }
        n
    }
}

#[cfg(target_os = "linux")]
fn sockaddr_to_std(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large
            // enough for and aligned for.
            let a =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
fn recv_batch(batch: &mut RecvBatch, socket: &UdpSocket) -> usize {
    let mut n = 0;
    while n < BATCH {
        match socket.recv_from(&mut batch.bufs[n]) {
            Ok((len, addr)) => {
                batch.lens[n] = len;
                batch.addrs[n] = Some(addr);
                batch.stamps[n] = None;
                n += 1;
            }
            Err(_) => break,
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receives_a_burst_in_one_call_with_sources() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = RecvBatch::new();
        assert_eq!(batch.recv(&rx), 0, "nothing waiting");
        for i in 0..20u8 {
            tx.send_to(&[i; 10], rx.local_addr().unwrap()).unwrap();
        }
        // Loopback delivery is immediate, but give the kernel a moment on a loaded machine.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut seen = Vec::new();
        loop {
            let n = batch.recv(&rx);
            if n == 0 {
                break;
            }
            assert!(n <= BATCH);
            for (from, bytes) in batch.iter() {
                assert_eq!(from, tx.local_addr().unwrap());
                assert_eq!(bytes.len(), 10);
                seen.push(bytes[0]);
            }
        }
        assert_eq!(seen, (0..20).collect::<Vec<u8>>());
    }

    #[test]
    fn kernel_timestamps_come_with_each_datagram_when_enabled() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let stamped = enable_kernel_timestamps(&rx).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Linux turns receive stamping on lazily (a deferred static key): until then a
        // datagram is stamped when it is read. Let the switch happen first.
        let mut batch = RecvBatch::new();
        tx.send_to(b"warm-up", rx.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        batch.recv(&rx);
        tx.send_to(b"one", rx.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
        tx.send_to(b"two", rx.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(batch.recv(&rx), 2);
        let stamps: Vec<_> = batch.iter_stamped().map(|(_, _, t)| t).collect();
        if stamped {
            let (a, b) = (stamps[0].unwrap(), stamps[1].unwrap());
            // The two sends were 30 ms apart; the stamps say when each arrived, not when
            // they were read (both in the same call).
            assert!(b > a + std::time::Duration::from_millis(25), "{a:?} {b:?}");
        } else {
            assert!(stamps.iter().all(Option::is_none));
        }
    }

    #[test]
    fn oversized_datagrams_are_truncated_not_overflowed() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(&[7u8; 4000], rx.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut batch = RecvBatch::new();
        assert_eq!(batch.recv(&rx), 1);
        let (_, bytes) = batch.iter().next().unwrap();
        assert_eq!(bytes.len(), MAX_DATAGRAM);
    }
}
