//! The socket under a WebSocket session, holding memory only while bytes
//! are in flight.
//!
//! Why: idle sessions dominate a gateway (tens of thousands per process),
//! and tungstenite keeps an eagerly allocated read buffer and a write buffer
//! that never shrinks for each one: about 4.5 KiB of the 6 KiB an idle
//! session used to cost. Here:
//! - **reads**: admin sessions give tungstenite no read buffer of its own
//!   (`read_buffer_size` 0, so it asks for at most a frame header's worth at
//!   a time); this stream reads the socket into the loop thread's scratch
//!   buffer and keeps only the bytes tungstenite has not taken yet. The
//!   event loop reads until `WouldBlock`, so an idle session holds none.
//! - **writes**: text frames are written here, not by tungstenite: their
//!   headers and payloads go to the socket in one `writev`, without a copy.
//!   Only what the socket refused is copied into `unsent`, which is freed
//!   once the socket took it. tungstenite still writes its own control
//!   frames (pong, ping, close) through [`Write`], and those wait behind
//!   `unsent`, so frames never interleave.
//!
//! Rejected alternative: a per-loop pool of tungstenite buffers. tungstenite
//! 0.28 owns its buffers and offers no way to hand them back while a
//! session is idle.

use std::cell::RefCell;
use std::io::{self, ErrorKind, IoSlice, Read, Write};

use mio::net::TcpStream;
use tungstenite::Utf8Bytes;

/// The loop thread's read buffer: one read of the socket, handed out to
/// tungstenite a few bytes at a time.
const READ_SCRATCH_BYTES: usize = 64 * 1024;
/// A read this large goes straight into the caller's buffer (ingest
/// sessions keep a tungstenite read buffer of their own).
const DIRECT_READ_BYTES: usize = 1024;
/// Frames per `writev`: two slices each, well under `IOV_MAX` (1,024).
pub const FRAMES_PER_WRITE: usize = 64;
/// The longest server frame header: 2 bytes + a 64-bit length (no mask).
const HEADER_BYTES_MAX: usize = 10;

thread_local! {
    static READ_SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_SCRATCH_BYTES].into_boxed_slice());
}

pub struct SessionStream {
    socket: TcpStream,
    /// Bytes read from the socket and not yet taken by tungstenite (empty,
    /// without capacity, between reads).
    read_pending: Vec<u8>,
    /// How much of `read_pending` was taken.
    read_taken: usize,
    /// Bytes handed over but refused by the socket so far (empty, without
    /// capacity, once written).
    unsent: Vec<u8>,
    /// How much of `unsent` the socket took.
    unsent_written: usize,
}

impl SessionStream {
    pub fn new(socket: TcpStream) -> Self {
        SessionStream { socket, read_pending: Vec::new(), read_taken: 0, unsent: Vec::new(), unsent_written: 0 }
    }

    pub fn into_inner(self) -> TcpStream {
        self.socket
    }

    /// Whether bytes wait for the socket to accept them.
    pub fn has_unsent(&self) -> bool {
        self.unsent_written < self.unsent.len()
    }

    /// Writes `frames` as unmasked text frames (RFC 6455 section 5.2).
    /// What the socket refuses is kept and written first next time, so
    /// `Ok` means every frame was handed over. Call only when
    /// [`Self::has_unsent`] is false and tungstenite has nothing buffered.
    pub fn write_text_frames(&mut self, frames: &[Utf8Bytes]) -> io::Result<()> {
        debug_assert!(frames.len() <= FRAMES_PER_WRITE && !self.has_unsent());
        let mut headers = [[0u8; HEADER_BYTES_MAX]; FRAMES_PER_WRITE];
        let mut header_lens = [0usize; FRAMES_PER_WRITE];
        for (index, frame) in frames.iter().enumerate() {
            header_lens[index] = text_frame_header(frame.len(), &mut headers[index]);
        }
        let mut slices = [IoSlice::new(&[]); 2 * FRAMES_PER_WRITE];
        for (index, frame) in frames.iter().enumerate() {
            slices[2 * index] = IoSlice::new(&headers[index][..header_lens[index]]);
            slices[2 * index + 1] = IoSlice::new(frame.as_bytes());
        }
        let written = loop {
            match self.socket.write_vectored(&slices[..2 * frames.len()]) {
                Ok(written) => break written,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) if error.kind() == ErrorKind::WouldBlock => break 0,
                Err(error) => return Err(error),
            }
        };
        // Keep what the socket refused, in order, from the first slice it
        // did not finish.
        let mut skip = written;
        for slice in &slices[..2 * frames.len()] {
            if skip >= slice.len() {
                skip -= slice.len();
                continue;
            }
            self.unsent.extend_from_slice(&slice[skip..]);
            skip = 0;
        }
        Ok(())
    }

    /// Writes `unsent` until the socket refuses; frees it once written.
    fn write_unsent(&mut self) -> io::Result<()> {
        while self.has_unsent() {
            match self.socket.write(&self.unsent[self.unsent_written..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(written) => self.unsent_written += written,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        self.unsent = Vec::new();
        self.unsent_written = 0;
        Ok(())
    }
}

/// Writes the header of an unmasked, final text frame of `len` payload
/// bytes into `header`; returns its length.
fn text_frame_header(len: usize, header: &mut [u8; HEADER_BYTES_MAX]) -> usize {
    header[0] = 0x81; // FIN + opcode 1 (text)
    if len < 126 {
        header[1] = len as u8;
        2
    } else if len <= usize::from(u16::MAX) {
        header[1] = 126;
        header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        header[1] = 127;
        header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

impl Read for SessionStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read_taken < self.read_pending.len() {
            let count = buf.len().min(self.read_pending.len() - self.read_taken);
            buf[..count].copy_from_slice(&self.read_pending[self.read_taken..self.read_taken + count]);
            self.read_taken += count;
            if self.read_taken == self.read_pending.len() {
                self.read_pending = Vec::new();
                self.read_taken = 0;
            }
            return Ok(count);
        }
        if buf.len() >= DIRECT_READ_BYTES {
            return self.socket.read(buf);
        }
        READ_SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let read = self.socket.read(&mut scratch)?;
            let count = buf.len().min(read);
            buf[..count].copy_from_slice(&scratch[..count]);
            if read > count {
                self.read_pending.extend_from_slice(&scratch[count..read]);
            }
            Ok(count)
        })
    }
}

impl Write for SessionStream {
    /// tungstenite's own frames (pong, ping, close): written only once
    /// `unsent` is, so they never land inside a half-written text frame.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_unsent()?;
        self.socket.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_unsent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A non-blocking server end and a blocking client end on loopback.
    fn pair() -> (SessionStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (SessionStream::new(TcpStream::from_std(server)), client)
    }

    #[test]
    fn frames_the_socket_refused_go_out_whole_and_before_a_control_frame() {
        let (mut stream, mut client) = pair();
        let frame = Utf8Bytes::from("x".repeat(1_000));
        let mut frames_sent = 0;
        // Until the socket's buffers are full and part of a batch is kept.
        while !stream.has_unsent() {
            stream.write_text_frames(&vec![frame.clone(); 8]).unwrap();
            frames_sent += 8;
        }
        let pong = [0x8a, 0];
        assert_eq!(stream.write(&pong).unwrap_err().kind(), ErrorKind::WouldBlock);
        let expected_bytes = frames_sent * (4 + 1_000) + pong.len();
        let reader = std::thread::spawn(move || {
            let mut bytes = vec![0u8; expected_bytes];
            client.read_exact(&mut bytes).unwrap();
            bytes
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while let Err(error) = stream.flush() {
            assert_eq!(error.kind(), ErrorKind::WouldBlock);
            assert!(std::time::Instant::now() < deadline, "the reader never took the bytes");
            std::thread::yield_now();
        }
        assert!(!stream.has_unsent());
        assert_eq!(stream.unsent.capacity(), 0, "the refused bytes' buffer is freed once written");
        assert_eq!(stream.write(&pong).unwrap(), pong.len());
        let bytes = reader.join().unwrap();
        for index in 0..frames_sent {
            let at = index * 1_004;
            assert_eq!(bytes[at..at + 4], [0x81, 126, 0x03, 0xe8], "frame {index}");
            assert!(bytes[at + 4..at + 1_004].iter().all(|&byte| byte == b'x'), "frame {index}");
        }
        assert_eq!(bytes[expected_bytes - 2..], pong);
    }

    #[test]
    fn a_read_keeps_only_what_the_caller_did_not_take_and_frees_it_once_taken() {
        let (mut stream, mut client) = pair();
        client.write_all(&[7u8; 100]).unwrap();
        let mut taken = Vec::new();
        let mut chunk = [0u8; 14];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while taken.len() < 100 {
            match stream.read(&mut chunk) {
                Ok(count) => taken.extend_from_slice(&chunk[..count]),
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline, "the bytes never arrived");
                    std::thread::yield_now();
                }
                Err(error) => panic!("{error}"),
            }
        }
        assert_eq!(taken, [7u8; 100]);
        assert_eq!(stream.read_pending.capacity(), 0);
        assert_eq!(stream.read(&mut chunk).unwrap_err().kind(), ErrorKind::WouldBlock);
    }

    #[test]
    fn headers_use_the_shortest_length_encoding() {
        let mut header = [0u8; HEADER_BYTES_MAX];
        assert_eq!(text_frame_header(125, &mut header), 2);
        assert_eq!(header[..2], [0x81, 125]);
        assert_eq!(text_frame_header(126, &mut header), 4);
        assert_eq!(header[..4], [0x81, 126, 0, 126]);
        assert_eq!(text_frame_header(65_535, &mut header), 4);
        assert_eq!(header[..4], [0x81, 126, 0xff, 0xff]);
        assert_eq!(text_frame_header(65_536, &mut header), 10);
        assert_eq!(header[..10], [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }
}
