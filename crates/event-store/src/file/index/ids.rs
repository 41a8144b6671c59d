//! The id table `ids`: where the record with a given id is, in pages whose
//! tags make a missing entry detectable.
//!
//! A 64-byte header (`THSIDS02`, the number of pages, the table's epoch,
//! zero padding) then pages of 1 KiB: 42 slots of 24 bytes (the id's 16
//! bytes, the record's position as a u64; an all-zero id is an empty slot,
//! the store refuses the nil id) and a 16-byte tag. Open addressing with
//! linear probing over all slots (a probe may run on into the next page);
//! the home slot is SipHash-2-4 of the id under a key derived from the
//! derived-data key and the epoch, so chosen ids cannot easily build long
//! probe chains.
//!
//! Why tags per page: a hit is checked against the record it names, but a
//! miss cannot be checked against anything (it is what lets an id in for a
//! second time), so a lookup trusts a page only once its tag verifies:
//! HMAC-SHA-256 under the derived-data key of the table's binding (a random
//! epoch per build and the store directory's identity), the page's index
//! and its slots. A zeroed or edited slot breaks the tag; a page from
//! another table or store has another binding. A page rolled back to an
//! older copy of itself verifies, but pages only ever gain entries, so it
//! holds fewer entries than the sealed `head` counts for it (see `head.rs`):
//! a page is trusted only with at least as many entries as the head says.
//! 1 KiB pages keep the tag of a touched page cheap (under a microsecond
//! with SHA-NI); the per-page counts cost one byte per page in `head`.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

use crate::{DerivedKey, StoreError};

use super::open_private;

const IDS_MAGIC: &[u8; 8] = b"THSIDS02";
pub(super) const HEADER_LEN: u64 = 64;
pub(super) const PAGE_LEN: usize = 1024;
const SLOT_LEN: usize = 24;
const SLOTS_PER_PAGE: u64 = 42;
const SLOTS_END: usize = SLOT_LEN * SLOTS_PER_PAGE as usize;
const TAG_LEN: usize = 16;
/// 64 KiB: small stores never grow their table.
const MIN_PAGES: u64 = 64;
/// How large a table may be built in memory (and written in one go) before
/// it is built in its file, mapped, so that building one does not hold it
/// all in memory: a table grown from the old one is filled nearly in page
/// order (homes scale with the table), so mapped it costs one fault a page;
/// a table rebuilt from the log is filled at random, and mapped it costs
/// about one fault an entry (released behind, see [`RELEASE_EVERY`]), so
/// it stays in memory up to 64 MiB (about 1.3M ids).
#[derive(Clone, Copy, Debug)]
pub(crate) enum BuildOrder {
    /// Entries come from the old table, page after page.
    FromTable,
    /// Entries come from the log, at random places.
    FromLog,
}

impl BuildOrder {
    fn memory_limit(self) -> u64 {
        match self {
            BuildOrder::FromTable => 16 << 20,
            BuildOrder::FromLog => 64 << 20,
        }
    }
}
/// A mapped table hands its touched pages back to the page cache after this
/// many inserts or tagged pages (at most 32 MiB of 4 KiB pages mapped), and
/// after every seal: the pages stay cached, but a writer's resident memory
/// no longer follows the table's size (`generate` appends batch after batch
/// in one process).
const RELEASE_EVERY: u64 = 8192;

/// Why a lookup could not be answered from the table.
#[derive(Debug)]
pub(crate) enum TableError {
    Io(io::Error),
    /// The table cannot be trusted (a page fails its check, the table is
    /// full): it must be rebuilt from the log.
    Damaged(String),
}

impl From<io::Error> for TableError {
    fn from(error: io::Error) -> TableError {
        TableError::Io(error)
    }
}

/// What a table's pages are bound to: the derived-data key, the table's
/// epoch and the store directory's identity.
#[derive(Debug, Clone)]
pub(crate) struct PageAuth {
    key: DerivedKey,
    binding: [u8; 32],
}

impl PageAuth {
    pub(crate) fn new(key: DerivedKey, epoch: [u8; 16], store: [u8; 16]) -> PageAuth {
        let mut binding = [0u8; 32];
        binding[..16].copy_from_slice(&epoch);
        binding[16..].copy_from_slice(&store);
        PageAuth { key, binding }
    }

    fn tag(&self, page: u64, bytes: &[u8]) -> [u8; TAG_LEN] {
        let full = self.key.tag(
            "ids-page",
            &[&self.binding, &page.to_le_bytes(), &bytes[..SLOTS_END]],
        );
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    /// The SipHash key of a table with this epoch: secret, so that ids
    /// cannot be chosen to collide.
    pub(crate) fn slot_key(&self) -> [u64; 2] {
        let full = self.key.tag("ids-slots", &[&self.binding[..16]]);
        let word = |i: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&full[i..i + 8]);
            u64::from_le_bytes(bytes)
        };
        [word(0), word(8)]
    }
}

/// A fresh random epoch (and, for a table nobody else reads, a random
/// SipHash key).
pub(crate) fn random_bytes() -> [u8; 16] {
    Uuid::new_v4().into_bytes()
}

pub(crate) fn random_slot_key() -> [u64; 2] {
    let random = Uuid::new_v4().as_u128() ^ (Uuid::new_v4().as_u128() << 7);
    [random as u64, (random >> 64) as u64]
}

/// Where the pages live.
#[derive(Debug)]
enum Slots {
    /// The whole image (header included), while a table is built or for a
    /// store that keeps no derived files.
    Memory(Vec<u8>),
    /// The whole file mapped, for a writer holding the store's lock: random
    /// page reads and writes are memory accesses, not system calls.
    Mapped { file: File, map: memmap2::MmapMut },
    /// Positioned reads, for readers (who never write).
    Read(File),
}

impl Slots {
    fn page_offset(page: u64) -> usize {
        HEADER_LEN as usize + page as usize * PAGE_LEN
    }

    fn read_page(&self, page: u64, out: &mut [u8; PAGE_LEN]) -> io::Result<()> {
        let start = Slots::page_offset(page);
        match self {
            Slots::Memory(bytes) => {
                out.copy_from_slice(&bytes[start..start + PAGE_LEN]);
                Ok(())
            }
            Slots::Mapped { map, .. } => {
                let bytes = map
                    .get(start..start + PAGE_LEN)
                    .ok_or_else(|| io::Error::other("page beyond the id table"))?;
                out.copy_from_slice(bytes);
                Ok(())
            }
            Slots::Read(file) => file.read_exact_at(out, start as u64),
        }
    }

    /// Page `page` in place (a table in memory or mapped), or read into
    /// `buffer` (one opened for reading): a probe reads a page without
    /// copying a KiB each time.
    fn page<'a>(&'a self, page: u64, buffer: &'a mut [u8; PAGE_LEN]) -> io::Result<&'a [u8]> {
        let start = Slots::page_offset(page);
        match self {
            Slots::Memory(bytes) => bytes
                .get(start..start + PAGE_LEN)
                .ok_or_else(|| io::Error::other("page beyond the id table")),
            Slots::Mapped { map, .. } => map
                .get(start..start + PAGE_LEN)
                .ok_or_else(|| io::Error::other("page beyond the id table")),
            Slots::Read(file) => {
                file.read_exact_at(buffer, start as u64)?;
                Ok(&buffer[..])
            }
        }
    }

    fn bytes_mut(&mut self, page: u64, from: usize, len: usize) -> io::Result<&mut [u8]> {
        let start = Slots::page_offset(page) + from;
        match self {
            Slots::Memory(bytes) => bytes
                .get_mut(start..start + len)
                .ok_or_else(|| io::Error::other("page beyond the id table")),
            Slots::Mapped { map, .. } => map
                .get_mut(start..start + len)
                .ok_or_else(|| io::Error::other("page beyond the id table")),
            Slots::Read(_) => Err(io::Error::other("the id table is open for reading")),
        }
    }

    /// Unmaps the pages this process touched (a mapped table only). The
    /// mapping is shared, so written pages stay in the page cache, dirty,
    /// and the next access maps them again from there.
    #[allow(unsafe_code)]
    fn release(&self) {
        if let Slots::Mapped { map, .. } = self {
            // SAFETY: MADV_DONTNEED on a shared file mapping drops only this
            // process's page table entries (dirty bits are carried to the
            // cached pages, which keep the data); later reads see the file's
            // contents, which are what was written. No reference into the
            // mapping outlives a call of `read_page` or `bytes_mut`, nor a
            // probe's or a listing's look at one page through `page`, so none
            // is held across this one. Advice that fails changes nothing.
            let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }

    /// Maps a writable table file into memory.
    #[allow(unsafe_code)]
    fn mapped(file: File) -> io::Result<Slots> {
        // SAFETY: the mapping is of the id table in the store's derived
        // folder, a 0600 file that only theseus writers change, and only
        // while holding the store's exclusive lock, which this process holds
        // for the mapping's whole life (the table belongs to one
        // transaction). theseus never truncates or resizes a table in
        // place: a grown or rebuilt table is a new file renamed over the old
        // one, which leaves this mapping valid. Someone outside theseus
        // truncating the file during a transaction would fault the process
        // (SIGBUS); editing it is what the page tags catch.
        let map = unsafe { memmap2::MmapOptions::new().map_mut(&file)? };
        // Pages are touched at random: without this hint each fault also
        // maps the pages around it.
        let _ = map.advise(memmap2::Advice::Random);
        Ok(Slots::Mapped { file, map })
    }
}

pub(crate) enum Probe {
    Found { position: u64 },
    Empty,
}

pub(crate) enum Inserted {
    Added,
    Present { position: u64 },
}

/// The id table.
#[derive(Debug)]
pub(crate) struct IdTable {
    slots: Slots,
    pages: u64,
    pub(crate) count: u64,
    pub(crate) epoch: [u8; 16],
    slot_key: [u64; 2],
    /// `None` for a table kept in memory only (nothing to distrust).
    auth: Option<PageAuth>,
    /// How many entries each page holds: at open, as the sealed head says;
    /// then as inserted.
    counts: Vec<u8>,
    /// Pages changed since they were last tagged: this process's own
    /// writes, trusted and tagged again by [`IdTable::seal`].
    dirty: BTreeSet<u64>,
    /// Built by this process: every page is trusted, and all are tagged at
    /// the first seal.
    fresh: bool,
    /// Inserts since the mapped pages were last released.
    since_release: u64,
    /// Pages whose tag this process has checked (or written) since it
    /// opened a table it writes, one bit a page: the writer holds the
    /// store's lock, so a page it has checked changes only through its own
    /// inserts (then `dirty`), and a batch's inserts, which probe the pages
    /// its lookups have just checked, do not check them again. Empty for a
    /// reader's table, whose pages a writer may change under it.
    verified: Vec<AtomicU64>,
}

impl IdTable {
    /// A new empty table for about `entries` entries: in memory if small
    /// enough (or if `path` is `None`), else in `path`, mapped.
    pub(crate) fn create(
        path: Option<&Path>,
        order: BuildOrder,
        entries: u64,
        epoch: [u8; 16],
        slot_key: [u64; 2],
        auth: Option<PageAuth>,
    ) -> Result<IdTable, StoreError> {
        let pages = pages_for(entries);
        let len = HEADER_LEN + pages * PAGE_LEN as u64;
        let slots = match path {
            Some(path) if len > order.memory_limit() => {
                let file = open_private(path, true)?;
                file.set_len(len)
                    .map_err(|error| StoreError::io(path, error))?;
                Slots::mapped(file).map_err(|error| StoreError::io(path, error))?
            }
            _ => Slots::Memory(vec![0; len as usize]),
        };
        let mut table = IdTable {
            slots,
            pages,
            count: 0,
            epoch,
            slot_key,
            auth,
            counts: vec![0; pages as usize],
            dirty: BTreeSet::new(),
            fresh: true,
            since_release: 0,
            verified: Vec::new(),
        };
        let header = table.header();
        match &mut table.slots {
            Slots::Memory(bytes) => bytes[..HEADER_LEN as usize].copy_from_slice(&header),
            Slots::Mapped { map, .. } => map[..HEADER_LEN as usize].copy_from_slice(&header),
            Slots::Read(_) => {}
        }
        Ok(table)
    }

    /// Opens the table in `path` as the sealed head describes it (pages,
    /// epoch, entries and per-page counts); `None` when the file does not
    /// match that description.
    pub(crate) fn open(
        path: &Path,
        writable: bool,
        auth: PageAuth,
        count: u64,
        counts: Vec<u8>,
        epoch: [u8; 16],
    ) -> Option<IdTable> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .ok()?;
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut header, 0).ok()?;
        if &header[..8] != IDS_MAGIC || header[24..40] != epoch {
            return None;
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&header[8..16]);
        let pages = u64::from_le_bytes(word);
        if pages != counts.len() as u64 || pages < MIN_PAGES {
            return None;
        }
        let expected_len = pages
            .checked_mul(PAGE_LEN as u64)?
            .checked_add(HEADER_LEN)?;
        if file.metadata().ok()?.len() != expected_len {
            return None;
        }
        let slots = if writable {
            Slots::mapped(file).ok()?
        } else {
            Slots::Read(file)
        };
        let verified = if writable {
            (0..pages.div_ceil(64)).map(|_| AtomicU64::new(0)).collect()
        } else {
            Vec::new()
        };
        Some(IdTable {
            slots,
            pages,
            count,
            epoch,
            slot_key: auth.slot_key(),
            auth: Some(auth),
            counts,
            dirty: BTreeSet::new(),
            fresh: false,
            since_release: 0,
            verified,
        })
    }

    fn header(&self) -> [u8; HEADER_LEN as usize] {
        let mut header = [0u8; HEADER_LEN as usize];
        header[..8].copy_from_slice(IDS_MAGIC);
        header[8..16].copy_from_slice(&self.pages.to_le_bytes());
        header[24..40].copy_from_slice(&self.epoch);
        header
    }

    pub(crate) fn counts(&self) -> &[u8] {
        &self.counts
    }

    pub(crate) fn pages(&self) -> u64 {
        self.pages
    }

    fn capacity(&self) -> u64 {
        self.pages * SLOTS_PER_PAGE
    }

    /// Reads page `page` and checks it can be trusted: its tag, and at
    /// least as many entries as the head counts for it.
    fn trusted_page<'a>(
        &'a self,
        page: u64,
        buffer: &'a mut [u8; PAGE_LEN],
    ) -> Result<&'a [u8], TableError> {
        let out = self.slots.page(page, buffer)?;
        let Some(auth) = &self.auth else {
            return Ok(out);
        };
        if self.fresh || self.is_verified(page) || self.dirty.contains(&page) {
            return Ok(out);
        }
        let tag = auth.tag(page, out);
        if !constant_time_eq(&tag, &out[SLOTS_END..]) {
            return Err(TableError::Damaged(format!("page {page} fails its tag")));
        }
        let entries = out[..SLOTS_END]
            .chunks_exact(SLOT_LEN)
            .filter(|slot| slot[..16] != [0u8; 16])
            .count();
        if entries < usize::from(self.counts[page as usize]) {
            return Err(TableError::Damaged(format!(
                "page {page} holds {entries} entries, fewer than the {} recorded (an older copy)",
                self.counts[page as usize]
            )));
        }
        self.mark_verified(page);
        Ok(out)
    }

    fn is_verified(&self, page: u64) -> bool {
        self.verified
            .get((page / 64) as usize)
            .is_some_and(|word| word.load(Ordering::Relaxed) & (1 << (page % 64)) != 0)
    }

    fn mark_verified(&self, page: u64) {
        if let Some(word) = self.verified.get((page / 64) as usize) {
            word.fetch_or(1 << (page % 64), Ordering::Relaxed);
        }
    }

    /// The slot an id's probe starts at. Homes grow with the hash, so ids
    /// inserted in order of their homes sweep the table once, page after
    /// page ([`IdTable::insert_sorted`]).
    pub(crate) fn home(&self, id: &Uuid) -> u64 {
        let hash = siphash(self.slot_key, id);
        ((u128::from(hash) * u128::from(self.capacity())) >> 64) as u64
    }

    /// Where `id` is, or the empty slot where it would go, probing from
    /// its home slot `home` ([`IdTable::home`]).
    fn probe_slot(&self, home: u64, id: &Uuid) -> Result<(Probe, u64), TableError> {
        let capacity = self.capacity();
        let mut slot = home;
        let mut buffer = [0u8; PAGE_LEN];
        let mut visited = 0;
        while visited < capacity {
            let page = slot / SLOTS_PER_PAGE;
            let page_bytes = self.trusted_page(page, &mut buffer)?;
            let mut index = slot % SLOTS_PER_PAGE;
            while index < SLOTS_PER_PAGE {
                let start = index as usize * SLOT_LEN;
                let entry = &page_bytes[start..start + SLOT_LEN];
                if &entry[..16] == id.as_bytes() {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(&entry[16..24]);
                    return Ok((
                        Probe::Found {
                            position: u64::from_le_bytes(word),
                        },
                        slot,
                    ));
                }
                if entry[..16] == [0u8; 16] {
                    return Ok((Probe::Empty, slot));
                }
                index += 1;
                slot += 1;
                visited += 1;
            }
            if slot >= capacity {
                slot = 0;
            }
        }
        Err(TableError::Damaged("the id table is full".into()))
    }

    /// The position recorded for `id`.
    pub(crate) fn lookup(&self, id: &Uuid) -> Result<Option<u64>, TableError> {
        Ok(match self.probe_slot(self.home(id), id)?.0 {
            Probe::Found { position } => Some(position),
            Probe::Empty => None,
        })
    }

    pub(crate) fn insert(&mut self, id: &Uuid, position: u64) -> Result<Inserted, TableError> {
        self.insert_at(self.home(id), id, position)
    }

    /// [`IdTable::insert`] of an id whose home slot the caller computed.
    fn insert_at(&mut self, home: u64, id: &Uuid, position: u64) -> Result<Inserted, TableError> {
        self.since_release += 1;
        if self.since_release >= RELEASE_EVERY {
            self.relieve()?;
        }
        match self.probe_slot(home, id)? {
            (Probe::Found { position }, slot) => {
                // Counted again at the next seal: an entry written by a
                // commit whose `head` was lost must be vouched for too. (A
                // fresh table tags every page at its first seal.)
                if !self.fresh {
                    self.dirty.insert(slot / SLOTS_PER_PAGE);
                }
                Ok(Inserted::Present { position })
            }
            (Probe::Empty, slot) => {
                let page = slot / SLOTS_PER_PAGE;
                let start = (slot % SLOTS_PER_PAGE) as usize * SLOT_LEN;
                let bytes = self.slots.bytes_mut(page, start, SLOT_LEN)?;
                bytes[..16].copy_from_slice(id.as_bytes());
                bytes[16..].copy_from_slice(&position.to_le_bytes());
                self.counts[page as usize] += 1;
                if !self.fresh {
                    self.dirty.insert(page);
                }
                self.count += 1;
                Ok(Inserted::Added)
            }
        }
    }

    /// Hands a mapped table's touched pages back (tagging the changed ones
    /// first, unless the table is fresh: its pages are all tagged at the
    /// first seal).
    fn relieve(&mut self) -> io::Result<()> {
        self.since_release = 0;
        if !matches!(self.slots, Slots::Mapped { .. }) {
            return Ok(());
        }
        if !self.fresh {
            self.seal()?;
        }
        self.slots.release();
        Ok(())
    }

    /// Inserts new entries in the order of their homes, so that the table is
    /// swept once instead of touched at random: each page is faulted in
    /// once, and released behind the sweep. `ids[i]` is at position
    /// `first_position + i`; an id found already present is left as it is
    /// (its record is checked against the log whenever it is looked up).
    pub(crate) fn insert_sorted(
        &mut self,
        ids: &[Uuid],
        first_position: u64,
    ) -> Result<(), TableError> {
        for entry in self.in_home_order(ids)? {
            self.insert_at(
                entry.home,
                &entry.id,
                first_position + u64::from(entry.index),
            )?;
        }
        Ok(())
    }

    /// [`IdTable::insert_sorted`] for a rebuild from the log: `ids[i]` is at
    /// position `first_position + i`, and an id already present is the
    /// log's fault, not the table's. Returns the first such record in log
    /// order (its index in `ids` and the position the id is already at),
    /// after inserting the rest.
    pub(crate) fn insert_sorted_new(
        &mut self,
        ids: &[Uuid],
        first_position: u64,
    ) -> Result<Option<(usize, u64)>, TableError> {
        let mut first_present: Option<(usize, u64)> = None;
        for entry in self.in_home_order(ids)? {
            let index = entry.index as usize;
            let position = first_position + index as u64;
            if let Inserted::Present { position: at } =
                self.insert_at(entry.home, &entry.id, position)?
            {
                if first_present.is_none_or(|(seen, _)| index < seen) {
                    first_present = Some((index, at));
                }
            }
        }
        Ok(first_present)
    }

    /// `ids` with their homes and indexes, in the order of their homes (ties
    /// in index order). Each home is computed once, and each id is carried
    /// in its entry: inserting in this order then reads the entries and the
    /// table front to back, where looking ids up by index would read them
    /// at random (a cache miss an id).
    fn in_home_order(&self, ids: &[Uuid]) -> Result<Vec<Homed>, TableError> {
        let mut order = Vec::with_capacity(ids.len());
        for (index, id) in ids.iter().enumerate() {
            let index = u32::try_from(index)
                .map_err(|_| TableError::Damaged("a batch of more than 2^32 ids".into()))?;
            order.push(Homed {
                home: self.home(id),
                index,
                id: *id,
            });
        }
        order.sort_unstable_by_key(|entry| (entry.home, entry.index));
        Ok(order)
    }

    /// Tags the pages changed since the last seal (every page of a fresh
    /// table), so that the head written next can vouch for them.
    pub(crate) fn seal(&mut self) -> io::Result<()> {
        let Some(auth) = self.auth.clone() else {
            self.dirty.clear();
            return Ok(());
        };
        let pages: Vec<u64> = if self.fresh {
            (0..self.pages).collect()
        } else {
            std::mem::take(&mut self.dirty).into_iter().collect()
        };
        let mut page_bytes = [0u8; PAGE_LEN];
        for (done, page) in pages.into_iter().enumerate() {
            if done as u64 % RELEASE_EVERY == RELEASE_EVERY - 1 {
                self.slots.release();
            }
            self.slots.read_page(page, &mut page_bytes)?;
            let entries = page_bytes[..SLOTS_END]
                .chunks_exact(SLOT_LEN)
                .filter(|slot| slot[..16] != [0u8; 16])
                .count();
            // At most 42 slots a page.
            self.counts[page as usize] = entries as u8;
            let tag = auth.tag(page, &page_bytes);
            self.slots
                .bytes_mut(page, SLOTS_END, TAG_LEN)?
                .copy_from_slice(&tag);
            self.mark_verified(page);
        }
        self.dirty.clear();
        self.fresh = false;
        self.since_release = 0;
        self.slots.release();
        Ok(())
    }

    /// Writes a table built by [`IdTable::create`] (and sealed) to `path`,
    /// synced, and returns it opened from there for writing.
    pub(crate) fn persist(self, path: &Path) -> Result<IdTable, StoreError> {
        let io_error = |error| StoreError::io(path, error);
        match self.slots {
            Slots::Memory(bytes) => {
                let mut file = open_private(path, true)?;
                // Page by page: one large write makes the page cache use
                // large folios, and later small writes into a large folio
                // cost the kernel (ext4) about as much as rewriting all of it.
                for chunk in bytes.chunks(4096) {
                    file.write_all(chunk).map_err(io_error)?;
                }
                file.sync_data().map_err(io_error)?;
                Ok(IdTable {
                    slots: Slots::mapped(file).map_err(io_error)?,
                    ..self
                })
            }
            Slots::Mapped { file, map } => {
                map.flush().map_err(io_error)?;
                file.sync_data().map_err(io_error)?;
                Ok(IdTable {
                    slots: Slots::Mapped { file, map },
                    ..self
                })
            }
            Slots::Read(_) => Err(io_error(io::Error::other("the id table is read-only"))),
        }
    }

    /// Every entry (id, position), each page checked.
    pub(crate) fn for_each(
        &self,
        mut visit: impl FnMut(Uuid, u64) -> Result<(), TableError>,
    ) -> Result<(), TableError> {
        let mut buffer = [0u8; PAGE_LEN];
        for page in 0..self.pages {
            if page % RELEASE_EVERY == RELEASE_EVERY - 1 {
                self.slots.release();
            }
            let page_bytes = self.trusted_page(page, &mut buffer)?;
            for entry in page_bytes[..SLOTS_END].chunks_exact(SLOT_LEN) {
                let mut id = [0u8; 16];
                id.copy_from_slice(&entry[..16]);
                if id != [0u8; 16] {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(&entry[16..24]);
                    visit(Uuid::from_bytes(id), u64::from_le_bytes(word))?;
                }
            }
        }
        Ok(())
    }
}

/// An id to insert, with its home slot and its index in the batch.
struct Homed {
    home: u64,
    index: u32,
    id: Uuid,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Pages for `entries` at a load of at most one half.
fn pages_for(entries: u64) -> u64 {
    entries
        .saturating_mul(2)
        .div_ceil(SLOTS_PER_PAGE)
        .max(MIN_PAGES)
}

/// A table of `pages` is grown (rebuilt larger) once it would pass a load
/// of 0.8 with `entries`.
pub(crate) fn needs_growth(pages: u64, entries: u64) -> bool {
    entries.saturating_mul(10) > pages.saturating_mul(SLOTS_PER_PAGE).saturating_mul(8)
}

/// SipHash-2-4 of a 16-byte id (written out here because the standard
/// library's hasher output is not promised to stay the same across
/// releases, and the table is on disk).
fn siphash(key: [u64; 2], id: &Uuid) -> u64 {
    let bytes = id.as_bytes();
    let mut words = [0u64; 2];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut buffer = [0u8; 8];
        buffer.copy_from_slice(chunk);
        *word = u64::from_le_bytes(buffer);
    }
    let mut v0 = key[0] ^ 0x736f_6d65_7073_6575;
    let mut v1 = key[1] ^ 0x646f_7261_6e64_6f6d;
    let mut v2 = key[0] ^ 0x6c79_6765_6e65_7261;
    let mut v3 = key[1] ^ 0x7465_6462_7974_6573;
    let round = |v0: &mut u64, v1: &mut u64, v2: &mut u64, v3: &mut u64| {
        *v0 = v0.wrapping_add(*v1);
        *v1 = v1.rotate_left(13) ^ *v0;
        *v0 = v0.rotate_left(32);
        *v2 = v2.wrapping_add(*v3);
        *v3 = v3.rotate_left(16) ^ *v2;
        *v0 = v0.wrapping_add(*v3);
        *v3 = v3.rotate_left(21) ^ *v0;
        *v2 = v2.wrapping_add(*v1);
        *v1 = v1.rotate_left(17) ^ *v2;
        *v2 = v2.rotate_left(32);
    };
    let last = 16u64 << 56;
    for word in [words[0], words[1], last] {
        v3 ^= word;
        round(&mut v0, &mut v1, &mut v2, &mut v3);
        round(&mut v0, &mut v1, &mut v2, &mut v3);
        v0 ^= word;
    }
    v2 ^= 0xff;
    for _ in 0..4 {
        round(&mut v0, &mut v1, &mut v2, &mut v3);
    }
    v0 ^ v1 ^ v2 ^ v3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> PageAuth {
        PageAuth::new(DerivedKey::from_secret([3; 32]), [1; 16], [2; 16])
    }

    #[test]
    fn siphash_matches_the_reference_vector() {
        // The SipHash paper's key 00..0f and message 00..0f.
        let key = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
        let message = Uuid::from_bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        assert_eq!(siphash(key, &message), 0x3f2a_cc7f_57c2_9bdb);
    }

    fn filled(entries: u64) -> Result<(tempfile::TempDir, IdTable), StoreError> {
        let dir = tempfile::tempdir().map_err(|error| StoreError::io("tempdir", error))?;
        let path = dir.path().join("ids");
        let auth = auth();
        let mut table = IdTable::create(
            Some(&path),
            BuildOrder::FromLog,
            entries,
            [1; 16],
            auth.slot_key(),
            Some(auth),
        )?;
        for i in 1..=u128::from(entries) {
            assert!(matches!(
                table.insert(&Uuid::from_u128(i), i as u64),
                Ok(Inserted::Added)
            ));
        }
        table.seal().map_err(|error| StoreError::io(&path, error))?;
        let table = table.persist(&path)?;
        Ok((dir, table))
    }

    fn reopen(dir: &Path, table: &IdTable) -> Option<IdTable> {
        IdTable::open(
            &dir.join("ids"),
            false,
            auth(),
            table.count,
            table.counts.clone(),
            table.epoch,
        )
    }

    #[test]
    fn a_table_finds_what_was_inserted_and_nothing_else() -> Result<(), StoreError> {
        let (dir, table) = filled(3000)?;
        let reopened =
            reopen(dir.path(), &table).ok_or_else(|| StoreError::Invalid("reopen".into()))?;
        for i in 1..=3000u128 {
            assert_eq!(
                reopened.lookup(&Uuid::from_u128(i)).ok().flatten(),
                Some(i as u64)
            );
        }
        assert!(matches!(reopened.lookup(&Uuid::from_u128(3001)), Ok(None)));
        assert!(!needs_growth(table.pages, 3000));
        Ok(())
    }

    #[test]
    fn a_zeroed_slot_or_an_older_page_is_damage_not_a_miss() -> Result<(), StoreError> {
        let (dir, table) = filled(3000)?;
        let path = dir.path().join("ids");
        let pristine = std::fs::read(&path).map_err(|error| StoreError::io(&path, error))?;
        // Zero the slot holding id 77.
        let mut zeroed = pristine.clone();
        let slot = zeroed[HEADER_LEN as usize..]
            .chunks(PAGE_LEN)
            .enumerate()
            .find_map(|(page, bytes)| {
                bytes[..SLOTS_END]
                    .chunks(SLOT_LEN)
                    .position(|slot| slot[..16] == *Uuid::from_u128(77).as_bytes())
                    .map(|index| HEADER_LEN as usize + page * PAGE_LEN + index * SLOT_LEN)
            })
            .ok_or_else(|| StoreError::Invalid("id 77 not found".into()))?;
        zeroed[slot..slot + SLOT_LEN].fill(0);
        std::fs::write(&path, &zeroed).map_err(|error| StoreError::io(&path, error))?;
        let damaged =
            reopen(dir.path(), &table).ok_or_else(|| StoreError::Invalid("reopen".into()))?;
        assert!(matches!(
            damaged.lookup(&Uuid::from_u128(77)),
            Err(TableError::Damaged(_))
        ));
        // The same page as an empty table had it, tag and all (the page of
        // an older copy of this table): it verifies, but holds too few.
        let auth = auth();
        let mut empty = IdTable::create(
            None,
            BuildOrder::FromLog,
            3000,
            [1; 16],
            auth.slot_key(),
            Some(auth),
        )?;
        empty.seal().map_err(|error| StoreError::io(&path, error))?;
        let page = (slot - HEADER_LEN as usize) / PAGE_LEN;
        let start = HEADER_LEN as usize + page * PAGE_LEN;
        let mut older = pristine;
        if let Slots::Memory(bytes) = &empty.slots {
            older[start..start + PAGE_LEN].copy_from_slice(&bytes[start..start + PAGE_LEN]);
        }
        std::fs::write(&path, &older).map_err(|error| StoreError::io(&path, error))?;
        let rolled_back =
            reopen(dir.path(), &table).ok_or_else(|| StoreError::Invalid("reopen".into()))?;
        assert!(matches!(
            rolled_back.lookup(&Uuid::from_u128(77)),
            Err(TableError::Damaged(_))
        ));
        Ok(())
    }
}
