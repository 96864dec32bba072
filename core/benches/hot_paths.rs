//! Criterion benchmarks of the core's hot paths (filled in by the
//! performance work).
use criterion::{criterion_group, criterion_main, Criterion};
use natsd_core::client::parser::{parse, Limits, Parsed};

fn parser(c: &mut Criterion) {
    let mut input = Vec::new();
    for _ in 0..1000 {
        input.extend_from_slice(b"PUB foo.bar 16\r\n0123456789abcdef\r\n");
    }
    let limits = Limits { max_control_line: 4096, max_payload: 1 << 20 };
    c.bench_function("parse 1000 pipelined 16B PUB", |b| {
        b.iter(|| {
            let mut data = &input[..];
            let mut n = 0;
            while let Ok(Parsed::Op(_, used)) = parse(data, &limits) {
                data = &data[used..];
                n += 1;
            }
            n
        })
    });
}

criterion_group!(benches, parser);
criterion_main!(benches);
