//! Derived indexes in `DIR/.theseus/`: how an append or a lookup avoids
//! replaying the log or holding every id in memory.
//!
//! Files (all little-endian, all rebuilt from the log when missing, damaged
//! or stale; deleting the folder changes no output):
//!
//! * `ids`: an open-addressing hash table with linear probing. A 64-byte
//!   header (`THSIDS01`, capacity (a power of two), count, two u64 SipHash
//!   keys, zero padding) then `capacity` slots of 32 bytes: the id's 16
//!   bytes, the record's position (u64), the record's byte offset within its
//!   segment (u64). An all-zero id marks an empty slot (the store refuses the
//!   nil id). The slot is chosen by SipHash-2-4 of the id under the random
//!   per-index key, so chosen ids cannot easily build long probe chains. The
//!   table is grown (rebuilt into `ids.tmp`, renamed over) when it passes a
//!   load of 0.7.
//! * `positions`: the u64 byte offset of each record within its segment, at
//!   index `position - 1`; the segment is found from the segment names.
//! * `streams`: JSON `{"position":N,"versions":{"operation":version,…}}`.
//! * `head`: JSON `{"format":1,"position":N,"hash":"…","ids_key":"…",
//!   "durable_position":D,"durable_hash":"…","boot_id":"…"}`: the log
//!   prefix the other files were written up to, the prefix they were last
//!   synced at, and the kernel's boot id at the time. Written last.
//!
//! A commit writes the log and syncs it first; then the index entries, then
//! `streams` and `head` (each via a temporary file and a rename). The index
//! files are synced only every `SYNC_EVERY` records: syncing thousands of
//! randomly placed slots on every commit cost more than the commit. That is
//! safe because of the boot id: a process crash leaves everything written in
//! the page cache, so while the boot id is unchanged `position` is trusted;
//! after a reboot (a power cut among them) only `durable_position` is, and
//! the records after it are indexed again from the log. A crash between the
//! log and `head` leaves `head` behind the log, and the next writer catches
//! up from the log. When `head` names a record the log does not hold with
//! that hash, everything is rebuilt.
//!
//! The index is a hint and the log the truth: every hit is checked against
//! the record bytes it points to (id and position), and a mismatch triggers
//! a rebuild. Misses are trusted only when `head` matches the log.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::record::decode_record;
use crate::{Head, StoreError};

use super::segments::{read_line_at, segment_for, RecordCursor, READ_CHUNK};
use super::tail::LogView;

/// The store-owned folder for derived files.
pub(crate) const THESEUS_DIR: &str = ".theseus";

const FORMAT: u32 = 1;
const IDS_MAGIC: &[u8; 8] = b"THSIDS01";
const HEADER_LEN: u64 = 64;
const SLOT_LEN: usize = 32;
/// Slots read per probe step.
const PROBE_SLOTS: usize = 8;
/// 512 KiB: small stores never grow their table.
const MIN_CAPACITY: u64 = 1 << 14;
/// Tables up to this size are built in memory and written in one go.
const MEMORY_BUILD_LIMIT: u64 = 256 << 20;

/// Creates `DIR/.theseus` (0700, with a `.gitignore` of `*`) if missing.
pub(crate) fn ensure_theseus_dir(store_dir: &Path) -> Result<PathBuf, StoreError> {
    let dir = store_dir.join(THESEUS_DIR);
    create_private_dir(&dir)?;
    let gitignore = dir.join(".gitignore");
    if !gitignore.exists() {
        write_private_file(&gitignore, b"*\n")?;
    }
    Ok(dir)
}

/// Creates a directory with mode 0700 (the store holds personal data).
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(StoreError::io(dir, error)),
    }
}

/// Opens a file for writing with mode 0600 if it is created.
pub(crate) fn open_private(path: &Path, truncate: bool) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .mode(0o600)
        .open(path)
        .map_err(|error| StoreError::io(path, error))
}

fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut file = open_private(path, true)?;
    file.write_all(bytes)
        .map_err(|error| StoreError::io(path, error))
}

/// Writes `bytes` to `dir/name` through a temporary file and a rename, so
/// readers see the old or the new content.
fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let temporary = dir.join(format!("{name}.tmp"));
    write_private_file(&temporary, bytes)?;
    let target = dir.join(name);
    std::fs::rename(&temporary, &target).map_err(|error| StoreError::io(&target, error))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|file| file.sync_all())
        .map_err(|error| StoreError::io(dir, error))
}

#[derive(Serialize, Deserialize)]
struct MetaFile {
    format: u32,
    /// The head the index files were written up to (maybe only in the page
    /// cache).
    position: u64,
    hash: String,
    ids_key: String,
    /// The head the index files were last synced at.
    durable_position: u64,
    durable_hash: String,
    /// The kernel's boot id when this file was written: while it is
    /// unchanged, everything written since the last sync is still in the
    /// page cache, so `position` can be trusted; after a reboot (a power
    /// cut among them) only `durable_position` can.
    boot_id: String,
}

/// Index entries are synced to disk once this many records have been
/// written since the last sync (and always when the boot id is unknown).
/// Syncing randomly placed slots on every commit cost more than the commit
/// itself; after a power cut, at most this many records are re-indexed.
const SYNC_EVERY: u64 = 1 << 18;

/// The kernel's boot id, which changes at every boot (Linux).
fn boot_id() -> Option<String> {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[derive(Serialize, Deserialize)]
struct StreamsFile {
    position: u64,
    versions: BTreeMap<String, u64>,
}

fn key_text(key: [u64; 2]) -> String {
    format!("{:016x}{:016x}", key[0], key[1])
}

struct Meta {
    /// What the index files can be trusted to cover.
    covered: Head,
    /// What they are known to cover on disk.
    durable: Head,
    key: [u64; 2],
}

fn read_meta(dir: &Path) -> Option<Meta> {
    let bytes = std::fs::read(dir.join("head")).ok()?;
    let meta: MetaFile = serde_json::from_slice(&bytes).ok()?;
    if meta.format != FORMAT {
        return None;
    }
    let hash = meta.hash.parse().ok()?;
    let key_hex = meta.ids_key.as_bytes();
    if key_hex.len() != 32 {
        return None;
    }
    let k0 = u64::from_str_radix(meta.ids_key.get(..16)?, 16).ok()?;
    let k1 = u64::from_str_radix(meta.ids_key.get(16..)?, 16).ok()?;
    let durable = Head {
        position: meta.durable_position,
        hash: meta.durable_hash.parse().ok()?,
    };
    let written = Head {
        position: meta.position,
        hash,
    };
    let same_boot = boot_id().is_some_and(|boot| boot == meta.boot_id);
    Some(Meta {
        covered: if same_boot { written } else { durable },
        durable,
        key: [k0, k1],
    })
}

fn write_meta(dir: &Path, covered: Head, durable: Head, key: [u64; 2]) -> Result<(), StoreError> {
    let meta = MetaFile {
        format: FORMAT,
        position: covered.position,
        hash: covered.hash.to_string(),
        ids_key: key_text(key),
        durable_position: durable.position,
        durable_hash: durable.hash.to_string(),
        boot_id: boot_id().unwrap_or_default(),
    };
    let bytes = serde_json::to_vec(&meta).map_err(|error| StoreError::io(dir, error.into()))?;
    replace_file(dir, "head", &bytes)
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

fn random_key() -> [u64; 2] {
    let random = Uuid::new_v4().as_u128() ^ (Uuid::new_v4().as_u128() << 7);
    [random as u64, (random >> 64) as u64]
}

/// Where the slots live: in memory while a table is built, mapped into
/// memory for the writer, else on disk.
#[derive(Debug)]
enum Slots {
    Memory(Vec<u8>),
    /// The whole file (header included) mapped for a writer holding the
    /// store's lock. Random slot reads and writes were ~18,000 system calls
    /// per 10,000-event append (~0.1 s); through the mapping they are
    /// memory accesses.
    Mapped {
        file: File,
        map: memmap2::MmapMut,
    },
    /// On disk, with the slots written since the last flush kept aside, to
    /// be written sorted and a page-sized run at a time: a `pwrite` per id
    /// was half of the time of a large append.
    Disk {
        file: File,
        dirty: BTreeMap<u64, [u8; SLOT_LEN]>,
    },
}

/// Dirty slots within a page of each other are written in one run, with the
/// clean slots between them read first.
const COALESCE_GAP_SLOTS: u64 = 4096 / SLOT_LEN as u64;
/// Dirty slots are written out once there are this many (a rebuild or a
/// long catch-up must not hold every id in memory).
const MAX_DIRTY_SLOTS: usize = 1 << 16;

impl Slots {
    fn read(&self, first: u64, out: &mut [u8]) -> io::Result<()> {
        match self {
            Slots::Memory(bytes) => {
                let start = first as usize * SLOT_LEN;
                out.copy_from_slice(&bytes[start..start + out.len()]);
                Ok(())
            }
            Slots::Mapped { map, .. } => {
                let start = HEADER_LEN as usize + first as usize * SLOT_LEN;
                let bytes = map
                    .get(start..start + out.len())
                    .ok_or_else(|| io::Error::other("slot beyond the id table"))?;
                out.copy_from_slice(bytes);
                Ok(())
            }
            Slots::Disk { file, dirty } => {
                file.read_exact_at(out, HEADER_LEN + first * SLOT_LEN as u64)?;
                let count = (out.len() / SLOT_LEN) as u64;
                for (slot, bytes) in dirty.range(first..first + count) {
                    let start = (slot - first) as usize * SLOT_LEN;
                    out[start..start + SLOT_LEN].copy_from_slice(bytes);
                }
                Ok(())
            }
        }
    }

    fn write(&mut self, slot: u64, bytes: &[u8; SLOT_LEN]) -> io::Result<()> {
        match self {
            Slots::Memory(memory) => {
                let start = slot as usize * SLOT_LEN;
                memory[start..start + SLOT_LEN].copy_from_slice(bytes);
                Ok(())
            }
            Slots::Mapped { map, .. } => {
                let start = HEADER_LEN as usize + slot as usize * SLOT_LEN;
                map.get_mut(start..start + SLOT_LEN)
                    .ok_or_else(|| io::Error::other("slot beyond the id table"))?
                    .copy_from_slice(bytes);
                Ok(())
            }
            Slots::Disk { dirty, .. } => {
                dirty.insert(slot, *bytes);
                if dirty.len() >= MAX_DIRTY_SLOTS {
                    self.flush()?;
                }
                Ok(())
            }
        }
    }

    /// Writes the dirty slots out.
    fn flush(&mut self) -> io::Result<()> {
        let Slots::Disk { file, dirty } = self else {
            return Ok(());
        };
        // Runs of dirty slots: (first, last, how many are dirty).
        let mut runs: Vec<(u64, u64, u64)> = Vec::new();
        for slot in dirty.keys() {
            match runs.last_mut() {
                Some((_, end, count)) if *slot - *end <= COALESCE_GAP_SLOTS => {
                    *end = *slot;
                    *count += 1;
                }
                _ => runs.push((*slot, *slot, 1)),
            }
        }
        let mut buffer = Vec::new();
        for (first, last, count) in runs {
            buffer.resize((last - first + 1) as usize * SLOT_LEN, 0);
            let offset = HEADER_LEN + first * SLOT_LEN as u64;
            if count < last - first + 1 {
                file.read_exact_at(&mut buffer, offset)?;
            }
            for (slot, bytes) in dirty.range(first..=last) {
                let start = (slot - first) as usize * SLOT_LEN;
                buffer[start..start + SLOT_LEN].copy_from_slice(bytes);
            }
            file.write_all_at(&buffer, offset)?;
        }
        dirty.clear();
        Ok(())
    }

    fn disk(file: File) -> Slots {
        Slots::Disk {
            file,
            dirty: BTreeMap::new(),
        }
    }

    /// Maps a writable table file into memory (falls back to positioned I/O
    /// if the mapping fails).
    #[allow(unsafe_code)]
    fn mapped(file: File) -> Slots {
        // SAFETY: the mapping is of `.theseus/ids`, a 0600 file that only
        // theseus writers touch, and only while holding the store's
        // exclusive lock, which this process holds for the mapping's whole
        // life (the table belongs to one transaction). theseus never
        // truncates or resizes an ids file in place: a grown table is a new
        // file renamed over the old one, which leaves this mapping valid.
        // Readers in other processes use positioned reads, never this
        // memory. What remains is someone outside theseus truncating the
        // file during a transaction, which the README warns against (derived
        // files may be deleted, which is safe, not edited).
        match unsafe { memmap2::MmapOptions::new().map_mut(&file) } {
            Ok(map) => {
                // Slots are touched at random: without this hint each page
                // fault also maps the 15 pages around it (fault-around),
                // which was a fifth of a 10,000-event append's time.
                let _ = map.advise(memmap2::Advice::Random);
                Slots::Mapped { file, map }
            }
            Err(_) => Slots::disk(file),
        }
    }
}

enum Probe {
    Found { position: u64, offset: u64 },
    Empty { slot: u64 },
}

pub(crate) enum Inserted {
    Added,
    Present { position: u64 },
}

/// The on-disk id table.
#[derive(Debug)]
pub(crate) struct IdTable {
    slots: Slots,
    capacity: u64,
    count: u64,
    key: [u64; 2],
}

impl IdTable {
    /// Opens an existing table; `None` when its header or size is wrong.
    fn open(path: &Path, writable: bool) -> Option<IdTable> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .ok()?;
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact_at(&mut header, 0).ok()?;
        if &header[..8] != IDS_MAGIC {
            return None;
        }
        let word = |i: usize| {
            let mut buffer = [0u8; 8];
            buffer.copy_from_slice(&header[i..i + 8]);
            u64::from_le_bytes(buffer)
        };
        let (capacity, count, key) = (word(8), word(16), [word(24), word(32)]);
        if !capacity.is_power_of_two() || capacity < MIN_CAPACITY || count > capacity {
            return None;
        }
        let expected_len = capacity
            .checked_mul(SLOT_LEN as u64)?
            .checked_add(HEADER_LEN)?;
        if file.metadata().ok()?.len() != expected_len {
            return None;
        }
        Some(IdTable {
            slots: if writable {
                Slots::mapped(file)
            } else {
                Slots::disk(file)
            },
            capacity,
            count,
            key,
        })
    }

    /// A new empty table, in memory if small enough, else in `path`.
    fn create(path: &Path, capacity: u64, key: [u64; 2]) -> Result<IdTable, StoreError> {
        let bytes = capacity * SLOT_LEN as u64;
        let slots = if bytes <= MEMORY_BUILD_LIMIT {
            Slots::Memory(vec![0; bytes as usize])
        } else {
            let file = open_private(path, true)?;
            file.set_len(HEADER_LEN + bytes)
                .map_err(|error| StoreError::io(path, error))?;
            Slots::disk(file)
        };
        Ok(IdTable {
            slots,
            capacity,
            count: 0,
            key,
        })
    }

    fn header(&self) -> [u8; HEADER_LEN as usize] {
        let mut header = [0u8; HEADER_LEN as usize];
        header[..8].copy_from_slice(IDS_MAGIC);
        header[8..16].copy_from_slice(&self.capacity.to_le_bytes());
        header[16..24].copy_from_slice(&self.count.to_le_bytes());
        header[24..32].copy_from_slice(&self.key[0].to_le_bytes());
        header[32..40].copy_from_slice(&self.key[1].to_le_bytes());
        header
    }

    /// Writes a table built by [`IdTable::create`] to `path`, synced, and
    /// returns it opened from there.
    fn persist(mut self, path: &Path) -> Result<IdTable, StoreError> {
        let io_error = |error| StoreError::io(path, error);
        self.slots.flush().map_err(io_error)?;
        let header = self.header();
        match self.slots {
            Slots::Memory(bytes) => {
                let mut file = open_private(path, true)?;
                file.write_all(&header).map_err(io_error)?;
                // Page by page: one large write makes the page cache use
                // large folios, and later 32-byte writes into a large folio
                // cost the kernel (ext4) about as much as rewriting all of it.
                for page in bytes.chunks(4096) {
                    file.write_all(page).map_err(io_error)?;
                }
                file.sync_data().map_err(io_error)?;
                Ok(IdTable {
                    slots: Slots::mapped(file),
                    ..self
                })
            }
            Slots::Mapped { file, mut map } => {
                map[..HEADER_LEN as usize].copy_from_slice(&header);
                map.flush().map_err(io_error)?;
                file.sync_data().map_err(io_error)?;
                Ok(IdTable {
                    slots: Slots::Mapped { file, map },
                    ..self
                })
            }
            Slots::Disk { file, dirty } => {
                file.write_all_at(&header, 0).map_err(io_error)?;
                file.sync_data().map_err(io_error)?;
                Ok(IdTable {
                    slots: Slots::Disk { file, dirty },
                    ..self
                })
            }
        }
    }

    fn probe(&self, id: &Uuid) -> io::Result<Probe> {
        let mask = self.capacity - 1;
        let mut slot = siphash(self.key, id) & mask;
        let mut buffer = [0u8; SLOT_LEN * PROBE_SLOTS];
        let mut visited = 0;
        while visited < self.capacity {
            let run = (PROBE_SLOTS as u64).min(self.capacity - slot) as usize;
            let bytes = &mut buffer[..run * SLOT_LEN];
            self.slots.read(slot, bytes)?;
            for entry in bytes.chunks_exact(SLOT_LEN) {
                let stored = &entry[..16];
                if stored == id.as_bytes() {
                    let word = |i: usize| {
                        let mut value = [0u8; 8];
                        value.copy_from_slice(&entry[i..i + 8]);
                        u64::from_le_bytes(value)
                    };
                    return Ok(Probe::Found {
                        position: word(16),
                        offset: word(24),
                    });
                }
                if stored == [0u8; 16] {
                    return Ok(Probe::Empty { slot });
                }
                slot = (slot + 1) & mask;
                visited += 1;
            }
        }
        Err(io::Error::other("the id table is full"))
    }

    /// The position and segment offset recorded for `id`.
    pub(crate) fn lookup(&self, id: &Uuid) -> io::Result<Option<(u64, u64)>> {
        Ok(match self.probe(id)? {
            Probe::Found { position, offset } => Some((position, offset)),
            Probe::Empty { .. } => None,
        })
    }

    /// Inserts at `slot`, the empty slot a probe for this id ended at, if
    /// nothing has been written there since (else probes again).
    fn insert_at(
        &mut self,
        id: &Uuid,
        position: u64,
        offset: u64,
        slot: u64,
    ) -> io::Result<Inserted> {
        let free = match &self.slots {
            Slots::Disk { dirty, .. } => slot < self.capacity && !dirty.contains_key(&slot),
            Slots::Memory(_) | Slots::Mapped { .. } => false,
        };
        if !free {
            return self.insert(id, position, offset);
        }
        self.slots.write(slot, &slot_bytes(id, position, offset))?;
        self.count += 1;
        Ok(Inserted::Added)
    }

    fn insert(&mut self, id: &Uuid, position: u64, offset: u64) -> io::Result<Inserted> {
        match self.probe(id)? {
            Probe::Found { position, .. } => Ok(Inserted::Present { position }),
            Probe::Empty { slot } => {
                self.slots.write(slot, &slot_bytes(id, position, offset))?;
                self.count += 1;
                Ok(Inserted::Added)
            }
        }
    }

    /// Writes the inserted entries and the count out.
    fn flush(&mut self) -> io::Result<()> {
        self.slots.flush()?;
        match &mut self.slots {
            Slots::Disk { file, .. } => file.write_all_at(&self.count.to_le_bytes(), 16)?,
            Slots::Mapped { map, .. } => map[16..24].copy_from_slice(&self.count.to_le_bytes()),
            Slots::Memory(_) => {}
        }
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        match &self.slots {
            Slots::Disk { file, .. } => file.sync_data(),
            Slots::Mapped { file, map } => map.flush().and_then(|()| file.sync_data()),
            Slots::Memory(_) => Ok(()),
        }
    }

    /// Every entry, in slot order.
    fn for_each(&self, mut visit: impl FnMut(Uuid, u64, u64) -> io::Result<()>) -> io::Result<()> {
        let per_read = (READ_CHUNK / SLOT_LEN) as u64;
        let mut buffer = vec![0u8; READ_CHUNK];
        let mut slot = 0;
        while slot < self.capacity {
            let run = per_read.min(self.capacity - slot);
            let bytes = &mut buffer[..run as usize * SLOT_LEN];
            self.slots.read(slot, bytes)?;
            for entry in bytes.chunks_exact(SLOT_LEN) {
                let mut id = [0u8; 16];
                id.copy_from_slice(&entry[..16]);
                if id != [0u8; 16] {
                    let word = |i: usize| {
                        let mut value = [0u8; 8];
                        value.copy_from_slice(&entry[i..i + 8]);
                        u64::from_le_bytes(value)
                    };
                    visit(Uuid::from_bytes(id), word(16), word(24))?;
                }
            }
            slot += run;
        }
        Ok(())
    }
}

fn slot_bytes(id: &Uuid, position: u64, offset: u64) -> [u8; SLOT_LEN] {
    let mut entry = [0u8; SLOT_LEN];
    entry[..16].copy_from_slice(id.as_bytes());
    entry[16..24].copy_from_slice(&position.to_le_bytes());
    entry[24..32].copy_from_slice(&offset.to_le_bytes());
    entry
}

/// The table capacity that keeps `entries` under a load of 0.7 with room to
/// grow.
fn capacity_for(entries: u64) -> u64 {
    // A load of at most a quarter after growing: growth copies the table,
    // so it should be rare.
    entries
        .saturating_mul(4)
        .max(MIN_CAPACITY)
        .next_power_of_two()
}

fn needs_growth(capacity: u64, entries: u64) -> bool {
    entries.saturating_mul(10) > capacity.saturating_mul(7)
}

/// The indexes as a writer (holding the store's lock) uses them.
#[derive(Debug)]
pub(crate) struct IndexWriter {
    dir: PathBuf,
    ids: IdTable,
    /// For ids looked up and not found during this transaction: the empty
    /// slot the probe ended at, where the id goes if it is committed (saves
    /// probing again). Dropped when the table is replaced.
    hints: HashMap<Uuid, u64>,
    positions: File,
    versions: HashMap<String, u64>,
    covered: Head,
    /// The head the index files were last synced at.
    durable: Head,
}

impl IndexWriter {
    /// Opens the indexes of the store in `store_dir` for the committed log
    /// `view`, catching up with the log or rebuilding them as needed.
    pub(crate) fn load(
        store_dir: &Path,
        view: &LogView,
        force_rebuild: bool,
    ) -> Result<IndexWriter, StoreError> {
        let dir = ensure_theseus_dir(store_dir)?;
        if !force_rebuild {
            if let Some((mut writer, covered_end)) = IndexWriter::open_existing(&dir, view)? {
                if writer.catch_up(view, covered_end)? {
                    return Ok(writer);
                }
            }
        }
        IndexWriter::rebuild(dir, view)
    }

    /// The existing indexes if they are whole and cover a prefix of this
    /// log, with the end offset of the last covered record.
    fn open_existing(dir: &Path, view: &LogView) -> Result<Option<(IndexWriter, u64)>, StoreError> {
        let Some(meta) = read_meta(dir) else {
            return Ok(None);
        };
        if meta.covered.position > view.head.position {
            return Ok(None);
        }
        let Some(ids) = IdTable::open(&dir.join("ids"), true) else {
            return Ok(None);
        };
        if ids.key != meta.key || ids.count < meta.covered.position {
            return Ok(None);
        }
        let positions_path = dir.join("positions");
        let Ok(positions) = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&positions_path)
        else {
            return Ok(None);
        };
        let Ok(streams_bytes) = std::fs::read(dir.join("streams")) else {
            return Ok(None);
        };
        let Ok(streams) = serde_json::from_slice::<StreamsFile>(&streams_bytes) else {
            return Ok(None);
        };
        if streams.position != meta.covered.position {
            return Ok(None);
        }
        let covered_end = match check_covered(view, &positions, meta.covered)? {
            Some(end) => end,
            None => return Ok(None),
        };
        Ok(Some((
            IndexWriter {
                dir: dir.to_path_buf(),
                ids,
                hints: HashMap::new(),
                positions,
                versions: streams.versions.into_iter().collect(),
                covered: meta.covered,
                durable: meta.durable,
            },
            covered_end,
        )))
    }

    /// Indexes the records after the covered head. `false` when the indexes
    /// disagree with the log (they must be rebuilt).
    fn catch_up(&mut self, view: &LogView, covered_end: u64) -> Result<bool, StoreError> {
        if self.covered.position == view.head.position {
            return Ok(true);
        }
        let start = self.covered.position + 1;
        let Some(segment) = segment_for(&view.segments, start) else {
            return Ok(false);
        };
        let offset = if view.segments[segment].first == start {
            0
        } else {
            covered_end
        };
        let new = view.head.position - self.covered.position;
        self.grow_for(self.ids.count + new)?;
        let io_error = |error| StoreError::io(&self.dir, error);
        let mut cursor = RecordCursor::new(view, segment, offset, start, READ_CHUNK)?;
        let mut offsets = Vec::with_capacity(8192 * 8);
        let mut offsets_start = start;
        while let Some(found) = cursor.next_record()? {
            let record = &found.record;
            match self
                .ids
                .insert(&record.id, record.position, found.offset)
                .map_err(io_error)?
            {
                Inserted::Added => {}
                Inserted::Present { position } if position == record.position => {}
                Inserted::Present { .. } => return Ok(false),
            }
            match self.versions.get_mut(record.operation.as_ref()) {
                Some(version) => *version = record.version,
                None => {
                    self.versions
                        .insert(record.operation.clone().into_owned(), record.version);
                }
            }
            offsets.extend_from_slice(&found.offset.to_le_bytes());
            if offsets.len() >= READ_CHUNK {
                self.positions
                    .write_all_at(&offsets, (offsets_start - 1) * 8)
                    .map_err(io_error)?;
                offsets_start += (offsets.len() / 8) as u64;
                offsets.clear();
            }
        }
        self.positions
            .write_all_at(&offsets, (offsets_start - 1) * 8)
            .map_err(io_error)?;
        self.finish(view.head, false)?;
        Ok(true)
    }

    /// Rebuilds every index file from the log.
    fn rebuild(dir: PathBuf, view: &LogView) -> Result<IndexWriter, StoreError> {
        let records = view.head.position;
        let ids_tmp = dir.join("ids.tmp");
        let mut ids = IdTable::create(&ids_tmp, capacity_for(records), random_key())?;
        let positions_tmp = dir.join("positions.tmp");
        let positions_file = open_private(&positions_tmp, true)?;
        let mut positions = io::BufWriter::with_capacity(1 << 20, positions_file);
        let mut versions: HashMap<String, u64> = HashMap::new();
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |error| StoreError::io(path, error)
        };
        if records > 0 {
            let mut cursor = RecordCursor::new(view, 0, 0, 1, READ_CHUNK)?;
            while let Some(found) = cursor.next_record()? {
                let record = &found.record;
                match ids
                    .insert(&record.id, record.position, found.offset)
                    .map_err(io_error(&ids_tmp))?
                {
                    Inserted::Added => {}
                    Inserted::Present { position } => {
                        let segment = &view.segments[found.segment];
                        return Err(StoreError::Corrupt {
                            location: super::segments::location(
                                segment,
                                found.line_number,
                                record.position,
                            ),
                            reason: format!(
                                "id {} is already used at position {position}",
                                record.id
                            ),
                        });
                    }
                }
                match versions.get_mut(record.operation.as_ref()) {
                    Some(version) => *version = record.version,
                    None => {
                        versions.insert(record.operation.clone().into_owned(), record.version);
                    }
                }
                positions
                    .write_all(&found.offset.to_le_bytes())
                    .map_err(io_error(&positions_tmp))?;
            }
        }
        let positions_file = positions
            .into_inner()
            .map_err(|error| StoreError::io(&positions_tmp, error.into_error()))?;
        positions_file
            .sync_data()
            .map_err(io_error(&positions_tmp))?;
        let ids = ids.persist(&ids_tmp)?;
        for name in ["ids", "positions"] {
            let target = dir.join(name);
            std::fs::rename(dir.join(format!("{name}.tmp")), &target)
                .map_err(|error| StoreError::io(&target, error))?;
        }
        // The renamed files must be in place before `head` says they cover
        // the log.
        sync_dir(&dir)?;
        let mut writer = IndexWriter {
            dir,
            ids,
            hints: HashMap::new(),
            positions: positions_file,
            versions,
            covered: Head::EMPTY,
            durable: Head::EMPTY,
        };
        writer.finish(view.head, true)?;
        Ok(writer)
    }

    /// Grows the id table (into a new file renamed over the old) when
    /// `entries` would pass the load limit.
    fn grow_for(&mut self, entries: u64) -> Result<(), StoreError> {
        if !needs_growth(self.ids.capacity, entries) {
            return Ok(());
        }
        let tmp = self.dir.join("ids.tmp");
        let mut grown = IdTable::create(&tmp, capacity_for(entries), random_key())?;
        self.ids
            .for_each(|id, position, offset| grown.insert(&id, position, offset).map(|_| ()))
            .map_err(|error| StoreError::io(&tmp, error))?;
        let grown = grown.persist(&tmp)?;
        let target = self.dir.join("ids");
        std::fs::rename(&tmp, &target).map_err(|error| StoreError::io(&target, error))?;
        sync_dir(&self.dir)?;
        self.ids = grown;
        self.hints.clear();
        // The key changed: `head` must name the new one before it is trusted.
        self.positions
            .sync_data()
            .map_err(|error| StoreError::io(&self.dir, error))?;
        self.durable = self.covered;
        write_meta(&self.dir, self.covered, self.durable, self.ids.key)?;
        Ok(())
    }

    /// Writes the entries out and records that they cover `head`; syncs
    /// them when `sync` says so, when `SYNC_EVERY` records are unsynced, or
    /// when the boot id (which makes unsynced entries trustworthy) is
    /// unknown.
    fn finish(&mut self, head: Head, sync: bool) -> Result<(), StoreError> {
        let io_error = |error| StoreError::io(&self.dir, error);
        self.ids.flush().map_err(io_error)?;
        let unsynced = head.position.saturating_sub(self.durable.position);
        if sync || unsynced >= SYNC_EVERY || boot_id().is_none() {
            self.ids.sync().map_err(io_error)?;
            self.positions.sync_data().map_err(io_error)?;
            self.durable = head;
        }
        let streams = StreamsFile {
            position: head.position,
            versions: self
                .versions
                .iter()
                .map(|(operation, version)| (operation.clone(), *version))
                .collect(),
        };
        let bytes = serde_json::to_vec(&streams)
            .map_err(|error| StoreError::io(&self.dir, error.into()))?;
        replace_file(&self.dir, "streams", &bytes)?;
        write_meta(&self.dir, head, self.durable, self.ids.key)?;
        self.covered = head;
        Ok(())
    }

    /// The committed version of an operation.
    pub(crate) fn version(&self, operation: &str) -> u64 {
        self.versions.get(operation).copied().unwrap_or(0)
    }

    /// Where the index says the record with this id is: its position and
    /// byte offset, a hint to check against the log.
    pub(crate) fn lookup(&self, id: &Uuid) -> Result<Option<(u64, u64)>, StoreError> {
        self.ids
            .lookup(id)
            .map_err(|error| StoreError::io(&self.dir, error))
    }

    /// [`IndexWriter::lookup`] for an id about to be staged: a miss is
    /// remembered so that the commit can insert it without probing again.
    pub(crate) fn lookup_for_insert(
        &mut self,
        id: &Uuid,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        match self
            .ids
            .probe(id)
            .map_err(|error| StoreError::io(&self.dir, error))?
        {
            Probe::Found { position, offset } => Ok(Some((position, offset))),
            Probe::Empty { slot } => {
                self.hints.insert(*id, slot);
                Ok(None)
            }
        }
    }

    /// Records a committed batch: ids with their positions and offsets, the
    /// offsets in position order from `first_position`, and the operations'
    /// new versions; `head` is the new head.
    pub(crate) fn append(
        &mut self,
        ids: impl Iterator<Item = (Uuid, u64, u64)>,
        first_position: u64,
        offsets: &[u64],
        versions: &HashMap<String, u64>,
        head: Head,
    ) -> Result<(), StoreError> {
        self.grow_for(self.ids.count + offsets.len() as u64)?;
        let io_error = |error| StoreError::io(&self.dir, error);
        let hints = std::mem::take(&mut self.hints);
        for (id, position, offset) in ids {
            match hints.get(&id) {
                Some(slot) => self.ids.insert_at(&id, position, offset, *slot),
                None => self.ids.insert(&id, position, offset),
            }
            .map_err(io_error)?;
        }
        let mut bytes = Vec::with_capacity(offsets.len() * 8);
        for offset in offsets {
            bytes.extend_from_slice(&offset.to_le_bytes());
        }
        self.positions
            .write_all_at(&bytes, (first_position - 1) * 8)
            .map_err(io_error)?;
        for (operation, version) in versions {
            self.versions.insert(operation.clone(), *version);
        }
        self.finish(head, false)
    }
}

/// Checks that the record the indexes say they cover is in the log with
/// that hash; returns the offset just after it (0 for an empty prefix).
fn check_covered(
    view: &LogView,
    positions: &File,
    covered: Head,
) -> Result<Option<u64>, StoreError> {
    if covered.position == 0 {
        return Ok(Some(0));
    }
    let Some(offset) = read_position(positions, covered.position) else {
        return Ok(None);
    };
    let Some(segment) = segment_for(&view.segments, covered.position) else {
        return Ok(None);
    };
    let Some(line) = read_line_at(&view.segments[segment].path, offset)? else {
        return Ok(None);
    };
    match decode_record(&line) {
        Ok(record) if record.position == covered.position && record.hash == covered.hash => {
            Ok(Some(offset + line.len() as u64 + 1))
        }
        _ => Ok(None),
    }
}

fn read_position(positions: &File, position: u64) -> Option<u64> {
    let mut bytes = [0u8; 8];
    positions
        .read_exact_at(&mut bytes, (position - 1).checked_mul(8)?)
        .ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// The indexes as a reader (without the lock) uses them: every answer is a
/// hint the caller checks against the log.
#[derive(Debug)]
pub(crate) struct IndexReader {
    covered: Head,
    ids: IdTable,
    positions: File,
}

impl IndexReader {
    /// The store's indexes, if they exist and look whole.
    pub(crate) fn open(store_dir: &Path) -> Option<IndexReader> {
        let dir = store_dir.join(THESEUS_DIR);
        let meta = read_meta(&dir)?;
        let ids = IdTable::open(&dir.join("ids"), false)?;
        if ids.key != meta.key {
            return None;
        }
        let positions = File::open(dir.join("positions")).ok()?;
        Some(IndexReader {
            covered: meta.covered,
            ids,
            positions,
        })
    }

    /// The log prefix the indexes claim to cover.
    pub(crate) fn covered(&self) -> Head {
        self.covered
    }

    /// True when the claimed prefix is in the log as claimed: only then is
    /// a miss an answer.
    pub(crate) fn matches(&self, view: &LogView) -> Result<bool, StoreError> {
        if self.covered.position > view.head.position {
            // Written by a commit newer than this snapshot; the covered
            // record still has to be there.
            return Ok(false);
        }
        Ok(check_covered(view, &self.positions, self.covered)?.is_some())
    }

    /// The byte offset of the record at `position`, if covered.
    // Readers locate records in the log itself (file/mod.rs, seek.rs).
    #[allow(dead_code)]
    pub(crate) fn offset_of(&self, position: u64) -> Option<u64> {
        if position == 0 || position > self.covered.position {
            return None;
        }
        read_position(&self.positions, position)
    }

    /// Where the record with this id is, if the table knows it.
    pub(crate) fn lookup(&self, id: &Uuid) -> Option<(u64, u64)> {
        self.ids.lookup(id).ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_reboot_only_the_synced_prefix_of_the_index_is_trusted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let written = Head {
            position: 10,
            hash: crate::Hash([1; 32]),
        };
        let durable = Head {
            position: 4,
            hash: crate::Hash([2; 32]),
        };
        write_meta(dir.path(), written, durable, [7, 9]).expect("write head");
        let meta = read_meta(dir.path()).expect("read head");
        if boot_id().is_some() {
            assert_eq!(
                meta.covered, written,
                "same boot: the page cache holds the rest"
            );
        }
        assert_eq!(meta.durable, durable);
        // Another boot id: as after a power cut.
        let path = dir.path().join("head");
        let text = std::fs::read_to_string(&path).expect("head");
        let mut json: serde_json::Value = serde_json::from_str(&text).expect("json");
        json["boot_id"] = serde_json::Value::String("another-boot".into());
        std::fs::write(&path, json.to_string()).expect("rewrite head");
        let meta = read_meta(dir.path()).expect("read head");
        assert_eq!(meta.covered, durable);
    }

    #[test]
    fn siphash_matches_the_reference_vector() {
        // The SipHash paper's key 00..0f and message 00..0f.
        let key = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
        let message = Uuid::from_bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        assert_eq!(siphash(key, &message), 0x3f2a_cc7f_57c2_9bdb);
    }

    #[test]
    fn a_table_finds_what_was_inserted_and_grows() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|error| StoreError::io("tempdir", error))?;
        let path = dir.path().join("ids");
        let mut table = IdTable::create(&path, MIN_CAPACITY, random_key())?;
        // Filled to the load limit.
        let full = u128::from(MIN_CAPACITY) * 7 / 10;
        for i in 1..=full {
            assert!(matches!(
                table.insert(&Uuid::from_u128(i), i as u64, 7 * i as u64),
                Ok(Inserted::Added)
            ));
        }
        let table = table.persist(&path)?;
        let reopened =
            IdTable::open(&path, false).ok_or_else(|| StoreError::Invalid("reopen".into()))?;
        for i in 1..=full {
            assert_eq!(
                reopened.lookup(&Uuid::from_u128(i)).ok().flatten(),
                Some((i as u64, 7 * i as u64))
            );
        }
        assert_eq!(
            reopened.lookup(&Uuid::from_u128(full + 1)).ok().flatten(),
            None
        );
        assert!(!needs_growth(table.capacity, full as u64));
        assert!(needs_growth(table.capacity, full as u64 + 2));
        Ok(())
    }

    #[test]
    fn inserts_on_disk_are_visible_before_and_after_the_flush() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|error| StoreError::io("tempdir", error))?;
        let path = dir.path().join("ids");
        let io = |error| StoreError::io("ids", error);
        IdTable::create(&path, 4 * MIN_CAPACITY, random_key())?.persist(&path)?;
        let mut table =
            IdTable::open(&path, true).ok_or_else(|| StoreError::Invalid("reopen".into()))?;
        for i in 1..=2000u128 {
            table.insert(&Uuid::from_u128(i), i as u64, 0).map_err(io)?;
        }
        // Not yet written: found through the dirty slots.
        assert_eq!(
            table.lookup(&Uuid::from_u128(1234)).map_err(io)?,
            Some((1234, 0))
        );
        assert!(matches!(
            table.insert(&Uuid::from_u128(7), 7, 0).map_err(io)?,
            Inserted::Present { position: 7 }
        ));
        table.flush().map_err(io)?;
        let reopened =
            IdTable::open(&path, false).ok_or_else(|| StoreError::Invalid("reopen".into()))?;
        assert_eq!(reopened.count, 2000);
        for i in 1..=2000u128 {
            assert_eq!(
                reopened.lookup(&Uuid::from_u128(i)).map_err(io)?,
                Some((i as u64, 0))
            );
        }
        Ok(())
    }
}
