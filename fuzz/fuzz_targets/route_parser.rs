//! `route_parser`: arbitrary bytes into `natsd_core::route::parser::parse`.
//!
//! Input layout: byte 0 picks the limits (even: nats-server defaults; odd:
//! tiny limits, so the limit checks are reached often), the rest is the
//! byte stream, parsed op after op as the connection does.
//!
//! Properties:
//! * `parse` never panics;
//! * an op's consumed length is > 0 and ≤ the input;
//! * re-parsing exactly the consumed prefix gives the same op and length
//!   (the op does not depend on bytes after it);
//! * `Partial(Frame(n))` asks for more than is there, `Partial(Line)` only
//!   when there is no `\n`;
//! * every proper prefix of an op's bytes is `Partial` (the parser never
//!   decides early).
//!
#![no_main]

use libfuzzer_sys::fuzz_target;
use natsd_core::client::parser::{Limits, Need};
use natsd_core::route::parser::{parse, Parsed};

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, mut rest)) = data.split_first() else {
        return;
    };
    let limits = if cfg & 1 == 0 {
        Limits {
            max_control_line: 4096,
            max_payload: 1024 * 1024,
        }
    } else {
        Limits {
            max_control_line: 16,
            max_payload: 64,
        }
    };
    let mut ops = 0;
    while !rest.is_empty() && ops < 10_000 {
        match parse(rest, &limits) {
            Ok(Parsed::Op(op, used)) => {
                assert!(
                    used > 0 && used <= rest.len(),
                    "consumed {used} of {}",
                    rest.len()
                );
                let frame = &rest[..used];
                match parse(frame, &limits) {
                    Ok(Parsed::Op(again, n)) => {
                        assert_eq!(again, op, "re-parse of the consumed prefix {frame:?}");
                        assert_eq!(n, used);
                    }
                    other => panic!("re-parse of {frame:?} gave {other:?}, first {op:?}"),
                }
                if used <= 2048 {
                    for k in 0..used {
                        let p = parse(&frame[..k], &limits);
                        assert!(
                            matches!(p, Ok(Parsed::Partial(_))),
                            "prefix {:?} of {frame:?} ({op:?}) gave {p:?}",
                            &frame[..k]
                        );
                    }
                }
                rest = &rest[used..];
                ops += 1;
            }
            Ok(Parsed::Partial(Need::Frame(n))) => {
                assert!(
                    n > rest.len(),
                    "Frame({n}) with {} bytes available",
                    rest.len()
                );
                break;
            }
            Ok(Parsed::Partial(Need::Line)) => {
                assert!(
                    !rest.contains(&b'\n'),
                    "Need::Line although a newline is present"
                );
                break;
            }
            Err(_) => break,
        }
    }
});
