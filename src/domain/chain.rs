//! R-REC-2: how the audit trail is made tamper-evident.
//!
//! **Chains.** Every event is sealed with `seal(previous hash, content)`:
//! a SHA-256 over the previous event's hash and the event's own canonical
//! content. A chain is one audited thing: a ticket (its `ticket_events`) or
//! one entity of the general trail (`audit_events`, per entity type and
//! id). Per entity rather than one global chain because the entity's own
//! row lock, which every write already takes, then orders the chain: one
//! global chain would make every writer of every instance wait for one head
//! row. Altering or removing an event breaks the link of the event after
//! it.
//!
//! **Anchors.** A chain cannot show that its tail, or a whole chain, was
//! removed. An anchor can: it is a digest over every event of a table up to
//! a sequence number, in sequence order, written outside the database (a
//! file and the log). Verification recomputes the digest at each anchor;
//! any row altered, removed or slipped in below the anchor changes it.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash sealing an event: hex SHA-256 of the previous event's hash (""
/// for a chain's first event), a newline, and the event's content.
pub fn seal(prev: Option<&str>, content: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.unwrap_or("").as_bytes());
    h.update(b"\n");
    h.update(content.as_bytes());
    format!("{:x}", h.finalize())
}

/// The running digest of one table in sequence order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rolling {
    pub count: u64,
    pub digest: String,
}

impl Rolling {
    /// Fold in the next event's hash.
    pub fn push(&mut self, event_hash: &str) {
        self.digest = seal(Some(&self.digest), event_hash);
        self.count += 1;
    }
}

/// One table's state at an anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableAnchor {
    pub table: String,
    /// Every event with a sequence number up to this one is covered.
    pub up_to: i64,
    pub count: u64,
    pub digest: String,
}

/// One anchor: a line of the anchor file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// RFC 3339, server time.
    pub at: String,
    pub tables: Vec<TableAnchor>,
}

/// How a chain link or an anchor failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The event's content does not give its stored hash: it was altered.
    Altered,
    /// The event does not name the hash of the event before it in its
    /// chain: an event between them was removed (or this one moved).
    Unlinked { expected_prev: Option<String> },
    /// An event without a hash after sealed ones: unsealed after the fact.
    Unsealed,
}

/// Check one event against its chain's previous hash. `stored` is the
/// event's (prev_hash, hash); `content` its canonical content. Events
/// written before the chain existed (both hashes absent) may only come
/// before a chain's first sealed event; for them the caller passes
/// `sealed_before = false`.
fn check(
    prev_in_chain: Option<&str>,
    sealed_before: bool,
    stored_prev: Option<&str>,
    stored_hash: Option<&str>,
    content: &str,
) -> Result<(), Break> {
    let Some(hash) = stored_hash else {
        return if sealed_before {
            Err(Break::Unsealed)
        } else {
            Ok(())
        };
    };
    // The first sealed event after an unsealed prefix starts the chain.
    let expected_prev = if sealed_before { prev_in_chain } else { None };
    if stored_prev != expected_prev {
        return Err(Break::Unlinked {
            expected_prev: expected_prev.map(str::to_string),
        });
    }
    if seal(stored_prev, content) != hash {
        return Err(Break::Altered);
    }
    Ok(())
}

/// Walks one chain's events in order, checking each against the one
/// before it: `fieldops audit verify` over whole chains, and a listed page
/// of a ticket's trail (started after the event before the page).
#[derive(Debug, Clone, Default)]
pub struct Walk {
    head: Option<String>,
    sealed: bool,
}

impl Walk {
    /// A walk that goes on after an event already read: its hash (None for
    /// an event from before the chain existed).
    pub fn after(prev_hash: Option<String>) -> Walk {
        Walk {
            sealed: prev_hash.is_some(),
            head: prev_hash,
        }
    }

    /// Whether an event of the chain so far was sealed.
    pub fn sealed(&self) -> bool {
        self.sealed
    }

    /// Check the next event; it becomes the head whatever the outcome, so
    /// one altered event does not make every later one look broken.
    pub fn step(
        &mut self,
        stored_prev: Option<&str>,
        stored_hash: Option<&str>,
        content: &str,
    ) -> Result<(), Break> {
        let checked = check(
            self.head.as_deref(),
            self.sealed,
            stored_prev,
            stored_hash,
            content,
        );
        if let Some(h) = stored_hash {
            self.head = Some(h.to_string());
            self.sealed = true;
        }
        checked
    }
}

/// How one event stands against its chain, as a reader of the trail is
/// shown it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealCheck {
    /// Its content gives its hash, and it names the event before it.
    Intact,
    /// Written before the chain existed: there is nothing to check.
    BeforeChain,
    Altered,
    Unlinked,
    Unsealed,
}

impl SealCheck {
    pub fn of(checked: &Result<(), Break>, stored_hash: Option<&str>) -> SealCheck {
        match checked {
            Ok(()) if stored_hash.is_some() => SealCheck::Intact,
            Ok(()) => SealCheck::BeforeChain,
            Err(Break::Altered) => SealCheck::Altered,
            Err(Break::Unlinked { .. }) => SealCheck::Unlinked,
            Err(Break::Unsealed) => SealCheck::Unsealed,
        }
    }
}

/// The hash an event contributes to an anchor: its seal, or for an event
/// from before the chain, the seal of its content alone.
pub fn anchored_hash(stored_hash: Option<&str>, content: &str) -> String {
    match stored_hash {
        Some(h) => h.to_string(),
        None => seal(None, content),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(contents: &[&str]) -> Vec<(Option<String>, String)> {
        let mut prev: Option<String> = None;
        contents
            .iter()
            .map(|c| {
                let h = seal(prev.as_deref(), c);
                let link = (prev.clone(), h.clone());
                prev = Some(h);
                link
            })
            .collect()
    }

    /// What a reader of the trail is shown for each kind of event.
    #[test]
    fn a_walk_names_each_event_s_seal() {
        let l = chain(&["a", "b", "c"]);
        let seal = |w: &mut Walk, prev: Option<&String>, hash: Option<&String>, content: &str| {
            let checked = w.step(prev.map(|s| s.as_str()), hash.map(|s| s.as_str()), content);
            SealCheck::of(&checked, hash.map(|s| s.as_str()))
        };
        // An event from before sealing, then an intact chain.
        let mut w = Walk::default();
        assert_eq!(seal(&mut w, None, None, "old"), SealCheck::BeforeChain);
        for (i, c) in ["a", "b", "c"].iter().enumerate() {
            assert_eq!(
                seal(&mut w, l[i].0.as_ref(), Some(&l[i].1), c),
                SealCheck::Intact
            );
        }
        // Altered content: that event only; the next one still follows it.
        let mut w = Walk::default();
        assert_eq!(seal(&mut w, None, Some(&l[0].1), "x"), SealCheck::Altered);
        assert_eq!(
            seal(&mut w, l[1].0.as_ref(), Some(&l[1].1), "b"),
            SealCheck::Intact
        );
        // A removed event: the one after the gap.
        let mut w = Walk::default();
        assert_eq!(seal(&mut w, None, Some(&l[0].1), "a"), SealCheck::Intact);
        assert_eq!(
            seal(&mut w, l[2].0.as_ref(), Some(&l[2].1), "c"),
            SealCheck::Unlinked
        );
        // A seal removed after sealed events.
        let mut w = Walk::default();
        assert_eq!(seal(&mut w, None, Some(&l[0].1), "a"), SealCheck::Intact);
        assert_eq!(seal(&mut w, None, None, "b"), SealCheck::Unsealed);
        // A page that starts after an event already read.
        let mut w = Walk::after(Some(l[0].1.clone()));
        assert_eq!(
            seal(&mut w, l[1].0.as_ref(), Some(&l[1].1), "b"),
            SealCheck::Intact
        );
        let mut w = Walk::after(Some(l[1].1.clone()));
        assert_eq!(
            seal(&mut w, l[1].0.as_ref(), Some(&l[1].1), "b"),
            SealCheck::Unlinked
        );
    }

    fn verify(contents: &[&str], links: &[(Option<String>, String)]) -> Result<(), (usize, Break)> {
        let mut prev: Option<String> = None;
        for (i, (c, (p, h))) in contents.iter().zip(links).enumerate() {
            check(prev.as_deref(), i > 0, p.as_deref(), Some(h), c).map_err(|b| (i, b))?;
            prev = Some(h.clone());
        }
        Ok(())
    }

    #[test]
    fn r_rec_2_an_untouched_chain_verifies() {
        let c = ["a", "b", "c"];
        assert_eq!(verify(&c, &chain(&c)), Ok(()));
    }

    #[test]
    fn r_rec_2_an_altered_event_is_found_where_it_was_altered() {
        let links = chain(&["a", "b", "c"]);
        assert_eq!(verify(&["a", "B", "c"], &links), Err((1, Break::Altered)));
    }

    #[test]
    fn r_rec_2_a_removed_event_breaks_the_next_link() {
        let mut links = chain(&["a", "b", "c"]);
        links.remove(1);
        let err = verify(&["a", "c"], &links).unwrap_err();
        assert_eq!(err.0, 1);
        assert!(matches!(err.1, Break::Unlinked { .. }));
    }

    #[test]
    fn r_rec_2_unsealed_events_only_before_the_chain() {
        let h = seal(None, "b");
        assert_eq!(check(None, false, None, None, "a"), Ok(()));
        assert_eq!(check(None, false, None, Some(&h), "b"), Ok(()));
        assert_eq!(check(Some(&h), true, None, None, "c"), Err(Break::Unsealed));
    }

    #[test]
    fn r_rec_2_the_rolling_digest_depends_on_every_event_and_its_order() {
        let digest = |hs: &[&str]| {
            let mut r = Rolling::default();
            hs.iter().for_each(|h| r.push(h));
            r
        };
        assert_eq!(digest(&["x", "y"]).count, 2);
        assert_ne!(digest(&["x", "y"]), digest(&["y", "x"]));
        assert_ne!(digest(&["x", "y"]), digest(&["x"]));
        assert_eq!(digest(&["x", "y"]), digest(&["x", "y"]));
    }
}
