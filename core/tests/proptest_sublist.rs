//! `Sublist::matches` against a naive reference matcher written here.
//!
//! Random subscriptions (literal tokens from a small alphabet, `*`, `>`,
//! optional queue names) and random subjects; the result must equal the
//! reference for plain subscribers and for queue groups (group name → its
//! matching members), compared as multisets of subscription identities
//! (so a member listed twice is caught too). Then the same after random
//! removals, and with the count kept in step.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use natsd_core::{Matches, Outbox, Sublist, Subscription};
use proptest::prelude::*;
use proptest::sample::select;

/// Reference semantics (spec §8): `*` matches exactly one token, `>` one or
/// more tokens at the end, anything else the same bytes. A subject with an
/// empty token matches nothing.
fn naive_match(pattern: &str, subject: &str) -> bool {
    let s: Vec<&str> = subject.split('.').collect();
    if s.iter().any(|t| t.is_empty()) {
        return false;
    }
    let p: Vec<&str> = pattern.split('.').collect();
    for (i, pt) in p.iter().enumerate() {
        match *pt {
            ">" => return s.len() > i,
            "*" => {
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

/// One generated subscription; its id is stored in the sid.
#[derive(Debug, Clone)]
struct Spec {
    subject: String,
    queue: Option<String>,
}

fn make(id: usize, spec: &Spec, outbox: &Arc<Outbox>) -> Arc<Subscription> {
    Arc::new(Subscription::new(
        Bytes::from(spec.subject.clone()),
        spec.queue.clone().map(Bytes::from),
        Bytes::from(id.to_string()),
        outbox.clone(),
    ))
}

fn id_of(s: &Subscription) -> usize {
    std::str::from_utf8(&s.sid).unwrap().parse().unwrap()
}

/// (sorted plain ids, group → sorted member ids), from a `Matches`.
type Normal = (Vec<usize>, BTreeMap<String, Vec<usize>>);

fn normalise(m: &Matches) -> Normal {
    let mut plain: Vec<usize> = m.plain.iter().map(|s| id_of(s)).collect();
    plain.sort_unstable();
    let mut groups = BTreeMap::new();
    for g in &m.queues {
        assert!(!g.is_empty(), "an empty queue group in Matches");
        let name = String::from_utf8(
            g[0].queue
                .as_ref()
                .expect("queue member without a queue")
                .to_vec(),
        )
        .unwrap();
        assert!(
            g.iter()
                .all(|s| s.queue.as_deref() == Some(name.as_bytes())),
            "a group mixes queue names"
        );
        let mut ids: Vec<usize> = g.iter().map(|s| id_of(s)).collect();
        ids.sort_unstable();
        let prev = groups.insert(name.clone(), ids);
        assert!(
            prev.is_none(),
            "queue group {name} appears twice in Matches"
        );
    }
    (plain, groups)
}

fn reference(live: &[(usize, Spec)], subject: &str) -> Normal {
    let mut plain = Vec::new();
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (id, spec) in live {
        if naive_match(&spec.subject, subject) {
            match &spec.queue {
                None => plain.push(*id),
                Some(q) => groups.entry(q.clone()).or_default().push(*id),
            }
        }
    }
    plain.sort_unstable();
    for v in groups.values_mut() {
        v.sort_unstable();
    }
    (plain, groups)
}

const TOKENS: [&str; 4] = ["a", "b", "c", "dd"];

fn sub_spec() -> impl Strategy<Value = Spec> {
    let tok = prop_oneof![6 => select(TOKENS.to_vec()).prop_map(str::to_string), 2 => Just("*".to_string())];
    (
        prop::collection::vec(tok, 1..=4),
        prop::bool::weighted(0.2),
        prop::option::weighted(0.3, select(vec!["q1", "q2", "q3"])),
    )
        .prop_map(|(mut toks, full, queue)| {
            if full {
                // `>` replaces the last token, or comes after the others.
                if toks.len() > 1 && toks.len() % 2 == 0 {
                    toks.pop();
                }
                toks.push(">".into());
            }
            Spec {
                subject: toks.join("."),
                queue: queue.map(str::to_string),
            }
        })
}

/// Publish subjects: mostly literal; sometimes with `*`/`>` (matched as
/// literal tokens, spec §6) or an empty token (matches nothing).
fn pub_subject() -> impl Strategy<Value = String> {
    let tok = prop_oneof![
        12 => select(TOKENS.to_vec()).prop_map(str::to_string),
        1 => Just("*".to_string()),
        1 => Just(">".to_string()),
        1 => Just(String::new()),
        1 => Just("e".to_string()),
    ];
    prop::collection::vec(tok, 1..=5).prop_map(|t| t.join("."))
}

fn check(sl: &Sublist, live: &[(usize, Spec)], subjects: &[String]) -> Result<(), TestCaseError> {
    prop_assert_eq!(sl.count(), live.len());
    for subject in subjects {
        let got = normalise(&sl.matches(subject.as_bytes()));
        let want = reference(live, subject);
        prop_assert_eq!(&got, &want, "subject {:?}; live subs {:?}", subject, live);
        prop_assert_eq!(
            sl.matches(subject.as_bytes()).is_empty(),
            want.0.is_empty() && want.1.is_empty()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn matches_equal_reference(
        specs in prop::collection::vec(sub_spec(), 0..40),
        subjects in prop::collection::vec(pub_subject(), 1..30),
        removals in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let outbox = Arc::new(Outbox::new(1, 1 << 20));
        let mut sl = Sublist::new();
        let mut live: Vec<(usize, Spec)> = Vec::new();
        let mut subs: Vec<Arc<Subscription>> = Vec::new();
        for (id, spec) in specs.iter().enumerate() {
            let s = make(id, spec, &outbox);
            sl.insert(s.clone());
            subs.push(s);
            live.push((id, spec.clone()));
        }
        // Also the subscriptions' own subjects as literal publishes.
        let mut all_subjects = subjects.clone();
        all_subjects.extend(specs.iter().map(|s| s.subject.clone()));
        check(&sl, &live, &all_subjects)?;

        // Remove a random selection, one at a time, checking as we go.
        for r in &removals {
            if live.is_empty() {
                break;
            }
            let i = r.index(live.len());
            let (id, _) = live.remove(i);
            let pos = subs.iter().position(|s| id_of(s) == id).unwrap();
            let sub = subs.remove(pos);
            let before = sl.generation().load(std::sync::atomic::Ordering::Relaxed);
            prop_assert!(sl.remove(&sub), "remove of a present subscription");
            prop_assert!(sl.generation().load(std::sync::atomic::Ordering::Relaxed) > before, "generation must move");
            prop_assert!(!sl.remove(&sub), "second remove must report absence");
            check(&sl, &live, &subjects)?;
        }
        check(&sl, &live, &all_subjects)?;

        // Re-inserting what was removed gives the same answers as a fresh index.
        for s in &subs {
            prop_assert!(sl.remove(s));
        }
        prop_assert_eq!(sl.count(), 0);
        for subject in &all_subjects {
            prop_assert!(sl.matches(subject.as_bytes()).is_empty());
        }
    }

    /// Subscriptions with equal subjects and queues are still distinct:
    /// removing one leaves the others (identity, not equality).
    #[test]
    fn removal_is_by_identity(spec in sub_spec(), n in 2usize..6, victim in any::<prop::sample::Index>()) {
        let outbox = Arc::new(Outbox::new(1, 1 << 20));
        let mut sl = Sublist::new();
        let subs: Vec<_> = (0..n).map(|id| make(id, &spec, &outbox)).collect();
        for s in &subs {
            sl.insert(s.clone());
        }
        let v = victim.index(n);
        prop_assert!(sl.remove(&subs[v]));
        let live: Vec<(usize, Spec)> = (0..n).filter(|&i| i != v).map(|i| (i, spec.clone())).collect();
        let literal = spec.subject.replace('*', "a").replace('>', "b.c");
        check(&sl, &live, &[literal, spec.subject.clone()])?;
    }
}

#[test]
fn reference_matcher_agrees_with_spec_examples() {
    // Spec §8.
    assert!(naive_match("a.*.c", "a.b.c"));
    assert!(naive_match("a.>", "a.b.c.d"));
    assert!(!naive_match("a.>", "a"));
    assert!(naive_match(">", "a"));
    assert!(!naive_match("*", "a.b"));
    assert!(!naive_match("Foo", "foo"));
    assert!(naive_match("foo*", "foo*"));
    assert!(!naive_match("foo*", "foox"));
    // Non-pedantic wildcard publishes are matched token by token.
    assert!(naive_match("a.>", "a.*"));
    assert!(!naive_match("a.b", "a.*"));
    assert!(!naive_match(">", "a..b"));
}
