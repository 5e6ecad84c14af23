//! What one path's changes within a batch add up to: the merge table, a pure function.
//!
//! The table follows one rule: compare whether the path existed before the batch with whether it
//! exists after the latest change.
//!
//! | before \ after | exists                                   | gone                                      |
//! |----------------|------------------------------------------|-------------------------------------------|
//! | did not exist  | `create` (`rename` if it arrived by one) | nothing (a temporary file)                |
//! | existed        | `modify`                                 | `delete` (`rename` if it left by one)     |
//! | unknown        | `rename` (it arrived by one)             | `delete` / `rename`, as it left           |
//!
//! So create+modify = create, create+delete = nothing, delete+create = modify, modify+delete =
//! delete, create+moved-away = nothing (an editor's temporary file), moved-away+create = modify (an
//! editor that renames the original to a backup and writes a new file).
//!
//! "Unknown" comes from a path that arrived by a rename as the batch's first event: inotify does
//! not say whether the rename replaced an existing file (the usual way editors save), so it stays
//! a `rename`; rules that react to saves should accept `rename` as well as `modify`. When such a
//! path then goes away, the safe answer is to report that it went (a rule may have to clean up),
//! not nothing.

use super::ChangeKind;

/// One change seen for a path, and also what a path's changes add up to so far in a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Seen {
    Created,
    Modified,
    Deleted,
    /// Renamed away from this path.
    MovedAway,
    /// Renamed to this path (possibly replacing a file that was there).
    MovedHere,
}

/// Whether a path existed before the batch, as far as its changes tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Before {
    Absent,
    Present,
    Unknown,
}

impl Seen {
    /// The kind rules see: both directions of a rename are `rename`.
    pub(super) fn kind(self) -> ChangeKind {
        match self {
            Seen::Created => ChangeKind::Create,
            Seen::Modified => ChangeKind::Modify,
            Seen::Deleted => ChangeKind::Delete,
            Seen::MovedAway | Seen::MovedHere => ChangeKind::Rename,
        }
    }

    /// Whether the path existed before, judged from the net change so far (or from the first one).
    fn before(self) -> Before {
        match self {
            Seen::Created => Before::Absent,
            Seen::Modified | Seen::Deleted | Seen::MovedAway => Before::Present,
            Seen::MovedHere => Before::Unknown,
        }
    }

    /// Whether the path exists after this change.
    fn exists_after(self) -> bool {
        matches!(self, Seen::Created | Seen::Modified | Seen::MovedHere)
    }
}

/// The net change of a path whose changes so far add up to `earlier` (`None`: none yet, or they
/// cancelled out) when `later` happens. `None` means the path drops out of the batch.
pub(super) fn merge(earlier: Option<Seen>, later: Seen) -> Option<Seen> {
    let Some(earlier) = earlier else { return Some(later) };
    let renamed = earlier == Seen::MovedHere || later == Seen::MovedHere;
    match (earlier.before(), later.exists_after()) {
        (Before::Absent, false) => None,
        (Before::Present, true) => Some(Seen::Modified),
        (Before::Absent | Before::Unknown, true) => Some(if renamed { Seen::MovedHere } else { Seen::Created }),
        // Gone at the end: how it left decides (`later` is `Deleted` or `MovedAway`).
        (Before::Present | Before::Unknown, false) => Some(later),
    }
}

#[cfg(test)]
mod tests {
    use super::Seen::*;
    use super::*;

    const ALL: [Seen; 5] = [Created, Modified, Deleted, MovedAway, MovedHere];

    /// Every (earlier, later) pair, written out: the table is the specification.
    #[test]
    fn the_merge_table() {
        let table: [(Option<Seen>, Seen, Option<Seen>); 30] = [
            (None, Created, Some(Created)),
            (None, Modified, Some(Modified)),
            (None, Deleted, Some(Deleted)),
            (None, MovedAway, Some(MovedAway)),
            (None, MovedHere, Some(MovedHere)),
            (Some(Created), Created, Some(Created)),
            (Some(Created), Modified, Some(Created)),
            (Some(Created), Deleted, None),
            (Some(Created), MovedAway, None),
            (Some(Created), MovedHere, Some(MovedHere)),
            (Some(Modified), Created, Some(Modified)),
            (Some(Modified), Modified, Some(Modified)),
            (Some(Modified), Deleted, Some(Deleted)),
            (Some(Modified), MovedAway, Some(MovedAway)),
            (Some(Modified), MovedHere, Some(Modified)),
            (Some(Deleted), Created, Some(Modified)),
            (Some(Deleted), Modified, Some(Modified)),
            (Some(Deleted), Deleted, Some(Deleted)),
            (Some(Deleted), MovedAway, Some(MovedAway)),
            (Some(Deleted), MovedHere, Some(Modified)),
            (Some(MovedAway), Created, Some(Modified)),
            (Some(MovedAway), Modified, Some(Modified)),
            (Some(MovedAway), Deleted, Some(Deleted)),
            (Some(MovedAway), MovedAway, Some(MovedAway)),
            (Some(MovedAway), MovedHere, Some(Modified)),
            (Some(MovedHere), Created, Some(MovedHere)),
            (Some(MovedHere), Modified, Some(MovedHere)),
            (Some(MovedHere), Deleted, Some(Deleted)),
            (Some(MovedHere), MovedAway, Some(MovedAway)),
            (Some(MovedHere), MovedHere, Some(MovedHere)),
        ];
        let mut covered = std::collections::HashSet::new();
        for (earlier, later, expected) in table {
            assert_eq!(merge(earlier, later), expected, "{earlier:?} then {later:?}");
            covered.insert((earlier, later));
        }
        let mut every = 0;
        for earlier in std::iter::once(None).chain(ALL.map(Some)) {
            for later in ALL {
                assert!(covered.contains(&(earlier, later)), "{earlier:?} then {later:?} is not in the table");
                every += 1;
            }
        }
        assert_eq!(every, table.len());
    }

    #[test]
    fn longer_sequences_fold_through_the_table() {
        let fold = |seen: &[Seen]| seen.iter().fold(None, |net, &next| merge(net, next));
        // An editor's atomic save: the temporary file vanishes, the target is replaced by a rename.
        assert_eq!(fold(&[Created, Modified, Modified, MovedAway]), None);
        assert_eq!(fold(&[MovedHere]), Some(MovedHere));
        // Backup-style save: the original moves to `file~`, a new file is written in its place.
        assert_eq!(fold(&[MovedAway, Created, Modified]), Some(Modified));
        // A file that is created and deleted twice leaves nothing; once more and it is there.
        assert_eq!(fold(&[Created, Deleted, Created, Deleted]), None);
        assert_eq!(fold(&[Created, Deleted, Created]), Some(Created));
        assert_eq!(fold(&[Modified, Deleted, Created, Modified]), Some(Modified));
    }

    #[test]
    fn kinds_rules_see() {
        assert_eq!(Created.kind(), ChangeKind::Create);
        assert_eq!(Modified.kind(), ChangeKind::Modify);
        assert_eq!(Deleted.kind(), ChangeKind::Delete);
        assert_eq!(MovedAway.kind(), ChangeKind::Rename);
        assert_eq!(MovedHere.kind(), ChangeKind::Rename);
    }
}
