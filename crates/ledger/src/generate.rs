//! Synthetic stores for benchmarks and demos (`theseus generate`).
//!
//! The generator writes input lines as national units would send them
//! (launches, joins, every outcome type across countries, days, locations and
//! networks, retractions of earlier outcomes, closes, late reports after a
//! close) and feeds them through [`crate::append()`] in batches, so that every
//! line passes the same reading and the same rules as real data and the log
//! is hash-chained like any other.
//!
//! Everything is derived from the seed: a small splitmix64 generator draws
//! every choice and every event id (random UUIDs with the v4 bits set), and
//! each batch is stamped with a fixed base time plus its index in seconds.
//! The same options therefore give a byte-identical log.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use event_store::{EventStore, Head, Stamp, StoreError};
use uuid::Uuid;

use crate::{append, AppendOptions, LedgerError};

/// The seed used when the caller gives none.
pub const DEFAULT_SEED: u64 = 1;
/// The number of operations used when the caller gives none.
pub const DEFAULT_OPERATIONS: u64 = 8;
/// Lines per appended batch.
pub const BATCH_LINES: u64 = 10_000;
/// At most this many operations, whatever is asked: each one keeps a little
/// state while the store is generated.
pub const MAX_OPERATIONS: u64 = 1000;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerateOptions {
    /// The number of events (records) the store will hold.
    pub events: u64,
    pub seed: u64,
    /// How many operations the events are spread over (fewer when there are
    /// too few events to give each a launch, a close and some outcomes).
    pub operations: u64,
    /// Lines per appended batch (at least 1).
    pub batch_lines: u64,
}

impl GenerateOptions {
    /// `events` events with the default seed, operations and batch size.
    pub fn new(events: u64) -> GenerateOptions {
        GenerateOptions {
            events,
            seed: DEFAULT_SEED,
            operations: DEFAULT_OPERATIONS,
            batch_lines: BATCH_LINES,
        }
    }
}

/// What a generation has written so far (passed to the progress callback
/// after each batch) or in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerateStats {
    /// Events appended.
    pub events: u64,
    /// Events asked for.
    pub target: u64,
    pub batches: u64,
    pub operations: u64,
    pub retractions: u64,
    /// Outcomes reported after their operation's close.
    pub late_reports: u64,
    pub head: Head,
}

/// Fills an empty store with `options.events` synthetic events.
pub fn generate(
    store: &dyn EventStore,
    options: &GenerateOptions,
) -> Result<GenerateStats, LedgerError> {
    generate_with_progress(store, options, &mut |_| {})
}

/// [`generate`], calling `progress` after each committed batch.
pub fn generate_with_progress(
    store: &dyn EventStore,
    options: &GenerateOptions,
    progress: &mut dyn FnMut(&GenerateStats),
) -> Result<GenerateStats, LedgerError> {
    let head = store.head()?;
    if head.position != 0 {
        return Err(LedgerError::Store(StoreError::Invalid(format!(
            "generate writes only into an empty store; this one holds {} records",
            head.position
        ))));
    }
    let mut generator = Generator::new(options);
    let mut stats = GenerateStats {
        events: 0,
        target: options.events,
        batches: 0,
        operations: generator.operations(),
        retractions: 0,
        late_reports: 0,
        head,
    };
    let base = DateTime::<Utc>::from_naive_utc_and_offset(
        NaiveDate::from_ymd_opt(2024, 1, 1)
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .unwrap_or_default(),
        Utc,
    );
    while let Some(input) = generator.next_batch() {
        let seconds = i64::try_from(stats.batches).unwrap_or(i64::MAX);
        let appended = append(
            store,
            input.as_bytes(),
            &AppendOptions {
                recorded_by: "theseus-generate".to_owned(),
                // Fixed times, so that the same seed gives the same bytes.
                stamp: Stamp::At(base + Duration::seconds(seconds)),
            },
        )?;
        stats.events += appended.appended;
        stats.batches += 1;
        stats.retractions = generator.retractions;
        stats.late_reports = generator.late_reports;
        stats.head = store.head()?;
        progress(&stats);
    }
    Ok(stats)
}

/// The input lines of a generated store, batch by batch, without appending
/// them: what [`generate`] appends, for feeding other systems or
/// `theseus append` the same events.
#[derive(Debug)]
pub struct Generator {
    rng: SplitMix64,
    plans: Vec<Plan>,
    remaining: u64,
    batch_lines: u64,
    input: String,
    retractions: u64,
    late_reports: u64,
}

impl Generator {
    pub fn new(options: &GenerateOptions) -> Generator {
        let mut rng = SplitMix64(options.seed);
        let count = options
            .operations
            .clamp(1, MAX_OPERATIONS)
            .min((options.events / 50).max(1));
        let plans = (0..count)
            .map(|index| {
                let budget = options.events / count + u64::from(index < options.events % count);
                Plan::new(index, budget, &mut rng)
            })
            .collect();
        Generator {
            rng,
            plans,
            remaining: options.events,
            batch_lines: options.batch_lines.max(1),
            input: String::new(),
            retractions: 0,
            late_reports: 0,
        }
    }

    /// The number of operations the events are spread over.
    pub fn operations(&self) -> u64 {
        self.plans.len() as u64
    }

    /// The next batch's JSON Lines, or `None` once every event is out.
    pub fn next_batch(&mut self) -> Option<&str> {
        if self.remaining == 0 {
            return None;
        }
        let lines = self.batch_lines.min(self.remaining);
        self.input.clear();
        for _ in 0..lines {
            // Interleave the operations: each line goes to one drawn in
            // proportion to the lines it has left.
            let mut draw = self.rng.below(self.remaining);
            let index = self
                .plans
                .iter()
                .position(|plan| {
                    let left = plan.left();
                    let hit = draw < left;
                    draw = draw.saturating_sub(left);
                    hit
                })
                .unwrap_or(self.plans.len() - 1);
            match self.plans[index].next_line(&mut self.rng, &mut self.input) {
                Kind::Retraction => self.retractions += 1,
                Kind::Late => self.late_reports += 1,
                Kind::Other => {}
            }
            self.remaining -= 1;
        }
        Some(&self.input)
    }
}

/// splitmix64 (Steele, Lea and Flood, 2014): tiny, fast, and good enough to
/// make synthetic data look varied. Not for anything secret.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Picks by weight from `(weight, value)` pairs.
    fn weighted<T: Copy>(&mut self, items: &[(u64, T)]) -> T {
        let total: u64 = items.iter().map(|(weight, _)| weight).sum();
        let mut draw = self.below(total);
        for (weight, value) in items {
            if draw < *weight {
                return *value;
            }
            draw -= weight;
        }
        items[items.len() - 1].1
    }

    fn uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// A participating country: its code, UTC offset in winter, and the units
/// that report for it.
struct Nation {
    code: &'static str,
    offset: &'static str,
}

const NATIONS: &[Nation] = &[
    Nation {
        code: "AL",
        offset: "+01:00",
    },
    Nation {
        code: "BA",
        offset: "+01:00",
    },
    Nation {
        code: "BG",
        offset: "+02:00",
    },
    Nation {
        code: "MD",
        offset: "+02:00",
    },
    Nation {
        code: "MK",
        offset: "+01:00",
    },
    Nation {
        code: "RO",
        offset: "+02:00",
    },
    Nation {
        code: "RS",
        offset: "+01:00",
    },
    Nation {
        code: "TR",
        offset: "+03:00",
    },
    Nation {
        code: "GR",
        offset: "+02:00",
    },
    Nation {
        code: "HR",
        offset: "+01:00",
    },
    Nation {
        code: "SI",
        offset: "+01:00",
    },
    Nation {
        code: "ME",
        offset: "+01:00",
    },
    Nation {
        code: "XK",
        offset: "+01:00",
    },
    Nation {
        code: "HU",
        offset: "+01:00",
    },
    Nation {
        code: "AT",
        offset: "+01:00",
    },
    Nation {
        code: "IT",
        offset: "+01:00",
    },
    Nation {
        code: "DE",
        offset: "+01:00",
    },
    Nation {
        code: "FR",
        offset: "+01:00",
    },
    Nation {
        code: "NL",
        offset: "+01:00",
    },
    Nation {
        code: "ES",
        offset: "+01:00",
    },
    Nation {
        code: "PT",
        offset: "Z",
    },
    Nation {
        code: "IE",
        offset: "Z",
    },
    Nation {
        code: "PL",
        offset: "+01:00",
    },
    Nation {
        code: "UA",
        offset: "+02:00",
    },
];

const UNITS: &[&str] = &[
    "border-police-directorate",
    "state-police-regional-command",
    "national-police-central-unit",
    "criminal-police-directorate",
    "anti-trafficking-investigation-unit",
    "coast-guard-maritime-command",
];

const OPERATION_NAMES: &[&str] = &[
    "theseus",
    "ariadne",
    "daedalus",
    "perseus",
    "andromeda",
    "orpheus",
    "hermes",
    "athena",
    "poseidon",
    "odysseus",
    "penelope",
    "achilles",
    "hector",
    "cassandra",
    "icarus",
    "jason",
];

const COORDINATORS: &[(&str, &str)] = &[
    ("INTERPOL", "INTERPOL-coordination-centre"),
    ("EUROPOL", "EUROPOL-European-Migrant-Smuggling-Centre"),
    ("FRONTEX", "FRONTEX-situation-centre"),
];

const FUNDERS: &[&str] = &[
    "German Federal Foreign Office",
    "European Commission Internal Security Fund",
    "UK Home Office",
];

const ROUTES: &[&str] = &[
    "balkan-route",
    "adriatic-route",
    "danube-corridor",
    "aegean-crossing",
    "black-sea-route",
    "central-mediterranean",
    "eastern-land-border",
    "channel-lorry-route",
];

const LOCATIONS: &[(u64, &str)] = &[
    (30, "border_crossing"),
    (10, "rail_station"),
    (12, "bus_station"),
    (10, "airport"),
    (8, "seaport"),
    (18, "road"),
    (5, "entertainment_district"),
    (7, "other"),
];

const CHECKS: &[(u64, &str, u64, u64)] = &[
    (40, "passenger", 500, 40_000),
    (25, "vehicle", 50, 3000),
    (15, "person", 20, 2000),
    (5, "flight", 1, 80),
    (10, "parcel", 10, 800),
    (5, "premises", 1, 40),
];

const ITEMS: &[(u64, &str)] = &[
    (35, "counterfeit_document"),
    (5, "boat"),
    (10, "inflatable_boat_or_buoy"),
    (8, "firearm"),
    (8, "ammunition"),
    (14, "vehicle"),
    (15, "device"),
    (5, "other"),
];

const OFFENCES: &[&str] = &[
    "trafficking_in_persons",
    "migrant_smuggling",
    "document_fraud",
    "drugs",
    "firearms",
    "other",
];

const EXPLOITATION: &[&str] = &["sexual", "labour", "begging", "forced_criminality", "other"];

const SUBSTANCES: &[&str] = &["cannabis", "cocaine", "heroin", "captagon", "amphetamine"];

const CURRENCIES: &[&str] = &["EUR", "USD", "GBP", "CHF", "TRY"];

const REASONS: &[&str] = &[
    "duplicate report: the same arrest was reported by two units of the same country",
    "typing error in the count: the corrected figure follows in a separate report",
    "reported under the wrong country: the event belongs to a neighbouring unit's report",
    "occurred_at was given in local time without the offset and fell on the wrong day",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Agents,
    Experts,
    Arrest,
    Victim,
    Migrants,
    Checks,
    Items,
    Drugs,
    Cash,
    Network,
}

/// Realistic proportions, per mille: many checks and arrests, fewer seizures.
const OUTCOMES: &[(u64, Outcome)] = &[
    (310, Outcome::Checks),
    (300, Outcome::Arrest),
    (100, Outcome::Migrants),
    (80, Outcome::Victim),
    (80, Outcome::Items),
    (40, Outcome::Drugs),
    (40, Outcome::Cash),
    (40, Outcome::Network),
    (5, Outcome::Agents),
    (5, Outcome::Experts),
];

/// What a generated line was, for the statistics.
enum Kind {
    Retraction,
    Late,
    Other,
}

/// The days an operation lasts.
const PERIOD_DAYS: u64 = 8;
/// Retraction targets are drawn from this many recent outcomes.
const RECENT_OUTCOMES: usize = 4096;

/// One operation's script: how many lines of each phase it will send, and
/// what it has sent so far.
#[derive(Debug)]
struct Plan {
    slug: String,
    name: String,
    coordinator: usize,
    year: i32,
    starts_on: NaiveDate,
    /// Launch countries, then those that joined, as indexes into NATIONS.
    participants: Vec<usize>,
    launched_with: usize,
    /// Countries that will join, in order.
    joiners: Vec<usize>,
    networks: Vec<String>,
    /// Lines left in each phase, in order.
    launch: u64,
    deployments: u64,
    joins: u64,
    main: u64,
    retractions: u64,
    close: u64,
    late: u64,
    main_total: u64,
    main_done: u64,
    deployed: usize,
    /// Recent outcomes that may still be retracted.
    recent: Vec<Uuid>,
    suspects: u64,
    victims: u64,
}

impl Plan {
    fn new(index: u64, budget: u64, rng: &mut SplitMix64) -> Plan {
        let name = *rng.pick(OPERATION_NAMES);
        let year = 2021 + rng.below(3) as i32;
        let starts_on = NaiveDate::from_ymd_opt(year, 1, 4).unwrap_or_default()
            + Duration::days(rng.below(340) as i64);
        let mut pool: Vec<usize> = (0..NATIONS.len()).collect();
        let mut draw =
            |rng: &mut SplitMix64| pool.swap_remove(rng.below(pool.len() as u64) as usize);
        let launched_with = rng.between(3, 8) as usize;
        let participants: Vec<usize> = (0..launched_with).map(|_| draw(rng)).collect();
        let joiners: Vec<usize> = (0..2).map(|_| draw(rng)).collect();
        let route = *rng.pick(ROUTES);
        let networks = (1..=40).map(|n| format!("net-{route}-{n:02}")).collect();

        let mut rest = budget;
        let mut take = |wanted: u64| {
            let taken = wanted.min(rest);
            rest -= taken;
            taken
        };
        let launch = take(1);
        let close = take(1);
        let late = take(budget / 400);
        let joins = take((budget / 100).min(joiners.len() as u64));
        let deployments = take((budget / 20).min(launched_with as u64 + 2));
        let retractions = take(budget / 200);
        let main = take(u64::MAX);
        Plan {
            slug: format!("{name}-{year}-{route}-{:02}", index + 1),
            name: format!(
                "Operation {}{} {year}",
                name[..1].to_uppercase(),
                &name[1..]
            ),
            coordinator: rng.below(COORDINATORS.len() as u64) as usize,
            year,
            starts_on,
            participants,
            launched_with,
            joiners,
            networks,
            launch,
            deployments,
            joins,
            main,
            retractions,
            close,
            late,
            main_total: main,
            main_done: 0,
            deployed: 0,
            recent: Vec::new(),
            suspects: 0,
            victims: 0,
        }
    }

    fn left(&self) -> u64 {
        self.launch
            + self.deployments
            + self.joins
            + self.main
            + self.retractions
            + self.close
            + self.late
    }

    /// Appends the operation's next input line to `out`.
    fn next_line(&mut self, rng: &mut SplitMix64, out: &mut String) -> Kind {
        let id = rng.uuid();
        let coordinator = COORDINATORS[self.coordinator];
        if self.launch > 0 {
            self.launch -= 1;
            self.write_launch(id, rng, out);
            return Kind::Other;
        }
        if self.deployments > 0 {
            self.deployments -= 1;
            let deployed = self.deployed;
            self.deployed += 1;
            let outcome = if deployed < self.launched_with {
                Outcome::Agents
            } else {
                Outcome::Experts
            };
            let country = self.participants[deployed % self.launched_with];
            self.write_outcome(id, outcome, country, 0, rng, out);
            return Kind::Other;
        }
        let main_left = self.main + self.retractions + self.joins;
        if main_left > 0 {
            let joined = (self.participants.len() - self.launched_with) as u64;
            let planned_joins = joined + self.joins;
            let join_due = self.main_done * (planned_joins + 1) >= (joined + 1) * self.main_total;
            if self.joins > 0 && (join_due || (self.main == 0 && self.retractions == 0)) {
                self.joins -= 1;
                let country = self.joiners[joined as usize];
                self.participants.push(country);
                let _ = write!(
                    out,
                    r#"{{"id":"{id}","operation":"{}","type":"CountryJoined","recorded_by":"{}","data":{{"country":"{}"}}}}"#,
                    self.slug, coordinator.1, NATIONS[country].code
                );
                out.push('\n');
                return Kind::Other;
            }
            let retract = self.retractions > 0
                && !self.recent.is_empty()
                && (self.main == 0 || rng.below(self.main + self.retractions) < self.retractions);
            if retract {
                self.retractions -= 1;
                let target = self
                    .recent
                    .swap_remove(rng.below(self.recent.len() as u64) as usize);
                let _ = write!(
                    out,
                    r#"{{"id":"{id}","operation":"{}","type":"EventRetracted","recorded_by":"{}","data":{{"event_id":"{target}","reason":"{}"}}}}"#,
                    self.slug,
                    coordinator.1,
                    rng.pick(REASONS)
                );
                out.push('\n');
                return Kind::Retraction;
            }
            if self.main > 0 {
                self.main -= 1;
            } else {
                // Nothing left to retract: the retraction becomes an outcome.
                self.retractions -= 1;
            }
            self.main_done += 1;
            // Reports follow the calendar of the operation, give or take a day.
            let progress_day = self.main_done * PERIOD_DAYS / (self.main_total + 1);
            let day = (progress_day + rng.below(3))
                .saturating_sub(1)
                .min(PERIOD_DAYS - 1);
            let outcome = rng.weighted(OUTCOMES);
            let country = *rng.pick(&self.participants);
            self.write_outcome(id, outcome, country, day, rng, out);
            return Kind::Other;
        }
        if self.close > 0 {
            self.close -= 1;
            let _ = write!(
                out,
                r#"{{"id":"{id}","operation":"{}","type":"OperationClosed","recorded_by":"{}","data":{{}}}}"#,
                self.slug, coordinator.1
            );
            out.push('\n');
            return Kind::Other;
        }
        self.late = self.late.saturating_sub(1);
        let outcome = rng.weighted(OUTCOMES);
        let country = *rng.pick(&self.participants);
        let day = PERIOD_DAYS - 1 - rng.below(2);
        self.write_outcome(id, outcome, country, day, rng, out);
        Kind::Late
    }

    fn write_launch(&self, id: Uuid, rng: &mut SplitMix64, out: &mut String) {
        let (coordinator, recorded_by) = COORDINATORS[self.coordinator];
        let countries: Vec<String> = self
            .participants
            .iter()
            .map(|&country| format!("\"{}\"", NATIONS[country].code))
            .collect();
        let ends_on = self.starts_on + Duration::days(PERIOD_DAYS as i64 - 1);
        let _ = write!(
            out,
            r#"{{"id":"{id}","operation":"{}","type":"OperationLaunched","recorded_by":"{recorded_by}","data":{{"name":"{}","coordinator":"{coordinator}","countries":[{}],"starts_on":"{}","ends_on":"{ends_on}""#,
            self.slug,
            self.name,
            countries.join(","),
            self.starts_on,
        );
        if rng.chance(600) {
            let _ = write!(out, r#","funded_by":"{}""#, rng.pick(FUNDERS));
        }
        out.push_str(r#","focus":["human_trafficking","migrant_smuggling"]}}"#);
        out.push('\n');
    }

    fn write_outcome(
        &mut self,
        id: Uuid,
        outcome: Outcome,
        country: usize,
        day: u64,
        rng: &mut SplitMix64,
        out: &mut String,
    ) {
        let nation = &NATIONS[country];
        let code = nation.code;
        let date = self.starts_on + Duration::days(day as i64);
        // 06:00 to 22:55 local time: the UTC day is the local day for every
        // offset used here, so the period rule holds.
        let at = format!(
            "{date}T{:02}:{:02}:00{}",
            rng.between(6, 22),
            rng.below(12) * 5,
            nation.offset
        );
        let event_type = match outcome {
            Outcome::Agents => "AgentsDeployed",
            Outcome::Experts => "ExpertsDeployed",
            Outcome::Arrest => "ArrestMade",
            Outcome::Victim => "VictimRescued",
            Outcome::Migrants => "MigrantsDetected",
            Outcome::Checks => "ChecksPerformed",
            Outcome::Items => "ItemsSeized",
            Outcome::Drugs => "DrugsSeized",
            Outcome::Cash => "CashSeized",
            Outcome::Network => "NetworkProfiled",
        };
        let _ = write!(
            out,
            r#"{{"id":"{id}","operation":"{}","type":"{event_type}","recorded_by":"{code}-{}-desk-{:02}","data":{{"#,
            self.slug,
            rng.pick(UNITS),
            rng.between(1, 40)
        );
        let location = |rng: &mut SplitMix64| rng.weighted(LOCATIONS);
        let _ = match outcome {
            Outcome::Agents => write!(
                out,
                r#""country":"{code}","count":{}"#,
                rng.between(50, 800)
            ),
            Outcome::Experts => write!(
                out,
                r#""organisation":"{}","country":"{code}","count":{}"#,
                rng.pick(&["Europol", "Frontex", "INTERPOL"]),
                rng.between(1, 4)
            ),
            Outcome::Arrest => {
                self.suspects += 1;
                let _ = write!(
                    out,
                    r#""country":"{code}","occurred_at":"{at}","location":"{}","suspect":"{code}-{}-S-{:06}""#,
                    location(rng),
                    self.year,
                    self.suspects
                );
                if rng.chance(700) {
                    let _ = write!(out, r#","network":"{}""#, rng.pick(&self.networks));
                }
                if rng.chance(850) {
                    let first = rng.below(OFFENCES.len() as u64) as usize;
                    let _ = write!(out, r#","offences":["{}""#, OFFENCES[first]);
                    if rng.chance(300) {
                        let second = (first + 1 + rng.below(OFFENCES.len() as u64 - 1) as usize)
                            % OFFENCES.len();
                        let _ = write!(out, r#","{}""#, OFFENCES[second]);
                    }
                    out.push(']');
                }
                Ok(())
            }
            Outcome::Victim => {
                self.victims += 1;
                let _ = write!(
                    out,
                    r#""country":"{code}","occurred_at":"{at}","location":"{}","victim":"{code}-{}-V-{:06}""#,
                    location(rng),
                    self.year,
                    self.victims
                );
                if rng.chance(900) {
                    let _ = write!(out, r#","minor":{}"#, rng.chance(150));
                }
                if rng.chance(800) {
                    let _ = write!(out, r#","nationality":"{}""#, rng.pick(NATIONS).code);
                }
                if rng.chance(800) {
                    let _ = write!(out, r#","exploitation":"{}""#, rng.pick(EXPLOITATION));
                }
                Ok(())
            }
            Outcome::Migrants => write!(
                out,
                r#""country":"{code}","occurred_at":"{at}","location":"{}","count":{}"#,
                location(rng),
                rng.between(1, 60)
            ),
            Outcome::Checks => {
                let total: u64 = CHECKS.iter().map(|check| check.0).sum();
                let mut draw = rng.below(total);
                let (_, kind, low, high) = CHECKS
                    .iter()
                    .copied()
                    .find(|check| {
                        let hit = draw < check.0;
                        draw = draw.saturating_sub(check.0);
                        hit
                    })
                    .unwrap_or(CHECKS[0]);
                write!(
                    out,
                    r#""country":"{code}","occurred_at":"{at}","kind":"{kind}","count":{}"#,
                    rng.between(low, high)
                )
            }
            Outcome::Items => {
                let _ = write!(out, r#""country":"{code}","occurred_at":"{at}""#);
                if rng.chance(800) {
                    let _ = write!(out, r#","location":"{}""#, location(rng));
                }
                write!(
                    out,
                    r#","item":"{}","count":{}"#,
                    rng.weighted(ITEMS),
                    rng.between(1, 20)
                )
            }
            Outcome::Drugs => {
                let _ = write!(out, r#""country":"{code}","occurred_at":"{at}""#);
                if rng.chance(900) {
                    let _ = write!(out, r#","substance":"{}""#, rng.pick(SUBSTANCES));
                }
                write!(out, r#","grams":{}"#, rng.between(10, 20_000))
            }
            Outcome::Cash => write!(
                out,
                r#""country":"{code}","occurred_at":"{at}","currency":"{}","amount":"{}.{:02}""#,
                rng.pick(CURRENCIES),
                rng.between(100, 250_000),
                rng.below(100)
            ),
            Outcome::Network => {
                let _ = write!(out, r#""network":"{}""#, rng.pick(&self.networks));
                if rng.chance(700) {
                    let _ = write!(
                        out,
                        r#","people_smuggled_estimate":{}"#,
                        rng.between(10, 20_000)
                    );
                }
                if rng.chance(600) {
                    let _ = write!(
                        out,
                        r#","max_fee":{{"currency":"EUR","amount":"{}"}}"#,
                        rng.between(500, 12_000)
                    );
                }
                if rng.chance(600) {
                    let _ = write!(
                        out,
                        r#","destination":"{}""#,
                        rng.pick(&["DE", "FR", "GB", "IT", "NL", "AT"])
                    );
                }
                if rng.chance(500) {
                    let _ = write!(
                        out,
                        r#","method":"{}""#,
                        rng.pick(&[
                            "refrigerated trucks",
                            "rubber boats",
                            "forged visas",
                            "on foot with guides"
                        ])
                    );
                }
                Ok(())
            }
        };
        out.push_str("}}\n");
        if self.recent.len() < RECENT_OUTCOMES {
            self.recent.push(id);
        } else {
            let slot = rng.below(RECENT_OUTCOMES as u64) as usize;
            self.recent[slot] = id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use event_store::{FileStore, FileStoreConfig, MemoryStore, Range};
    use projections::summary::Summary;

    fn log_of(store: &dyn EventStore) -> Vec<String> {
        let mut lines = Vec::new();
        store
            .scan(Range::ALL, &mut |record| {
                lines.push(format!(
                    "{} {} {} {} {} {} {}",
                    record.position,
                    record.id,
                    record.operation,
                    record.event_type,
                    record.recorded_at,
                    record.data,
                    record.hash
                ));
                Ok(())
            })
            .expect("scan");
        lines
    }

    fn options(events: u64, seed: u64) -> GenerateOptions {
        GenerateOptions {
            events,
            seed,
            operations: 3,
            batch_lines: 700,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_log_and_it_verifies_and_replays() {
        let first = tempfile::tempdir().expect("temp dir");
        let second = tempfile::tempdir().expect("temp dir");
        let a = FileStore::init(first.path(), FileStoreConfig::default()).expect("init");
        let b = FileStore::init(second.path(), FileStoreConfig::default()).expect("init");
        let stats = generate(&a, &options(5000, 7)).expect("generate");
        // References are sealed under each store's own random subject keys:
        // the same seed gives the same bytes only under the same keys.
        std::fs::copy(
            first.path().join("subject-keys"),
            second.path().join("subject-keys"),
        )
        .expect("copy the subject keys");
        generate(&b, &options(5000, 7)).expect("generate");
        assert_eq!(stats.events, 5000);
        assert_eq!(stats.batches, 8);
        assert!(stats.retractions > 0 && stats.late_reports > 0, "{stats:?}");
        let segments = |dir: &std::path::Path| {
            let mut files: Vec<_> = std::fs::read_dir(dir)
                .expect("read dir")
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
                .collect();
            files.sort();
            files
                .iter()
                .map(|path| std::fs::read(path).expect("read segment"))
                .collect::<Vec<_>>()
        };
        assert_eq!(segments(first.path()), segments(second.path()));

        let verified = a.verify(None).expect("verify");
        assert_eq!(verified.records, 5000);
        let summary = projections::replay::build::<Summary>(&a, verified.head, 1).expect("replay");
        assert_eq!(summary.state.operations.len(), 3);
        let events: u64 = summary.state.operations.values().map(|f| f.events).sum();
        let retracted: u64 = summary.state.operations.values().map(|f| f.retracted).sum();
        assert_eq!(events, 5000);
        assert_eq!(retracted, stats.retractions);
        assert!(summary.state.operations.values().all(|f| f.closed));
    }

    #[test]
    fn another_seed_gives_another_log_and_tiny_stores_still_work() {
        let a = MemoryStore::new();
        let b = MemoryStore::new();
        generate(&a, &options(300, 1)).expect("generate");
        generate(&b, &options(300, 2)).expect("generate");
        assert_ne!(log_of(&a), log_of(&b));
        for events in [0, 1, 2, 3, 49, 51] {
            let store = MemoryStore::new();
            let stats = generate(&store, &options(events, 3)).expect("generate");
            assert_eq!(stats.events, events);
            assert_eq!(store.verify(None).expect("verify").records, events);
        }
    }

    #[test]
    fn a_store_that_holds_events_is_refused() {
        let store = MemoryStore::new();
        generate(&store, &options(10, 1)).expect("generate");
        assert!(generate(&store, &options(10, 1)).is_err());
    }
}
