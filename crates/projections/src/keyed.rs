//! Figures kept per operation and per key (a country, a location): the
//! shape the victims, arrests and locations projections share. A cell that
//! adds up to nothing (everything in it retracted) is removed, so that a
//! replay and a checkpoint plus its tail hold the same cells.

use std::collections::BTreeMap;

/// Figures that add up, cell by cell.
pub(crate) trait Figures: Default + PartialEq {
    fn merge(&mut self, other: &Self);

    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Operation → key → figures.
pub(crate) type Keyed<K, F> = BTreeMap<String, BTreeMap<K, F>>;

/// Changes one cell, and removes it if it is left empty.
pub(crate) fn update<K: Ord + Copy, F: Figures>(
    operations: &mut Keyed<K, F>,
    operation: &str,
    key: K,
    change: impl FnOnce(&mut F),
) {
    let cells = crate::slot(operations, operation);
    let figures = cells.entry(key).or_default();
    change(figures);
    if figures.is_empty() {
        cells.remove(&key);
    }
}

/// Adds the cells folded after `mine`'s.
pub(crate) fn merge<K: Ord + Copy, F: Figures>(mine: &mut Keyed<K, F>, later: Keyed<K, F>) {
    for (operation, cells) in later {
        // An operation a part touched has an entry, even with no cells
        // left, as it has after a replay of the whole.
        crate::slot(mine, &operation);
        for (key, figures) in cells {
            update(mine, &operation, key, |f| f.merge(&figures));
        }
    }
}
