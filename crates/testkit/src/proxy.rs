//! A TCP forwarder that a test can cut and restore, to take a dependency (Postgres, Redis) away
//! from the services under test without stopping the shared server others' tests use.
//!
//! Cut, it behaves like a server that went down: the listening socket is closed, so a new
//! connection is refused at once (what a client sees when Postgres or Redis has stopped), and
//! every open connection is reset on both sides (so the server also ends its sessions and
//! releases their locks, as it would after a crash). Restored, it listens on the same port
//! again. A hand-written forwarder of a few lines rather than a crate: the toxiproxy-style crates
//! model latency and bandwidth, not refusing and resetting on demand, and need a server of their
//! own.

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct FaultProxy {
    address: SocketAddr,
    target: SocketAddr,
    /// `true` while cut: every forwarding task resets its two sockets when it turns true.
    cut: watch::Sender<bool>,
    /// The accept loop, which owns the listener; none while cut.
    accepting: Mutex<Option<JoinHandle<()>>>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (cut, _) = watch::channel(false);
        let proxy = Self {
            address,
            target,
            cut,
            accepting: Mutex::new(None),
        };
        proxy.accept_on(listener);
        Ok(proxy)
    }

    /// Where clients connect instead of the target.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `url` (`scheme://[user@]host:port/...`) pointed at this proxy.
    pub fn url_for(&self, url: &str) -> String {
        with_address(url, self.address)
    }

    /// Refuses new connections and resets the open ones. Returns once the port is closed.
    pub async fn cut(&self) {
        let accepting = self.lock().take();
        self.cut.send_replace(true);
        if let Some(accepting) = accepting {
            accepting.abort();
            // The listener closes when the aborted task is dropped, not at `abort`.
            let _ = accepting.await;
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&self) -> io::Result<()> {
        self.cut.send_replace(false);
        if self.lock().is_some() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.address).await?;
        self.accept_on(listener);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
        self.accepting.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn accept_on(&self, listener: TcpListener) {
        let target = self.target;
        let cut = self.cut.subscribe();
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, target, cut.clone()));
            }
        });
        *self.lock() = Some(accepting);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(accepting) = self.lock().take() {
            accepting.abort();
        }
        self.cut.send_replace(true);
    }
}

async fn forward(mut client: TcpStream, target: SocketAddr, mut cut: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        reset(&client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.wait_for(|cut| *cut) => {
            reset(&client);
            reset(&server);
        }
    }
}

/// Makes the close that follows (the drop) send a reset rather than a FIN.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

/// `url` with its `host:port` replaced by `address`; user, path and query stay.
pub fn with_address(url: &str, address: SocketAddr) -> String {
    let start = url.find("://").map_or(0, |scheme| scheme + 3);
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |slash| start + slash);
    let host_start = url[start..end]
        .rfind('@')
        .map_or(start, |at| start + at + 1);
    format!("{}{address}{}", &url[..host_start], &url[end..])
}

/// The socket address a `scheme://[user@]host:port/...` URL names (`default_port` when it has
/// none), resolved.
pub async fn address_of(url: &str, default_port: u16) -> io::Result<SocketAddr> {
    let start = url.find("://").map_or(0, |scheme| scheme + 3);
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |slash| start + slash);
    let authority = &url[start..end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let with_port = if host_port.rsplit_once(':').is_some() {
        host_port.to_owned()
    } else {
        format!("{host_port}:{default_port}")
    };
    tokio::net::lookup_host(with_port)
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{url} names no address")))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn urls_are_pointed_at_the_proxy() {
        let proxy: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(
            with_address(
                "postgres://postgres@127.0.0.1:5432/db?sslmode=disable",
                proxy
            ),
            "postgres://postgres@127.0.0.1:4000/db?sslmode=disable"
        );
        assert_eq!(
            with_address("redis://127.0.0.1:6379", proxy),
            "redis://127.0.0.1:4000"
        );
        assert_eq!(
            with_address("redis://:secret@cache/2", proxy),
            "redis://:secret@127.0.0.1:4000/2"
        );
    }

    #[tokio::test]
    async fn addresses_are_read_from_urls() {
        let address = address_of("postgres://u:p@127.0.0.1:5433/db", 5432)
            .await
            .unwrap();
        assert_eq!(address, "127.0.0.1:5433".parse().unwrap());
        let address = address_of("redis://127.0.0.1", 6379).await.unwrap();
        assert_eq!(address, "127.0.0.1:6379".parse().unwrap());
    }

    /// An echo server: answers each connection with what it reads.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = [0u8; 1024];
                    while let Ok(read) = socket.read(&mut buffer).await {
                        if read == 0 || socket.write_all(&buffer[..read]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        address
    }

    async fn round_trip(stream: &mut TcpStream, text: &[u8]) -> io::Result<Vec<u8>> {
        stream.write_all(text).await?;
        let mut answer = vec![0u8; text.len()];
        stream.read_exact(&mut answer).await?;
        Ok(answer)
    }

    #[tokio::test]
    async fn a_cut_refuses_and_resets_and_a_restore_forwards_again() {
        let proxy = FaultProxy::start(echo().await).await.unwrap();
        let mut open = TcpStream::connect(proxy.address()).await.unwrap();
        assert_eq!(round_trip(&mut open, b"ping").await.unwrap(), b"ping");

        proxy.cut().await;
        let refused = TcpStream::connect(proxy.address()).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        let reset = tokio::time::timeout(Duration::from_secs(5), async {
            // The reset may land between the write and the read.
            round_trip(&mut open, b"again").await
        })
        .await
        .expect("the open connection ends at once");
        assert!(reset.is_err(), "the open connection was reset");

        proxy.restore().await.unwrap();
        let mut reopened = TcpStream::connect(proxy.address()).await.unwrap();
        assert_eq!(round_trip(&mut reopened, b"back").await.unwrap(), b"back");
    }
}
