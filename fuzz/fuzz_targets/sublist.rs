//! `sublist`: arbitrary insert / remove / match operations against a naive
//! matcher kept alongside.
//!
//! Input: a sequence of operations, each starting with an opcode byte:
//!   0..=3  insert: a subject (next bytes, see `subject`) and a queue byte
//!          (0: none, else one of two names); subjects that are not valid
//!          subscriptions are skipped, as the connection rejects them
//!   4..=5  remove: an index byte into the live subscriptions; a removed
//!          subscription is also removed again, which must report false
//!   6..=7  match: a subject, matched as a publish (literal tokens, and
//!          `*`/`>`/empty tokens taken literally, spec §6)
//! A subject is a count byte (1..=4 tokens) then one byte per token picking
//! from a small alphabet that includes the spec §17 transcript's tokens.
//!
//! Properties: `matches` equals the naive matcher for plain subscribers and
//! for every queue group (as multisets of subscription identities, each
//! group listed once); `count` equals the number live; `remove` is true
//! exactly for present subscriptions.

#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use natsd_core::subject::is_valid_subscription;
use natsd_core::{Outbox, Sublist, Subscription};

const TOKENS: [&str; 10] = [
    "greet", "joe", "ann", "_INBOX", "r1", "a", "*", ">", "", "nobody",
];

fn naive_match(pattern: &[u8], subject: &[u8]) -> bool {
    let s: Vec<&[u8]> = subject.split(|&b| b == b'.').collect();
    if s.iter().any(|t| t.is_empty()) {
        return false;
    }
    let p: Vec<&[u8]> = pattern.split(|&b| b == b'.').collect();
    for (i, pt) in p.iter().enumerate() {
        match *pt {
            b">" => return s.len() > i,
            b"*" => {
                if i >= s.len() {
                    return false;
                }
            }
            lit => {
                if s.get(i) != Some(&lit) {
                    return false;
                }
            }
        }
    }
    p.len() == s.len()
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn subject(&mut self) -> Option<String> {
        let n = usize::from(self.byte()? % 4) + 1;
        let mut toks = Vec::with_capacity(n);
        for _ in 0..n {
            toks.push(TOKENS[usize::from(self.byte()?) % TOKENS.len()]);
        }
        Some(toks.join("."))
    }
}

fn id_of(s: &Subscription) -> u64 {
    std::str::from_utf8(&s.sid).unwrap().parse().unwrap()
}

fuzz_target!(|data: &[u8]| {
    let outbox = Arc::new(Outbox::new(1, usize::MAX));
    let mut sl = Sublist::new();
    let mut live: Vec<Arc<Subscription>> = Vec::new();
    let mut next_id = 0u64;
    let mut r = Reader(data);
    let mut steps = 0;
    while let Some(op) = r.byte() {
        steps += 1;
        if steps > 2000 {
            break;
        }
        match op % 8 {
            0..=3 => {
                let Some(subject) = r.subject() else { break };
                let Some(q) = r.byte() else { break };
                if !is_valid_subscription(subject.as_bytes()) {
                    continue;
                }
                let queue = match q % 3 {
                    0 => None,
                    1 => Some(Bytes::from_static(b"q1")),
                    _ => Some(Bytes::from_static(b"q2")),
                };
                let sub = Arc::new(Subscription::new(
                    Bytes::from(subject),
                    queue,
                    Bytes::from(next_id.to_string()),
                    outbox.clone(),
                ));
                next_id += 1;
                sl.insert(sub.clone());
                live.push(sub);
            }
            4 | 5 => {
                let Some(i) = r.byte() else { break };
                if live.is_empty() {
                    continue;
                }
                let sub = live.remove(usize::from(i) % live.len());
                assert!(
                    sl.remove(&sub),
                    "remove of a live subscription returned false"
                );
                assert!(!sl.remove(&sub), "second remove returned true");
            }
            _ => {
                let Some(subject) = r.subject() else { break };
                let m = sl.matches(subject.as_bytes());
                let mut plain: Vec<u64> = m.plain.iter().map(|s| id_of(s)).collect();
                plain.sort_unstable();
                let mut groups: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
                for g in &m.queues {
                    assert!(!g.is_empty(), "empty queue group");
                    let name = g[0]
                        .queue
                        .clone()
                        .expect("queue member without queue")
                        .to_vec();
                    assert!(
                        g.iter().all(|s| s.queue.as_deref() == Some(&name[..])),
                        "group mixes names"
                    );
                    let mut ids: Vec<u64> = g.iter().map(|s| id_of(s)).collect();
                    ids.sort_unstable();
                    assert!(
                        groups.insert(name, ids).is_none(),
                        "queue group listed twice"
                    );
                }
                let mut want_plain = Vec::new();
                let mut want_groups: BTreeMap<Vec<u8>, Vec<u64>> = BTreeMap::new();
                for s in &live {
                    if naive_match(&s.subject, subject.as_bytes()) {
                        match &s.queue {
                            None => want_plain.push(id_of(s)),
                            Some(q) => want_groups.entry(q.to_vec()).or_default().push(id_of(s)),
                        }
                    }
                }
                want_plain.sort_unstable();
                for v in want_groups.values_mut() {
                    v.sort_unstable();
                }
                assert_eq!(plain, want_plain, "plain matches for {subject:?}");
                assert_eq!(groups, want_groups, "queue matches for {subject:?}");
            }
        }
        assert_eq!(sl.count(), live.len());
    }
});
