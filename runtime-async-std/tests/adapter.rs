//! Drives the adapter over real sockets with options the command line cannot
//! set (short ping interval, small `max_pending`), to cover its timer and
//! shutdown paths quickly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use natsd_core::{Options, Server};

fn start(opts: Options) -> Arc<Server> {
    natsd_async_std::init_worker_threads();
    let server = Server::new(
        Options {
            host: "127.0.0.1".into(),
            port: 0,
            ..opts
        },
        7,
    );
    let s = server.clone();
    std::thread::spawn(move || futures::executor::block_on(natsd_async_std::run(s)));
    let t = Instant::now();
    while server.port() == 0 {
        assert!(t.elapsed() < Duration::from_secs(5), "server did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    server
}

fn client(server: &Server) -> BufReader<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s);
    assert!(line(&mut r).starts_with("INFO {"));
    r
}

fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l
}

fn send(r: &mut BufReader<TcpStream>, b: &[u8]) {
    r.get_mut().write_all(b).unwrap();
}

#[test]
fn pings_then_stale() {
    let server = start(Options {
        ping_interval: Duration::from_millis(100),
        ping_max: 2,
        ..Options::default()
    });
    let mut c = client(&server);
    send(&mut c, b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    assert_eq!(line(&mut c), "PONG\r\n");
    // Unanswered server PINGs, then the stale error and EOF.
    assert_eq!(line(&mut c), "PING\r\n");
    assert_eq!(line(&mut c), "PING\r\n");
    assert_eq!(line(&mut c), "-ERR 'Stale Connection'\r\n");
    assert_eq!(line(&mut c), "");
}

#[test]
fn slow_consumer_is_cut_off_and_unsubscribed() {
    let server = start(Options {
        max_pending: 256 * 1024,
        max_payload: 64 * 1024,
        ..Options::default()
    });
    let mut sub = client(&server);
    send(
        &mut sub,
        b"CONNECT {\"verbose\":false}\r\nSUB foo 1\r\nPING\r\n",
    );
    assert_eq!(line(&mut sub), "PONG\r\n");
    let mut publ = client(&server);
    send(&mut publ, b"CONNECT {\"verbose\":false}\r\n");
    let msg = [b"PUB foo 1000\r\n".as_slice(), &[b'x'; 1000], b"\r\n"].concat();
    // The subscriber does not read: its outbox overflows, the writer shuts
    // the socket, and the reader (blocked in read) must notice and tear the
    // connection down.
    for _ in 0..100 {
        send(&mut publ, &msg.repeat(100));
    }
    send(&mut publ, b"PING\r\n");
    assert_eq!(line(&mut publ), "PONG\r\n");
    let mut rest = Vec::new();
    sub.read_to_end(&mut rest).unwrap();
    let t = Instant::now();
    while server.num_connections() != 1 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "subscriber not torn down"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
